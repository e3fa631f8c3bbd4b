# src/ptest/ptest.mk - `parley test` and `parley replay` (issue 12), and the model record/replay
# decorator they use.
LIB_SRCS += src/ptest/scenario.c src/ptest/target.c src/ptest/ptest.c src/ptest/replay.c src/model/model_record.c
