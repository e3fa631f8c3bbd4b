LIB_SRCS += src/archive/archive.c src/archive/archive_fs.c src/archive/archiver.c \
            src/archive/archive_cli.c
