# src/runtime/lambda.mk - the Lambda Runtime API loop, Parley's Lambda functions, the Step
# Functions workflow, and `make lambda`: the deployment package (bootstrap + the shared libraries
# it needs + the knowledge base) under build/lambda/, zipped as build/lambda/parley.zip.
LIB_SRCS += src/runtime/lambda.c src/runtime/lambda_handlers.c src/runtime/workflow_sfn.c

LAMBDA_DIR := $(BUILD)/lambda
LAMBDA_PKG := $(LAMBDA_DIR)/package

.PHONY: lambda
lambda: $(LAMBDA_DIR)/bootstrap
	@deploy/package.sh $(LAMBDA_DIR)/bootstrap $(LAMBDA_PKG) $(LAMBDA_DIR)/parley.zip

$(LAMBDA_DIR)/bootstrap: $(BUILD)/src/runtime/lambda_main.o $(BUILD)/libparley.a
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# SAM's `BuildMethod: makefile` runs `make build-<LogicalId>` with ARTIFACTS_DIR set.
build-%: $(LAMBDA_DIR)/bootstrap
	deploy/package.sh $(LAMBDA_DIR)/bootstrap $(ARTIFACTS_DIR)
