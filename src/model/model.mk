# src/model/model.mk - the model port: the offline model and the network providers.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/model/offline_text.c
LIB_SRCS += src/model/offline_nb.c
LIB_SRCS += src/model/offline_intents.c
LIB_SRCS += src/model/offline_slots.c
LIB_SRCS += src/model/offline_custom.c
LIB_SRCS += src/model/offline_policy.c
LIB_SRCS += src/model/model_offline.c
LIB_SRCS += src/model/providers.c
LIB_SRCS += src/model/model_select.c
LIB_SRCS += src/model/model_anthropic.c
LIB_SRCS += src/model/model_bedrock.c
LIB_SRCS += src/model/model_openai.c
LIB_SRCS += src/model/model_record.c
GEN_SRCS += gen/offline_intents_model.c

# tools/intents/train turns src/model/data/intents.tsv into $(BUILD)/gen/offline_intents_model.c.
OFFLINE_TRAIN := $(BUILD)/tools/intents/train
OFFLINE_TRAIN_OBJS := $(BUILD)/tools/intents/train.o $(BUILD)/src/model/offline_nb.o \
                      $(BUILD)/src/model/offline_text.o $(BUILD)/src/base/xmalloc.o \
                      $(BUILD)/src/base/err.o $(BUILD)/src/base/text.o

$(OFFLINE_TRAIN): $(OFFLINE_TRAIN_OBJS)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/gen/offline_intents_model.c: $(OFFLINE_TRAIN) src/model/data/intents.tsv
	@mkdir -p $(@D)
	ASAN_OPTIONS=detect_leaks=0 $(OFFLINE_TRAIN) src/model/data/intents.tsv $@

$(BUILD)/gen/offline_intents_model.o: $(BUILD)/gen/offline_intents_model.c
	$(CC) $(CFLAGS) -c -o $@ $<
