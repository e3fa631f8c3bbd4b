LIB_SRCS += src/runtime/lambda.c src/runtime/workflow_sfn.c
