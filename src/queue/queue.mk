# src/queue/queue.mk - the queue port, its SQLite and Amazon SQS adapters and its CLI.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/queue/queue.c
LIB_SRCS += src/queue/queue_sqlite.c
LIB_SRCS += src/queue/queue_cli.c
LIB_SRCS += src/queue/queue_sqs.c
