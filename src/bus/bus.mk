# src/bus/bus.mk - the EventBridge-style event bus: pattern matcher, bus port, local and
#  EventBridge adapters.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/bus/pattern.c
LIB_SRCS += src/bus/bus.c
LIB_SRCS += src/bus/bus_local.c
LIB_SRCS += src/bus/bus_eventbridge.c
