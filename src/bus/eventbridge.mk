# src/bus/eventbridge.mk - the EventBridge adapter of the bus port.
LIB_SRCS += src/bus/bus_eventbridge.c
