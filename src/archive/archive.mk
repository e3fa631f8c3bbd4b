# src/archive/archive.mk - the archive port, its filesystem and Amazon S3 adapters, the archiver
#  and its CLI.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/archive/archive.c
LIB_SRCS += src/archive/archive_fs.c
LIB_SRCS += src/archive/pack.c
LIB_SRCS += src/archive/archiver.c
LIB_SRCS += src/archive/archive_cli.c
LIB_SRCS += src/archive/archive_s3.c
