# src/http/client.mk - the outgoing HTTP side: libcurl client and AWS SigV4 signing.
LIB_SRCS += src/http/sigv4.c
LIB_SRCS += src/http/client.c
