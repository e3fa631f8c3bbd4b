LIB_SRCS += src/queue/queue.c src/queue/queue_sqlite.c src/queue/queue_cli.c
