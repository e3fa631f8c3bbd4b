# src/agent (pure parts): JSON Schema validation of tool inputs and PII redaction.
LIB_SRCS += src/agent/schema.c src/agent/guard.c
