# src/store/store.mk - the store port's SQLite and DynamoDB adapters.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/store/store_dynamo.c
LIB_SRCS += src/store/store_sqlite.c
LIB_SRCS += src/store/store.c
