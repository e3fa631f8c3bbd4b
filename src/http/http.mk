# src/http/http.mk - HTTP: the libcurl client, SigV4 signing and the libmicrohttpd server.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/http/sigv4.c
LIB_SRCS += src/http/client.c
LIB_SRCS += src/http/server.c
