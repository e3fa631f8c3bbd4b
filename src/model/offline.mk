# The offline model (src/model/offline_*.c, model_offline.c) and its build-time intent trainer.
# tools/intents/train turns src/model/data/intents.tsv into $(BUILD)/gen/offline_intents_model.c.
LIB_SRCS += src/model/offline_text.c src/model/offline_nb.c src/model/offline_intents.c \
            src/model/offline_slots.c src/model/offline_custom.c src/model/offline_policy.c \
            src/model/model_offline.c
GEN_SRCS += gen/offline_intents_model.c

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
