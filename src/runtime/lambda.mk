LIB_SRCS += src/runtime/lambda.c
