# src/aws/aws.mk - AWS configuration, endpoints and SigV4-signed calls.
LIB_SRCS += src/aws/aws.c
