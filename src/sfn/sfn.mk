# src/sfn - Amazon States Language engine (issue 3).
LIB_SRCS += src/sfn/jsonpath.c src/sfn/util.c src/sfn/intrinsic.c src/sfn/tmpl.c src/sfn/parse.c src/sfn/engine.c src/sfn/mock.c src/sfn/lambda.c src/sfn/cli.c
