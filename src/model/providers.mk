# src/model/providers.mk - the network model adapters and what they share.
LIB_SRCS += src/model/providers.c src/model/model_anthropic.c src/model/model_bedrock.c
LIB_SRCS += src/model/model_openai.c
