/* test_errcode.c - the error-code table: unique names, sane statuses and classes, the statuses the
 * API answers with, and the X-Ray class of codes that are not rows. */
#include <stdlib.h>

#include "base/errcode.h"
#include "check.h"

static void test_table_sane(void)
{
    CHECK(ERRCODE__COUNT > 60);
    for (int i = 0; i < ERRCODE__COUNT; i++) {
        const char *n = errcode_name(i);
        CHECK(n && n[0] >= 'A' && n[0] <= 'Z');
        CHECK_INT(errcode_find(n), i); /* unique: the first row with this name is this one */
        int st = errcode_status(n);
        CHECK(st >= 400 && st <= 599);
        /* A 4xx is the caller's fault; a throttle or server row never answers 4xx but 429. */
        if (st >= 400 && st < 500 && st != 429)
            CHECK_INT(errcode_class_of(n), ERRCODE_CLIENT);
    }
    CHECK(errcode_name(-1) == NULL);
    CHECK(errcode_name(ERRCODE__COUNT) == NULL);
}

/* Every status the API and the Lambda RequestHandler answered with before the table. */
static void test_api_statuses(void)
{
    static const struct {
        const char *code;
        int status;
    } cases[] = {
        {"InvalidRequest", 400},       {"MalformedJson", 400},     {"InvalidUtf8", 400},
        {"Unauthorized", 401},         {"NotFound", 404},          {"MethodNotAllowed", 405},
        {"Conflict", 409},             {"IdempotencyMismatch", 422}, {"PayloadTooLarge", 413},
        {"UnsupportedMediaType", 415}, {"ModelThrottled", 503},    {"ModelTimeout", 504},
        {"ModelError", 502},           {"ModelBadResponse", 502},  {"States.Timeout", 504},
        {"StoreBusy", 503},            {"ThrottlingException", 503},
        {"ExecutionLimitExceeded", 503}, {"InternalError", 500},   {"States.Runtime", 500},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        CHECK(errcode_known(cases[i].code));
        CHECK_INT(errcode_status(cases[i].code), cases[i].status);
    }
    CHECK_INT(errcode_status("NoSuchCodeAnywhere"), 500);
    CHECK_INT(errcode_status(NULL), 500);
    CHECK(!errcode_known("NoSuchCodeAnywhere"));
}

/* The codes the HTTP table and the trace classifier used to disagree on are client errors. */
static void test_classes(void)
{
    CHECK_INT(errcode_class_of("MalformedJson"), ERRCODE_CLIENT);
    CHECK_INT(errcode_class_of("UnsupportedMediaType"), ERRCODE_CLIENT);
    CHECK_INT(errcode_class_of("IdempotencyMismatch"), ERRCODE_CLIENT);
    CHECK_INT(errcode_class_of("ModelThrottled"), ERRCODE_THROTTLE);
    CHECK_INT(errcode_class_of("States.Timeout"), ERRCODE_SERVER);
    /* Remote names are classed by their shape. */
    CHECK_INT(errcode_class_of("ProvisionedThroughputExceededException"), ERRCODE_SERVER);
    CHECK_INT(errcode_class_of("TooManyRequestsException"), ERRCODE_THROTTLE);
    CHECK_INT(errcode_class_of("ValidationException"), ERRCODE_CLIENT);
    CHECK_INT(errcode_class_of(NULL), ERRCODE_SERVER);
    CHECK(errcode_retryable("ModelThrottled"));
    CHECK(errcode_retryable("StoreBusy"));
    CHECK(!errcode_retryable("InvalidRequest"));
    CHECK(!errcode_retryable("NoSuchCodeAnywhere"));
}

int main(void)
{
    RUN(test_table_sane);
    RUN(test_api_statuses);
    RUN(test_classes);
    return check_summary();
}
