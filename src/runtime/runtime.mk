# src/runtime/runtime.mk - the hosts: HTTP API, SSE chat, workflows, analytics, serve/worker,
# the Lambda Runtime API loop and Parley's Lambda functions.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/runtime/lambda.c
LIB_SRCS += src/runtime/lambda_handlers.c
LIB_SRCS += src/runtime/workflow_sfn.c
LIB_SRCS += src/runtime/api.c
LIB_SRCS += src/runtime/workflow_local.c
LIB_SRCS += src/runtime/chat_stream.c
LIB_SRCS += src/runtime/app.c
LIB_SRCS += src/runtime/observe.c
LIB_SRCS += src/runtime/analytics.c
LIB_SRCS += src/runtime/retention.c
LIB_SRCS += src/runtime/operators.c

# `make lambda`: the deployment package (bootstrap + the shared libraries it needs + the knowledge
# base) under build/lambda/, zipped as build/lambda/parley.zip. `make lambda AGENT=path/agent.yaml`
# (or AGENT in the environment of `sam build`) also packages that agent file (deploy/package.sh).
LAMBDA_DIR := $(BUILD)/lambda
LAMBDA_PKG := $(LAMBDA_DIR)/package

.PHONY: lambda
lambda: $(LAMBDA_DIR)/bootstrap $(BUILD)/parley
	@AGENT="$(AGENT)" PARLEY_CLI=$(BUILD)/parley deploy/package.sh $(LAMBDA_DIR)/bootstrap $(LAMBDA_PKG) $(LAMBDA_DIR)/parley.zip

$(LAMBDA_DIR)/bootstrap: $(BUILD)/src/runtime/lambda_main.o $(BUILD)/libparley.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# SAM's `BuildMethod: makefile` runs `make build-<LogicalId>` with ARTIFACTS_DIR set.
build-%: $(LAMBDA_DIR)/bootstrap $(BUILD)/parley
	AGENT="$(AGENT)" PARLEY_CLI=$(BUILD)/parley deploy/package.sh $(LAMBDA_DIR)/bootstrap $(ARTIFACTS_DIR)
