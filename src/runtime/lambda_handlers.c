/*
 * lambda_handlers.c - Parley's Lambda functions over the Runtime API loop; see lambda_handlers.h.
 *
 * One process serves one function (_HANDLER). Its adapters are opened once, in the table's init
 * (reported to /runtime/init/error when that fails), and live until the process ends.
 */
#include "runtime/lambda_handlers.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "agent/agent.h"
#include "agent/guard.h"
#include "agent/kb.h"
#include "agent/tools.h"
#include "agent/transcript.h"
#include "agent/turn.h"
#include "archive/archive_s3.h"
#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "bus/bus_eventbridge.h"
#include "queue/queue_sqs.h"
#include "model/providers.h"
#include "runtime/analytics.h"
#include "runtime/api.h"
#include "runtime/runtime.h"
#include "runtime/workflow_sfn.h"
#include "store/store_dynamo.h"

#define LAMBDA_BUS_FLUSH_MS 2000 /* how long an invocation waits for its events to go out */

/* Everything one bootstrap process opened. */
struct lambda_app {
    struct config cfg;              /* settings */
    int cfg_loaded;                 /* cfg needs config_release */
    struct store *store;            /* sessions, tickets, actions */
    struct model *model;            /* the model provider */
    struct kb *kb;                  /* knowledge base (may be NULL) */
    struct tools *tools;            /* tool registry */
    struct bus *bus;                /* EventBridge, or NULL when PARLEY_EVENT_BUS is unset */
    struct queue *queue;            /* SQS AgentActions, or NULL (actions run inline) */
    struct archive *archive;        /* S3 transcripts, or NULL when PARLEY_ARCHIVE_BUCKET is unset */
    unsigned redact;                /* guard kinds redacted from archived transcripts */
    struct workflow_sfn *sfn;       /* RequestHandler's workflow */
    struct analytics *analytics;    /* Analytics' counters */
    struct agent agent;             /* the handlers' context */
    int agent_ready;                /* agent_init ran */
};

/* ---------------------------------------------------------------- opening */

static int open_bus(struct lambda_app *app, struct err *err)
{
    const char *name = getenv("PARLEY_EVENT_BUS");
    if (!name || !*name)
        return 0;
    struct aws_config aws;
    if (aws_config_from_env(&aws, err) < 0)
        return -1;
    struct bus_eventbridge_config bc = {.aws = &aws, .bus_name = name};
    app->bus = bus_eventbridge_new(&bc, err);
    aws_config_release(&aws);
    return app->bus ? 0 : -1;
}

static int open_sfn(struct lambda_app *app, struct err *err)
{
    struct aws_config aws;
    if (aws_config_from_env(&aws, err) < 0)
        return -1;
    const char *timeout = getenv("PARLEY_WORKFLOW_TIMEOUT_MS");
    struct workflow_sfn_config wc = {.aws = &aws,
                                     .state_machine_arn = getenv("PARLEY_STATE_MACHINE_ARN"),
                                     .timeout_ms = timeout ? atol(timeout) : 0};
    app->sfn = workflow_sfn_new(&wc, err);
    aws_config_release(&aws);
    if (!app->sfn)
        return -1;
    workflow_sfn_attach(app->sfn, &app->agent);
    return 0;
}

/* SaveConversation's hook: the session's transcript to S3 under its archive key, redacted as
 * PARLEY_REDACT says. A failure is logged and never fails the turn (the transcript is in the
 * store; the next turn writes the archive again). */
static void archive_saved(struct agent *a, const json_t *state, int turn_no)
{
    (void)turn_no;
    struct lambda_app *app = (struct lambda_app *)((char *)a - offsetof(struct lambda_app, agent));
    const char *sid = json_string_value(json_object_get(state, "sessionId"));
    struct err e;
    err_clear(&e);
    json_t *doc = sid ? transcript_document(app->store, sid, &e) : NULL;
    json_t *session = NULL;
    char key[ARCHIVE_KEY_MAX + 1];
    /* The key carries the date the session started (epoch ms in the session header). */
    if (!doc || STORE_CALL(app->store, session_get, sid, &session, &e) < 0 ||
        archive_key_for(sid, json_integer_value(json_object_get(session, "createdAt")), key,
                        sizeof key, &e) < 0) {
        log_at(LL_WARN, "lambda", "transcript of '%s' not archived: %s", sid ? sid : "?",
               e.message);
        json_decref(session);
        json_decref(doc);
        return;
    }
    json_decref(session);
    guard_redact_json(doc, app->redact);
    char *text = json_dumps(doc, JSON_COMPACT);
    if (archive_put(app->archive, key, text, strlen(text), &e) < 0)
        log_at(LL_WARN, "lambda", "transcript of '%s' not archived: %s", sid, e.message);
    else
        agent_emit(a, BUS_CONVERSATION_ARCHIVED,
                   json_pack("{s:s, s:s}", "sessionId", sid, "key", key));
    free(text);
    json_decref(doc);
}

static int app_init(void *ud, const char *handler, struct err *err)
{
    struct lambda_app *app = ud;
    if (config_load(&app->cfg, err) < 0)
        return -1;
    app->cfg_loaded = 1;
    enum log_level lvl;
    if (log_level_parse(app->cfg.log_level, &lvl) == 0)
        log_threshold = lvl;
    if (strcmp(handler, "Analytics") == 0) {
        app->analytics = analytics_new();
        return 0;
    }
    if (!(app->store = runtime_open_store(&app->cfg, err)))
        return -1;
    char *kb_dir = runtime_asset_path(app->cfg.kb_dir);
    app->kb = kb_load(kb_dir, err);
    if (!app->kb)
        log_at(LL_WARN, "lambda", "knowledge base unavailable: %s", err->message);
    free(kb_dir);
    err_clear(err);
    if (!(app->tools = tools_new(app->kb, NULL, err) /* issue 11: agent document tools section */))
        return -1;
    if (!(app->model = model_new_by_name(app->cfg.model, err)))
        return -1;
    if (open_bus(app, err) < 0)
        return -1;
    const char *qp = getenv("PARLEY_QUEUE_PREFIX");
    if (qp && *qp && !(app->queue = queue_sqs_from_env(err)))
        return -1;
    if (guard_kinds_parse(app->cfg.redact, &app->redact) < 0)
        return err_set(err, "InvalidConfig", "PARLEY_REDACT must be all, none or a list of "
                                             "email,phone,card (got '%s')", app->cfg.redact);
    const char *bucket = getenv("PARLEY_ARCHIVE_BUCKET");
    if (strcmp(handler, "SaveConversation") == 0 && bucket && *bucket &&
        !(app->archive = archive_s3_from_env(err)))
        return -1;
    app->agent = (struct agent){.cfg = &app->cfg, .store = app->store, .model = app->model,
                                .tools = app->tools, .kb = app->kb, .bus = app->bus,
                                .queue = app->queue, .redact = app->redact,
                                .action_wait_ms = app->cfg.action_wait_ms,
                                .on_saved = app->archive ? archive_saved : NULL};
    agent_init(&app->agent);
    app->agent_ready = 1;
    if (strcmp(handler, "RequestHandler") == 0 && open_sfn(app, err) < 0)
        return -1;
    log_at(LL_INFO, "lambda", "%s ready (store %s, model %s, events %s, actions %s)", handler,
           app->store->ops->name, app->model->ops->name, app->bus ? "eventbridge" : "off",
           app->queue ? "sqs" : "inline");
    return 0;
}

static void app_close(struct lambda_app *app)
{
    workflow_sfn_free(app->sfn);
    bus_free(app->bus);
    queue_free(app->queue);
    archive_free(app->archive);
    if (app->agent_ready)
        agent_release(&app->agent);
    model_free(app->model);
    tools_free(app->tools);
    kb_free(app->kb);
    store_free(app->store);
    analytics_free(app->analytics);
    if (app->cfg_loaded)
        config_release(&app->cfg);
}

/* Lets the events of this invocation leave before Lambda freezes the process. */
static void flush_events(struct lambda_app *app)
{
    if (app->bus && bus_flush(app->bus, LAMBDA_BUS_FLUSH_MS) < 0)
        log_at(LL_WARN, "lambda", "events still queued after %d ms", LAMBDA_BUS_FLUSH_MS);
}

/* ---------------------------------------------------------------- RequestHandler */

static const struct {
    const char *code;
    int status;
} extra_status[] = {
    {"States.Timeout", 504}, {"StoreBusy", 503}, {"ThrottlingException", 503},
    {"ExecutionLimitExceeded", 503},
};

static int status_for(const char *code)
{
    for (size_t i = 0; i < sizeof extra_status / sizeof extra_status[0]; i++)
        if (strcmp(extra_status[i].code, code) == 0)
            return extra_status[i].status;
    return api_status_for(code);
}

/* Builds a proxy response around body (stolen). */
static json_t *proxy_response(int status, json_t *body)
{
    char *text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    json_t *r = json_pack("{s:i, s:{s:s, s:s}, s:s, s:b}", "statusCode", status, "headers",
                          "Content-Type", "application/json", "Cache-Control", "no-store", "body",
                          text, "isBase64Encoded", 0);
    free(text);
    return r;
}

static json_t *proxy_error(const char *code, const char *message)
{
    int status = status_for(code);
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
    struct lambda_app *app = ud;
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
    resp = reply ? proxy_response(200, reply) : proxy_error(e.code[0] ? e.code : "InternalError",
                                                            e.message);
out:
    free(decoded);
    flush_events(app);
    return resp;
}

/* ---------------------------------------------------------------- workflow Tasks */

static json_t *run_agent_handler(struct lambda_app *app, const char *name, const json_t *event,
                                 struct err *err)
{
    agent_handler_fn fn = agent_handler_find(name);
    if (!fn) {
        err_set(err, "HandlerNotFound", "no agent handler '%s'", name);
        return NULL;
    }
    json_t *in = json_deep_copy(event);
    json_t *out = fn(&app->agent, in, err);
    json_decref(in);
    flush_events(app);
    return out;
}

#define TASK(fn, name)                                                                             \
    static json_t *fn(void *ud, const struct lambda_context *ctx, const json_t *event,           \
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
    struct lambda_app *app = ud;
    const char *type = json_string_value(json_object_get(event, "detail-type"));
    const char *source = json_string_value(json_object_get(event, "source"));
    if (!type || !source) {
        err_set(err, "InvalidEvent", "an EventBridge event needs 'source' and 'detail-type'");
        return NULL;
    }
    analytics_fold(app->analytics, event);
    /* One EMF line: CloudWatch extracts Parley/Events{EventType} from the function's log. */
    json_t *emf = json_pack("{s:{s:I, s:[{s:s, s:[[s]], s:[{s:s, s:s}]}]}, s:s, s:i}", "_aws",
                            "Timestamp", (json_int_t)clock_now_ms(), "CloudWatchMetrics",
                            "Namespace", "Parley", "Dimensions", "EventType", "Metrics", "Name",
                            "Events", "Unit", "Count", "EventType", type, "Events", 1);
    char *line = json_dumps(emf, JSON_COMPACT);
    json_decref(emf);
    printf("%s\n", line);
    fflush(stdout);
    free(line);
    return json_pack("{s:s, s:b}", "folded", type, "known", bus_event_name_known(type));
}

/* ---------------------------------------------------------------- the table and main */

const struct lambda_handler lambda_parley_handlers[] = {
    {"RequestHandler", h_request},  {"LoadContext", h_load_context},
    {"BedrockInference", h_inference}, {"ActionExecutor", h_executor},
    {"ActionWorker", h_worker},     {"SaveConversation", h_save},
    {"HandleError", h_handle_error}, {"Analytics", h_analytics},
    {NULL, NULL},
};

int lambda_parley_main(int argc, char **argv)
{
    struct lambda_runtime_config cfg = {0};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--handler") == 0 && i + 1 < argc) {
            cfg.handler = argv[++i];
        } else if (strcmp(argv[i], "--once") == 0) {
            cfg.max_invocations = 1;
        } else if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: bootstrap [--handler NAME] [--once]\n\nServes one Lambda function "
                   "through the Runtime API at AWS_LAMBDA_RUNTIME_API.\nHandlers:");
            for (const struct lambda_handler *h = lambda_parley_handlers; h->name; h++)
                printf(" %s", h->name);
            printf("\n");
            return 0;
        } else {
            fprintf(stderr, "bootstrap: unknown option '%s'\n", argv[i]);
            return 2;
        }
    }
    static struct lambda_app app;
    memset(&app, 0, sizeof app);
    struct lambda_handler_table t = {lambda_parley_handlers, &app, app_init};
    struct err err;
    err_clear(&err);
    int rc = lambda_runtime_run(&t, &cfg, &err);
    if (rc < 0)
        log_at(LL_ERROR, "lambda", "%s: %s", err.code, err.message);
    app_close(&app);
    return rc < 0 ? 1 : 0;
}
