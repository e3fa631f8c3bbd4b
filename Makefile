# Parley - one plain Makefile (STYLE rule 22). Sources are listed in src/<module>/<module>.mk.
#   make            release build: build/parley
#   make run        install missing Debian packages, build, start `parley serve`
#   make test       install missing packages, check formatting, build the release binary (one
#                   test drives it) and with ASan+UBSan into build/san, run every test
#   make bench      build and run the load benchmark (see bench/README.md)
#   make tsan       build with ThreadSanitizer into build/tsan and run the concurrency tests
#   make bench-concurrency  parley vs nginx over a slow model stand-in (bench/concurrency)
#   make format     rewrite the C sources and headers with .clang-format
#   make format-check  fail (clang-format --dry-run -Werror) if any source differs from .clang-format

CC      ?= cc
BUILD   ?= build
SAN     ?= 0
.DEFAULT_GOAL := all

WARN    := -Wall -Wextra -Wstrict-prototypes -Wmissing-prototypes -Wshadow -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE $(WARN) -Isrc -I$(BUILD)/gen -MMD -MP -pthread
LDLIBS  := -lmicrohttpd -ljansson -lyaml -lsqlite3 -lcurl -lssl -lcrypto -lz -lpthread -lm
ifeq ($(TSAN),1)
CFLAGS  += -O1 -g -fsanitize=thread -fno-omit-frame-pointer
LDFLAGS += -fsanitize=thread
else ifeq ($(SAN),1)
CFLAGS  += -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
else
CFLAGS  += -O2 -g
# The served binary's allocator in a release build: tcmalloc's per-thread caches (Debian's
# libtcmalloc-minimal4) took 18% off `parley serve`'s CPU per turn at 10,000 connections, where
# glibc's arenas spent a fifth of the samples in malloc and free (docs/architecture.md, "Memory
# allocation"). The sanitizer builds keep the C library's: ASan and TSan replace malloc.
MALLOC_LIB := -ltcmalloc_minimal
endif

# Each src/<module>/<module>.mk appends its sources to LIB_SRCS (and generated files to GEN_SRCS).
LIB_SRCS :=
GEN_SRCS :=
include $(sort $(wildcard src/*/*.mk))

LIB_OBJS  := $(LIB_SRCS:%.c=$(BUILD)/%.o) $(GEN_SRCS:%.c=$(BUILD)/%.o)
MAIN_OBJ  := $(BUILD)/src/cli/main.o
UNIT_SRCS := $(sort $(wildcard tests/unit/test_*.c))
E2E_SRCS  := $(sort $(wildcard tests/e2e/test_*.c))
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
E2E_BINS  := $(E2E_SRCS:tests/e2e/%.c=$(BUILD)/tests/%)
BENCH_BINS := $(BUILD)/bench/loadgen

.PHONY: all run test tests deps bench clean format format-check tsan bench-concurrency
all: $(BUILD)/parley

$(BUILD)/libparley.a: $(LIB_OBJS)
	@mkdir -p $(@D)
	$(AR) rcs $@ $^

$(BUILD)/parley: $(MAIN_OBJ) $(BUILD)/libparley.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(MALLOC_LIB)

$(BUILD)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libparley.a tests/check.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libparley.a $(LDLIBS)

$(BUILD)/tests/%: tests/e2e/%.c tests/e2e/e2e.h $(BUILD)/libparley.a tests/check.h
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Itests $(LDFLAGS) -o $@ $< $(BUILD)/libparley.a $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libparley.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BUILD)/libparley.a $(LDLIBS)

tests: $(BUILD)/parley $(UNIT_BINS) $(E2E_BINS)

deps:
	@scripts/install-deps.sh

run: deps
	$(MAKE) all
	$(BUILD)/parley serve

test: deps
	@scripts/install-test-deps.sh
	$(MAKE) format-check
	$(MAKE) BUILD=build all
	$(MAKE) SAN=1 BUILD=build/san tests
	tests/run.sh build/san

bench: deps
	@scripts/install-test-deps.sh
	$(MAKE) all $(BENCH_BINS)
	bench/run.sh $(BUILD)
	bench/sfn/run.sh

# The concurrency tests under ThreadSanitizer; tests/tsan.supp holds only explained library
# false positives.
TSAN_TESTS := test_sched test_http_client test_http_client_cap test_http_client_h2 test_e2e_concurrency test_e2e_chat test_history test_offline_model test_ptrmemo test_bus
tsan:
	$(MAKE) TSAN=1 BUILD=build/tsan build/tsan/parley $(TSAN_TESTS:%=build/tsan/tests/%)
	@set -e; for t in $(TSAN_TESTS); do \
	    TSAN_OPTIONS="suppressions=$(CURDIR)/tests/tsan.supp halt_on_error=0" \
	    PARLEY_BIN=$(CURDIR)/build/tsan/parley PARLEY_SRC=$(CURDIR) build/tsan/tests/$$t; done

bench-concurrency: deps
	$(MAKE) all
	bench/concurrency/run.sh $(BUILD)

clean:
	rm -rf build

CLANG_FORMAT ?= clang-format
FORMAT_SRCS  := $(LIB_SRCS) src/cli/main.c src/runtime/lambda_main.c $(wildcard src/*/*.h)

format:
	$(CLANG_FORMAT) -i $(FORMAT_SRCS)

format-check:
	$(CLANG_FORMAT) --dry-run -Werror $(FORMAT_SRCS)

# Fuzzing (fuzz/README.md). Every build links each fuzz/<target>.c with fuzz/replay.c into
# $(BUILD)/fuzz/replay_<target>, which `make test` runs over fuzz/corpus/<target>/;
# `make fuzz FUZZ_SECONDS=N` builds the libFuzzer binaries with clang into build/fuzz and runs
# each target for N seconds, failing on any finding.
FUZZ_TARGETS := $(filter-out replay,$(basename $(notdir $(wildcard fuzz/*.c))))
FUZZ_SECONDS ?= 60
FORMAT_SRCS  += $(wildcard fuzz/*.c fuzz/*.h)
ifeq ($(FUZZ),1)
CFLAGS  += -O1 -g -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
           -fno-sanitize-recover=undefined
LDFLAGS += -fsanitize=address,undefined
endif
.PHONY: fuzz fuzz-bins
tests: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/replay_%)
fuzz-bins: $(FUZZ_TARGETS:%=$(BUILD)/fuzz/fuzz_%)

$(BUILD)/fuzz/replay_%: fuzz/%.c fuzz/replay.c fuzz/fuzz.h $(BUILD)/libparley.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ifuzz $(LDFLAGS) -o $@ $< fuzz/replay.c $(BUILD)/libparley.a $(LDLIBS)

$(BUILD)/fuzz/fuzz_%: fuzz/%.c fuzz/fuzz.h $(BUILD)/libparley.a
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -Ifuzz -fsanitize=fuzzer $(LDFLAGS) -o $@ $< $(BUILD)/libparley.a $(LDLIBS)

fuzz:
	$(MAKE) CC=clang BUILD=build/fuzz FUZZ=1 fuzz-bins
	scripts/fuzz.sh build/fuzz $(FUZZ_SECONDS)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
