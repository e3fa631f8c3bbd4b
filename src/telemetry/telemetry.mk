# src/telemetry: metrics registry (Prometheus text, CloudWatch EMF) and X-Ray-model tracing.
LIB_SRCS += src/telemetry/metrics.c src/telemetry/trace.c
