# src/aws/aws.mk - AWS configuration, endpoints and SigV4-signed calls.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/aws/aws.c
