# src/archive/s3.mk - the Amazon S3 adapter of the archive port.
LIB_SRCS += src/archive/archive_s3.c
