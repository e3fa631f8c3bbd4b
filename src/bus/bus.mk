# src/bus: EventBridge-style event bus (pattern matcher, bus port, local adapter).
LIB_SRCS += src/bus/pattern.c src/bus/bus.c src/bus/bus_local.c
