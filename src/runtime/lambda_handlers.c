/*
 * lambda_handlers.c - Parley's Lambda functions over the Runtime API loop; see lambda_handlers.h.
 *
 * One process serves one function (_HANDLER). Its adapters are opened once, in the table's init
 * (reported to /runtime/init/error when that fails), and live until the process ends.
 */
#include "runtime/lambda_handlers.h"

#include <assert.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "agent/turn.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/errcode.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "runtime/analytics.h"
#include "runtime/api.h"
#include "runtime/app.h"
#include "telemetry/metrics.h"

/* Everything one bootstrap process opened: the settings and the app built from them. */
struct lambda_app {
    struct config cfg; /* settings */
    int cfg_loaded;    /* cfg needs config_release */
    struct app app;    /* ports, telemetry and the agent (app.h) */
};

/* ---------------------------------------------------------------- opening */

static enum app_role role_for(const char *handler)
{
    if (strcmp(handler, "Analytics") == 0)
        return APP_LAMBDA_ANALYTICS;
    if (strcmp(handler, "RequestHandler") == 0)
        return APP_LAMBDA_REQUEST;
    return APP_LAMBDA_TASK;
}

static int lambda_app_init(void *ud, const char *handler, struct err *err)
{
    struct lambda_app *la = ud;
    if (config_load(&la->cfg, err) < 0)
        return -1;
    la->cfg_loaded = 1;
    enum log_level lvl;
    if (log_level_parse(la->cfg.log_level, &lvl) == 0)
        log_threshold = lvl;
    enum app_role role = role_for(handler);
    if (app_open(&la->app, &la->cfg, role, err) < 0)
        return -1;
    if (role != APP_LAMBDA_ANALYTICS)
        log_at(LL_INFO, "lambda", "%s ready (store %s, model %s, events %s, actions %s)", handler,
               store_name(la->app.store), model_name(la->app.model),
               la->app.bus ? "eventbridge" : "off", la->app.queue ? "sqs" : "inline");
    return 0;
}

static void lambda_app_close(struct lambda_app *la)
{
    app_close(&la->app);
    if (la->cfg_loaded)
        config_release(&la->cfg);
}

/* ---------------------------------------------------------------- RequestHandler */

/* Builds a proxy response around body (stolen). */
static json_t *proxy_response(int status, json_t *body)
{
    char *text = jsontext_dump(body);
    json_decref(body);
    json_t *r = json_pack("{s:i, s:{s:s, s:s}, s:s, s:b}", "statusCode", status, "headers",
                          "Content-Type", "application/json", "Cache-Control", "no-store", "body",
                          text, "isBase64Encoded", 0);
    free(text);
    return r;
}

static json_t *proxy_error(const char *code, const char *message)
{
    int status = errcode_status(code);
    if (status >= 500)
        log_at(LL_WARN, "lambda", "request failed: %s: %s", code, message);
    return proxy_response(status,
                          json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

/* The value of header name in a proxy event's headers (case-insensitive), or NULL. */
static const char *event_header(const json_t *event, const char *name)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)json_object_get(event, "headers"), k, v)
        if (strcasecmp(k, name) == 0)
            return json_string_value(v);
    return NULL;
}

static int json_content_type(const char *ct)
{
    size_t n = strlen("application/json");
    return ct && strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Decodes base64 text into a new buffer; -1 when malformed. */
static int base64_decode(const char *in, size_t len, char **out, size_t *out_len)
{
    if (len % 4 != 0)
        return -1;
    unsigned char *buf = xmalloc(len / 4 * 3 + 1);
    int n = len ? EVP_DecodeBlock(buf, (const unsigned char *)in, (int)len) : 0;
    if (n < 0) {
        free(buf);
        return -1;
    }
    for (size_t i = len; i > 0 && in[i - 1] == '='; i--)
        n--;
    buf[n] = '\0';
    *out = (char *)buf;
    *out_len = (size_t)n;
    return 0;
}

static json_t *h_request(void *ud, const struct lambda_context *ctx, const json_t *event,
                         struct err *err)
{
    (void)ctx;
    (void)err;
    struct app *app = &((struct lambda_app *)ud)->app;
    const char *method = json_string_value(json_object_get(event, "httpMethod"));
    if (method && strcmp(method, "POST") != 0)
        return proxy_error("MethodNotAllowed", "only POST is allowed on /chat");
    if (!json_content_type(event_header(event, "Content-Type")))
        return proxy_error("UnsupportedMediaType", "Content-Type must be application/json");
    const json_t *b = json_object_get(event, "body");
    const char *text = json_string_value(b);
    size_t len = text ? json_string_length(b) : 0;
    char *decoded = NULL;
    if (text && json_is_true(json_object_get(event, "isBase64Encoded"))) {
        if (len > 4 * (API_MAX_BODY / 3 + 1))
            return proxy_error("PayloadTooLarge", "request body is over 64 KiB");
        if (base64_decode(text, len, &decoded, &len) < 0)
            return proxy_error("InvalidRequest", "isBase64Encoded is set but the body is not "
                                                 "base64");
        text = decoded;
    }
    json_t *resp;
    if (len > API_MAX_BODY) {
        resp = proxy_error("PayloadTooLarge", "request body is over 64 KiB");
        goto out;
    }
    struct err e;
    err_clear(&e);
    json_t *req = turn_parse_request(text ? text : "", len, &e);
    if (!req) {
        resp = proxy_error(e.code, e.message);
        goto out;
    }
    int replayed = 0;
    json_t *reply = turn_run_idempotent(&app->agent, event_header(event, "Idempotency-Key"),
                                        text ? text : "", len, req, &replayed, &e);
    json_decref(req);
    resp = reply ? proxy_response(200, reply)
                 : proxy_error(e.code[0] ? e.code : "InternalError", e.message);
out:
    free(decoded);
    app_flush(app);
    return resp;
}

/* ---------------------------------------------------------------- workflow Tasks */

static json_t *run_agent_handler(struct lambda_app *la, const char *name, const json_t *event,
                                 struct err *err)
{
    struct app *app = &la->app;
    assert(app->agent_ready); /* a Task's role opens the agent */
    agent_handler_fn fn = agent_handler_find(name);
    if (!fn) {
        err_set(err, "HandlerNotFound", "no agent handler '%s'", name);
        return NULL;
    }
    json_t *in = json_deep_copy(event);
    json_t *out = fn(&app->agent, in, err);
    json_decref(in);
    app_flush(app);
    return out;
}

#define TASK(fn, name)                                                                             \
    static json_t *fn(void *ud, const struct lambda_context *ctx, const json_t *event,             \
                      struct err *err)                                                             \
    {                                                                                              \
        (void)ctx;                                                                                 \
        return run_agent_handler(ud, name, event, err);                                            \
    }
TASK(h_load_context, "LoadContext")
TASK(h_inference, "BedrockInference")
TASK(h_executor, "ActionExecutor")
TASK(h_save, "SaveConversation")
TASK(h_handle_error, "HandleError")
TASK(h_worker, "ActionWorker")
#undef TASK

/* ---------------------------------------------------------------- Analytics */

static json_t *h_analytics(void *ud, const struct lambda_context *ctx, const json_t *event,
                           struct err *err)
{
    (void)ctx;
    struct app *app = &((struct lambda_app *)ud)->app;
    const char *type = json_string_value(json_object_get(event, "detail-type"));
    const char *source = json_string_value(json_object_get(event, "source"));
    if (!type || !source) {
        err_set(err, "InvalidEvent", "an EventBridge event needs 'source' and 'detail-type'");
        return NULL;
    }
    analytics_fold(app->analytics, event);
    /* One EMF line: CloudWatch extracts Parley/Events{EventType} from the function's log. */
    struct metrics_emf_dim dim = {"EventType", type};
    struct metrics_emf_value val = {"Events", "Count", 1};
    char *line = NULL;
    struct err e;
    err_clear(&e);
    if (metrics_emf_line("Parley", &dim, 1, &val, 1, NULL, 0, clock_now_ms(), &line, &e) == 0) {
        printf("%s\n", line);
        fflush(stdout);
    } else {
        log_at(LL_WARN, "lambda", "no EMF line for '%s': %s", type, e.message);
    }
    free(line);
    return json_pack("{s:s, s:b}", "folded", type, "known", bus_event_name_known(type));
}

/* ---------------------------------------------------------------- the table and main */

const struct lambda_handler lambda_parley_handlers[] = {
    {"RequestHandler", h_request},
    {"LoadContext", h_load_context},
    {"BedrockInference", h_inference},
    {"ActionExecutor", h_executor},
    {"ActionWorker", h_worker},
    {"SaveConversation", h_save},
    {"HandleError", h_handle_error},
    {"Analytics", h_analytics},
    {NULL, NULL},
};

int lambda_parley_main(int argc, char **argv)
{
    struct lambda_runtime_config cfg = {0};
    /* `parley lambda ...` or the bootstrap binary itself */
    const char *self = argc > 0 && strcmp(argv[0], "lambda") == 0 ? "parley lambda" : "bootstrap";
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--handler") == 0 && i + 1 < argc) {
            cfg.handler = argv[++i];
        } else if (strcmp(argv[i], "--once") == 0) {
            cfg.max_invocations = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: %s [--handler NAME] [--once]\n\nServes one Lambda function "
                   "through the Runtime API at AWS_LAMBDA_RUNTIME_API.\nHandlers:",
                   self);
            for (const struct lambda_handler *h = lambda_parley_handlers; h->name; h++)
                printf(" %s", h->name);
            printf("\n");
            return 0;
        } else {
            fprintf(stderr, "%s: unknown option '%s'\n", self, argv[i]);
            return 2;
        }
    }
    static struct lambda_app la;
    memset(&la, 0, sizeof la);
    struct lambda_handler_table t = {lambda_parley_handlers, &la, lambda_app_init};
    struct err err;
    err_clear(&err);
    int rc = lambda_runtime_run(&t, &cfg, &err);
    if (rc < 0)
        log_at(LL_ERROR, "lambda", "%s: %s", err.code, err.message);
    lambda_app_close(&la);
    return rc < 0 ? 1 : 0;
}
