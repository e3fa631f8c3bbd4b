# src/queue/sqs.mk - the Amazon SQS adapter of the queue port.
LIB_SRCS += src/queue/queue_sqs.c
