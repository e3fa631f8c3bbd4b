# src/store/dynamo.mk - the DynamoDB adapter of the store port.
LIB_SRCS += src/store/store_dynamo.c
