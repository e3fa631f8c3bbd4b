# src/edge/edge.mk - the public edge: customer identity (JWT).
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/edge/jwt.c
LIB_SRCS += src/edge/ratelimit.c
