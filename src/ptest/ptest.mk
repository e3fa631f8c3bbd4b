# src/ptest/ptest.mk - `parley test` and `parley replay` (issue 12). The model record/replay
# decorator they use is src/model/model_record.c (in model.mk).
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/ptest/scenario.c
LIB_SRCS += src/ptest/target.c
LIB_SRCS += src/ptest/ptest.c
LIB_SRCS += src/ptest/replay.c
