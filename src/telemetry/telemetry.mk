# src/telemetry/telemetry.mk - metrics registry (Prometheus text, CloudWatch EMF) and X-Ray-model
#  tracing.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/telemetry/metrics.c
LIB_SRCS += src/telemetry/trace.c
