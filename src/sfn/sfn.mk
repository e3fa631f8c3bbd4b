# src/sfn/sfn.mk - the Amazon States Language engine (issue 3).
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/sfn/jsonpath.c
LIB_SRCS += src/sfn/util.c
LIB_SRCS += src/sfn/intrinsic.c
LIB_SRCS += src/sfn/tmpl.c
LIB_SRCS += src/sfn/parse.c
LIB_SRCS += src/sfn/engine.c
LIB_SRCS += src/sfn/mock.c
LIB_SRCS += src/sfn/lambda.c
LIB_SRCS += src/sfn/cli.c
