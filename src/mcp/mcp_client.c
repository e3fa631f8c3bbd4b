/*
 * mcp_client.c - the transport-independent half of the MCP client: configuration, the
 * initialize handshake and version negotiation, JSON-RPC request/reply matching by id, reply
 * validation, the tool cache, cancellation on timeout and restart with backoff.
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/clock.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/xmalloc.h"
#include "cli/cli.h"
#include "mcp/mcp.h"
#include "mcp/mcp_int.h"

#define INIT_TIMEOUT_MS 10000
#define CALL_TIMEOUT_MS 60000
#define MESSAGE_MAX (4u << 20)
#define LIST_PAGES_MAX 100 /* tools/list pages followed before giving up */
#define TOOLS_MAX 1000     /* tools one server may offer */
#define CANCELLED_RING 32  /* ids of given-up requests whose late replies are dropped */
#define BACKOFF_BASE_MS 100
#define BACKOFF_MAX_MS 5000
#define ARGV_MAX 256 /* entries in argv, env and headers */
#define PUBLIC_NAME_MAX 64

/* The versions we accept in an initialize result, newest first. */
static const char *const versions[] = {MCP_PROTOCOL_VERSION, "2025-06-18", "2025-03-26"};

/* One request waiting for its reply. */
struct pending {
    long long id;           /* JSON-RPC id */
    int done;               /* reply or failure arrived */
    json_t *reply;          /* the reply message, owned; NULL on failure */
    struct err err;         /* the failure when reply is NULL */
    struct sched_event *ev; /* signalled when done is set; the caller parks on it */
    struct pending *next;
};

/*
 * Lifecycle: created idle (started = 0). The first call runs ensure_ready(): start the transport,
 * initialize, notifications/initialized, ready = 1. A stdio child that dies makes alive() false;
 * the next call stops what is left, waits the backoff and starts again. An HTTP 404 for our
 * session clears ready and the call re-initializes once.
 */
struct mcp_client {
    char *name;                          /* server name */
    char **argv, **env, **headers;       /* copies of the configuration, NULL-terminated */
    char *url;                           /* HTTP endpoint or NULL */
    long init_timeout_ms;                /* start + initialize limit */
    long call_timeout_ms;                /* default request limit */
    size_t max_message_bytes;            /* cap on one incoming message */
    const struct mcp_transport_ops *ops; /* stdio or http */
    void *t;                             /* transport state */

    struct sched_mutex *life; /* serialises start, initialize and restart (held across waits) */
    int started;              /* the transport has been started */
    int ready;                /* initialize completed on this connection */
    int starts;               /* successful starts, for tests and logs */
    int crashes;              /* consecutive deaths without a good call since */
    int64_t next_start_ms;    /* monotonic time before which no restart happens */

    pthread_mutex_t mu;                  /* guards everything below */
    long long next_id;                   /* last id used */
    struct pending *pending;             /* requests waiting for replies */
    long long cancelled[CANCELLED_RING]; /* ids given up on */
    size_t n_cancelled;                  /* ring write position */
    char version[16];                    /* agreed protocol version */
    json_t *tools;                       /* cached tools array or NULL */
    unsigned tools_gen;                  /* bumped by list_changed and by (re)initialize */
    unsigned cache_gen;                  /* tools_gen the cache was fetched at */
};

/* ---- Small helpers -------------------------------------------------------------------------- */

static char **strv_copy(const char *const *v)
{
    size_t n = 0;
    while (v && v[n] && n < ARGV_MAX)
        n++;
    char **out = xcalloc(n + 1, sizeof *out);
    for (size_t i = 0; i < n; i++)
        out[i] = xstrdup(v[i]);
    return out;
}

static void strv_free(char **v)
{
    for (size_t i = 0; v && v[i]; i++)
        free(v[i]);
    free(v);
}

const char *mcp__name(const struct mcp_client *c)
{
    return c->name;
}

const char *mcp_client_name(const struct mcp_client *c)
{
    return c ? c->name : "";
}

/* ---- Lifecycle ------------------------------------------------------------------------------ */

struct mcp_client *mcp_client_new(const struct mcp_server_config *cfg, struct err *err)
{
    struct mcp_client *c = NULL;
    int has_cmd = cfg && cfg->argv && cfg->argv[0] && cfg->argv[0][0];
    int has_url = cfg && cfg->url && cfg->url[0];
    if (!cfg || !cfg->name || !cfg->name[0]) {
        err_set(err, "McpConfig", "an MCP server needs a name");
        goto out;
    }
    if (has_cmd == has_url) {
        err_set(err, "McpConfig", "MCP server '%s' needs either a command or a url", cfg->name);
        goto out;
    }
    if (has_url && strncmp(cfg->url, "http://", 7) != 0 && strncmp(cfg->url, "https://", 8) != 0) {
        err_set(err, "McpConfig", "MCP server '%s': url '%s' is not http(s)", cfg->name, cfg->url);
        goto out;
    }
    c = xcalloc(1, sizeof *c);
    c->name = xstrdup(cfg->name);
    c->argv = strv_copy(cfg->argv);
    c->env = strv_copy(cfg->env);
    c->headers = strv_copy(cfg->headers);
    c->url = has_url ? xstrdup(cfg->url) : NULL;
    c->init_timeout_ms = cfg->init_timeout_ms > 0 ? cfg->init_timeout_ms : INIT_TIMEOUT_MS;
    c->call_timeout_ms = cfg->call_timeout_ms > 0 ? cfg->call_timeout_ms : CALL_TIMEOUT_MS;
    c->max_message_bytes = cfg->max_message_bytes ? cfg->max_message_bytes : MESSAGE_MAX;
    c->ops = has_url ? &mcp__http_ops : &mcp__stdio_ops;
    c->life = sched_mutex_new();
    pthread_mutex_init(&c->mu, NULL);
    struct mcp_server_config copy = *cfg;
    copy.max_message_bytes = c->max_message_bytes;
    c->t = c->ops->create(c, &copy, err);
    if (!c->t) {
        mcp_client_free(c);
        c = NULL;
    }
out:
    return c;
}

void mcp_client_free(struct mcp_client *c)
{
    if (!c)
        return;
    if (c->t) {
        if (c->started)
            c->ops->stop(c->t);
        c->ops->destroy(c->t);
    }
    struct pending *p = c->pending;
    while (p) {
        struct pending *next = p->next;
        json_decref(p->reply);
        sched_event_free(p->ev);
        free(p);
        p = next;
    }
    json_decref(c->tools);
    pthread_mutex_destroy(&c->mu);
    sched_mutex_free(c->life);
    strv_free(c->argv);
    strv_free(c->env);
    strv_free(c->headers);
    free(c->url);
    free(c->name);
    free(c);
}

/* Reads a {"Name": "value"} object into "Name<sep>value" strings. Returns NULL on a non-string. */
static char **pairs_from_object(const json_t *o, const char *sep, const char *what,
                                const char *server, struct err *err)
{
    size_t n = json_object_size(o), i = 0;
    if (n > ARGV_MAX) {
        err_set(err, "McpConfig", "MCP server '%s': more than %d %s entries", server, ARGV_MAX,
                what);
        return NULL;
    }
    char **out = xcalloc(n + 1, sizeof *out);
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v) {
        if (!json_is_string(v)) {
            err_set(err, "McpConfig", "MCP server '%s': %s '%s' is not a string", server, what, k);
            strv_free(out);
            return NULL;
        }
        out[i++] = xasprintf("%s%s%s", k, sep, json_string_value(v));
    }
    return out;
}

struct mcp_client *mcp_client_from_json(const json_t *entry, struct err *err)
{
    struct mcp_client *c = NULL;
    char **argv = NULL, **env = NULL, **headers = NULL;
    const json_t *jname = json_object_get(entry, "name");
    const char *name = json_string_value(jname);
    if (!json_is_object(entry) || !name || !name[0]) {
        err_set(err, "McpConfig", "an MCP server entry needs a string \"name\"");
        goto out;
    }
    struct mcp_server_config cfg = {.name = name};
    const json_t *cmd = json_object_get(entry, "command");
    if (cmd) {
        size_t n = json_array_size(cmd);
        if (!json_is_array(cmd) || n == 0 || n > ARGV_MAX) {
            err_set(err, "McpConfig", "MCP server '%s': \"command\" must be a non-empty array",
                    name);
            goto out;
        }
        argv = xcalloc(n + 1, sizeof *argv);
        for (size_t i = 0; i < n; i++) {
            const char *a = json_string_value(json_array_get(cmd, i));
            if (!a) {
                err_set(err, "McpConfig", "MCP server '%s': command[%zu] is not a string", name, i);
                goto out;
            }
            argv[i] = xstrdup(a);
        }
        cfg.argv = (const char *const *)argv;
    }
    const json_t *jenv = json_object_get(entry, "env");
    if (jenv && !json_is_object(jenv)) {
        err_set(err, "McpConfig", "MCP server '%s': \"env\" must be an object", name);
        goto out;
    }
    if (jenv && !(env = pairs_from_object(jenv, "=", "env", name, err)))
        goto out;
    cfg.env = (const char *const *)env;
    const json_t *jurl = json_object_get(entry, "url");
    if (jurl && !json_is_string(jurl)) {
        err_set(err, "McpConfig", "MCP server '%s': \"url\" must be a string", name);
        goto out;
    }
    cfg.url = json_string_value(jurl);
    const json_t *jh = json_object_get(entry, "headers");
    if (jh && !json_is_object(jh)) {
        err_set(err, "McpConfig", "MCP server '%s': \"headers\" must be an object", name);
        goto out;
    }
    if (jh && !(headers = pairs_from_object(jh, ": ", "header", name, err)))
        goto out;
    cfg.headers = (const char *const *)headers;
    const json_t *jt = json_object_get(entry, "timeout_ms");
    if (jt) {
        json_int_t ms = json_integer_value(jt);
        if (!json_is_integer(jt) || ms < 1 || ms > 3600000) {
            err_set(err, "McpConfig", "MCP server '%s': \"timeout_ms\" must be 1..3600000", name);
            goto out;
        }
        cfg.call_timeout_ms = (long)ms;
    }
    c = mcp_client_new(&cfg, err);
out:
    strv_free(argv);
    strv_free(env);
    strv_free(headers);
    return c;
}

/* ---- Incoming messages ---------------------------------------------------------------------- */

void mcp__fail_all(struct mcp_client *c, const char *code, const char *fmt, ...)
{
    char msg[ERR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    int failed = 0;
    pthread_mutex_lock(&c->mu);
    for (struct pending *p = c->pending; p; p = p->next) {
        if (p->done)
            continue;
        p->done = 1;
        failed++;
        err_set(&p->err, code, "%s", msg);
        sched_event_signal(p->ev);
    }
    pthread_mutex_unlock(&c->mu);
    log_at(failed ? LL_WARN : LL_DEBUG, "mcp", "%s (%d request(s) failed)", msg, failed);
}

char *mcp__answer(const json_t *msg)
{
    const char *method = json_string_value(json_object_get(msg, "method"));
    json_t *id = json_object_get(msg, "id");
    if (!method || !id)
        return NULL;
    json_t *r = json_pack("{s:s, s:O}", "jsonrpc", "2.0", "id", id);
    if (strcmp(method, "ping") == 0)
        json_object_set_new(r, "result", json_object());
    else
        json_object_set_new(r, "error",
                            json_pack("{s:i, s:s}", "code", -32601, "message",
                                      "method not supported by this client"));
    char *s = jsontext_dump(r);
    json_decref(r);
    return s;
}

/* Applies one server notification. */
static void on_notification(struct mcp_client *c, const char *method, const json_t *msg)
{
    if (strcmp(method, "notifications/tools/list_changed") == 0) {
        pthread_mutex_lock(&c->mu);
        c->tools_gen++;
        pthread_mutex_unlock(&c->mu);
        log_at(LL_INFO, "mcp", "server '%s' changed its tool list", c->name);
    } else if (strcmp(method, "notifications/message") == 0) {
        char *s = jsontext_dump(json_object_get(msg, "params"));
        log_at(LL_DEBUG, "mcp", "server '%s' says %s", c->name, s ? s : "");
        free(s);
    }
    /* progress, cancelled and resource notifications need nothing from us. */
}

/* Checks a reply's shape: exactly one of result and error; an error has code and message. */
static int reply_valid(const json_t *msg, char *why, size_t len)
{
    const json_t *res = json_object_get(msg, "result"), *e = json_object_get(msg, "error");
    if (!res == !e) {
        snprintf(why, len, "a reply must carry exactly one of \"result\" and \"error\"");
        return 0;
    }
    if (e && (!json_is_integer(json_object_get(e, "code")) ||
              !json_is_string(json_object_get(e, "message")))) {
        snprintf(why, len, "an error reply needs an integer \"code\" and a string \"message\"");
        return 0;
    }
    return 1;
}

/* Delivers one reply to its waiting request. Returns the id or -1. */
static long long on_reply(struct mcp_client *c, json_t *msg)
{
    long long got = -1;
    const json_t *jid = json_object_get(msg, "id");
    if (!json_is_integer(jid)) {
        mcp__fail_all(c, "McpProtocol", "server '%s' sent a reply whose id is not one of ours",
                      c->name);
        return -1;
    }
    long long id = json_integer_value(jid);
    char why[160] = "";
    int valid = reply_valid(msg, why, sizeof why);
    pthread_mutex_lock(&c->mu);
    struct pending *p = c->pending;
    while (p && p->id != id)
        p = p->next;
    int cancelled = 0;
    for (size_t i = 0; i < CANCELLED_RING; i++)
        cancelled |= c->cancelled[i] == id && id > 0;
    if (p && !p->done) {
        p->done = 1;
        if (valid)
            p->reply = json_incref(msg);
        else
            err_set(&p->err, "McpProtocol", "server '%s' sent a bad reply to request %lld: %s",
                    c->name, id, why);
        got = id;
        sched_event_signal(p->ev);
    }
    pthread_mutex_unlock(&c->mu);
    if (!p && !cancelled)
        mcp__fail_all(c, "McpProtocol",
                      "server '%s' answered id %lld, which no request is waiting for", c->name, id);
    return got;
}

/* Handles one parsed message. *answer collects the reply to a server request. */
static long long dispatch_one(struct mcp_client *c, json_t *msg, char **answer)
{
    long long got = -1;
    if (!json_is_object(msg) || !json_is_string(json_object_get(msg, "jsonrpc")) ||
        strcmp(json_string_value(json_object_get(msg, "jsonrpc")), "2.0") != 0) {
        mcp__fail_all(c, "McpProtocol", "server '%s' sent something that is not JSON-RPC 2.0",
                      c->name);
        goto out;
    }
    const char *method = json_string_value(json_object_get(msg, "method"));
    if (method && json_object_get(msg, "id")) {
        if (answer && !*answer)
            *answer = mcp__answer(msg);
    } else if (method) {
        on_notification(c, method, msg);
    } else {
        got = on_reply(c, msg);
    }
out:
    return got;
}

long long mcp__dispatch(struct mcp_client *c, const char *text, size_t len, char **answer)
{
    long long got = -1;
    json_error_t je;
    json_t *msg = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    if (!msg) {
        mcp__fail_all(c, "McpProtocol", "server '%s' sent invalid JSON: %s (line %d)", c->name,
                      je.text, je.line);
        return -1;
    }
    if (json_is_array(msg)) {
        size_t i;
        json_t *m;
        json_array_foreach(msg, i, m) {
            long long g = dispatch_one(c, m, answer);
            if (g >= 0)
                got = g;
        }
    } else {
        got = dispatch_one(c, msg, answer);
    }
    json_decref(msg);
    return got;
}

/* ---- Requests ------------------------------------------------------------------------------- */

static void pending_remove(struct mcp_client *c, struct pending *p)
{
    struct pending **pp = &c->pending;
    while (*pp && *pp != p)
        pp = &(*pp)->next;
    if (*pp)
        *pp = p->next;
    json_decref(p->reply);
    sched_event_free(p->ev);
    free(p);
}

static void send_cancelled(struct mcp_client *c, long long id, const char *reason)
{
    json_t *n = json_pack("{s:s, s:s, s:{s:I, s:s}}", "jsonrpc", "2.0", "method",
                          "notifications/cancelled", "params", "requestId", (json_int_t)id,
                          "reason", reason);
    char *s = jsontext_dump(n);
    struct err e = {0};
    if (c->ops->send(c->t, s, -1, clock_mono_ms() + 2000, &e) != 0)
        log_at(LL_INFO, "mcp", "cannot cancel request %lld on '%s': %s", id, c->name, e.message);
    free(s);
    json_decref(n);
}

/* Sends a notification (no reply). */
static int notify(struct mcp_client *c, const char *method, int64_t deadline, struct err *err)
{
    json_t *n = json_pack("{s:s, s:s}", "jsonrpc", "2.0", "method", method);
    char *s = jsontext_dump(n);
    int rc = c->ops->send(c->t, s, -1, deadline, err);
    free(s);
    json_decref(n);
    return rc;
}

/* Sends one request and waits for its reply until deadline. On success *result is a new
 * reference to the reply's result. Returns 0, -1 with err, or MCP__SESSION_GONE. */
static int rpc(struct mcp_client *c, const char *method, const json_t *params, int64_t deadline,
               json_t **result, struct err *err)
{
    int rc = -1;
    *result = NULL;
    struct pending *p = xcalloc(1, sizeof *p);
    p->ev = sched_event_new();
    pthread_mutex_lock(&c->mu);
    p->id = ++c->next_id;
    p->next = c->pending;
    c->pending = p;
    pthread_mutex_unlock(&c->mu);
    json_t *msg = json_pack("{s:s, s:I, s:s}", "jsonrpc", "2.0", "id", (json_int_t)p->id, "method",
                            method);
    if (params)
        json_object_set(msg, "params", (json_t *)params);
    char *text = jsontext_dump(msg);
    json_decref(msg);
    struct err serr = {0};
    int src = c->ops->send(c->t, text, p->id, deadline, &serr);
    free(text);
    pthread_mutex_lock(&c->mu);
    if (src != 0 && !p->done) {
        int timed_out = strcmp(serr.code, "McpTimeout") == 0;
        if (timed_out)
            c->cancelled[c->n_cancelled++ % CANCELLED_RING] = p->id;
        long long id = p->id;
        pending_remove(c, p);
        pthread_mutex_unlock(&c->mu);
        if (err)
            *err = serr;
        if (timed_out && strcmp(method, "initialize") != 0)
            send_cancelled(c, id, "the caller gave up waiting");
        rc = src;
        goto out;
    }
    /* Park on this request's own event (never on c->mu: the mutex rule of base/sched.h). */
    for (int64_t left; !p->done && (left = deadline - clock_mono_ms()) > 0;) {
        pthread_mutex_unlock(&c->mu);
        sched_event_wait(p->ev, left > INT32_MAX ? INT32_MAX : (int)left);
        pthread_mutex_lock(&c->mu);
    }
    if (!p->done) {
        long long id = p->id;
        c->cancelled[c->n_cancelled++ % CANCELLED_RING] = id;
        pending_remove(c, p);
        pthread_mutex_unlock(&c->mu);
        err_set(err, "McpTimeout", "server '%s' did not answer %s in time", c->name, method);
        if (strcmp(method, "initialize") != 0)
            send_cancelled(c, id, "the caller gave up waiting");
        goto out;
    }
    if (!p->reply) {
        if (err)
            *err = p->err;
    } else if (json_object_get(p->reply, "error")) {
        const json_t *e = json_object_get(p->reply, "error");
        err_set(err, "McpToolError", "server '%s' answered %s with error %lld: %s", c->name, method,
                (long long)json_integer_value(json_object_get(e, "code")),
                json_string_value(json_object_get(e, "message")));
    } else if (!json_is_object(json_object_get(p->reply, "result"))) {
        err_set(err, "McpProtocol", "server '%s' answered %s with a result that is not an object",
                c->name, method);
    } else {
        *result = json_incref(json_object_get(p->reply, "result"));
        rc = 0;
    }
    pending_remove(c, p);
    pthread_mutex_unlock(&c->mu);
out:
    return rc;
}

/* Checks an initialize result and records the version. Returns 0 or -1 with err. */
static int accept_init(struct mcp_client *c, const json_t *res, struct err *err)
{
    const char *v = json_string_value(json_object_get(res, "protocolVersion"));
    if (!v)
        return err_set(err, "McpProtocol", "server '%s': initialize result has no protocolVersion",
                       c->name);
    int known = 0;
    for (size_t i = 0; i < sizeof versions / sizeof versions[0]; i++)
        known |= strcmp(v, versions[i]) == 0;
    if (!known)
        return err_set(err, "McpVersion",
                       "server '%s' speaks MCP %.32s; this client speaks %s, 2025-06-18 and "
                       "2025-03-26",
                       c->name, v, MCP_PROTOCOL_VERSION);
    if (!json_is_object(json_object_get(res, "capabilities")))
        return err_set(err, "McpProtocol", "server '%s': initialize result has no capabilities",
                       c->name);
    const json_t *info = json_object_get(res, "serverInfo");
    if (!json_is_object(info) || !json_is_string(json_object_get(info, "name")))
        return err_set(err, "McpProtocol", "server '%s': initialize result has no serverInfo.name",
                       c->name);
    pthread_mutex_lock(&c->mu);
    snprintf(c->version, sizeof c->version, "%s", v);
    c->tools_gen++;
    pthread_mutex_unlock(&c->mu);
    return 0;
}

/* Makes sure the connection is started and initialized. Returns 0 or -1 with err. */
static int ensure_ready(struct mcp_client *c, int64_t deadline, struct err *err)
{
    int rc = -1;
    json_t *res = NULL;
    sched_mutex_lock(c->life);
    int alive = c->started && c->ops->alive(c->t);
    if (c->ready && alive) {
        rc = 0;
        goto out;
    }
    if (c->started && !alive) {
        c->crashes++;
        long wait = BACKOFF_BASE_MS;
        for (int i = 1; i < c->crashes && wait < BACKOFF_MAX_MS; i++)
            wait *= 2;
        if (wait > BACKOFF_MAX_MS)
            wait = BACKOFF_MAX_MS;
        c->next_start_ms = clock_mono_ms() + wait;
        log_at(LL_WARN, "mcp", "server '%s' is gone; restarting in %ld ms", c->name, wait);
    }
    if (c->started) {
        c->ops->stop(c->t);
        c->started = 0;
        c->ready = 0;
    }
    int64_t now = clock_mono_ms();
    if (c->next_start_ms > now) {
        if (c->next_start_ms > deadline) {
            err_set(err, "McpUnavailable", "server '%s' keeps failing; next restart in %lld ms",
                    c->name, (long long)(c->next_start_ms - now));
            goto out;
        }
        sched_sleep_ms((long)(c->next_start_ms - now));
    }
    if (c->ops->start(c->t, err) != 0) {
        c->crashes++;
        c->next_start_ms = clock_mono_ms() + BACKOFF_BASE_MS;
        goto out;
    }
    c->started = 1;
    c->starts++;
    int64_t init_deadline = clock_mono_ms() + c->init_timeout_ms;
    if (init_deadline > deadline)
        init_deadline = deadline;
    json_t *params = json_pack("{s:s, s:{}, s:{s:s, s:s}}", "protocolVersion", MCP_PROTOCOL_VERSION,
                               "capabilities", "clientInfo", "name", "parley", "version",
                               PARLEY_VERSION);
    int r = rpc(c, "initialize", params, init_deadline, &res, err);
    json_decref(params);
    if (r != 0 || accept_init(c, res, err) != 0)
        goto out;
    c->ops->negotiated(c->t, c->version);
    if (notify(c, "notifications/initialized", init_deadline, err) != 0)
        goto out;
    c->ready = 1;
    rc = 0;
out:
    if (rc != 0 && c->started && !c->ready) {
        /* A half-initialized connection is useless: drop it so the next call starts over. */
        c->ops->stop(c->t);
        c->started = 0;
    }
    sched_mutex_unlock(c->life);
    json_decref(res);
    return rc;
}

/* Runs one request on a ready connection, re-initializing once when the session is gone. */
static int request(struct mcp_client *c, const char *method, const json_t *params, long timeout_ms,
                   json_t **result, struct err *err)
{
    int rc = -1;
    int64_t deadline = clock_mono_ms() + (timeout_ms > 0 ? timeout_ms : c->call_timeout_ms);
    for (int attempt = 0; attempt < 2; attempt++) {
        if (ensure_ready(c, deadline, err) != 0)
            goto out;
        rc = rpc(c, method, params, deadline, result, err);
        if (rc != MCP__SESSION_GONE)
            break;
        log_at(LL_INFO, "mcp", "server '%s' forgot our session; initializing again", c->name);
        sched_mutex_lock(c->life);
        c->ready = 0;
        sched_mutex_unlock(c->life);
        rc = -1;
    }
    if (rc == 0) {
        sched_mutex_lock(c->life);
        c->crashes = 0;
        sched_mutex_unlock(c->life);
    }
out:
    return rc;
}

/* ---- Calls ---------------------------------------------------------------------------------- */

/* Validates one tools/list entry and appends its public fields to out. */
static int add_tool(struct mcp_client *c, json_t *out, const json_t *t, size_t i, struct err *err)
{
    const char *name = json_string_value(json_object_get(t, "name"));
    const json_t *schema = json_object_get(t, "inputSchema");
    const json_t *desc = json_object_get(t, "description");
    if (!name || !name[0])
        return err_set(err, "McpProtocol", "server '%s': tools[%zu] has no name", c->name, i);
    if (!json_is_object(schema))
        return err_set(err, "McpProtocol", "server '%s': tool '%s' has no inputSchema object",
                       c->name, name);
    if (desc && !json_is_string(desc))
        return err_set(err, "McpProtocol", "server '%s': tool '%s' has a non-string description",
                       c->name, name);
    size_t j;
    json_t *seen;
    json_array_foreach(out, j, seen) {
        if (strcmp(json_string_value(json_object_get(seen, "name")), name) == 0) {
            log_at(LL_WARN, "mcp", "server '%s' lists tool '%s' twice; keeping the first", c->name,
                   name);
            return 0;
        }
    }
    json_t *o = json_pack("{s:s, s:s, s:O}", "name", name, "description",
                          desc ? json_string_value(desc) : "", "inputSchema", schema);
    const json_t *title = json_object_get(t, "title"), *os = json_object_get(t, "outputSchema");
    if (json_is_string(title))
        json_object_set(o, "title", (json_t *)title);
    if (json_is_object(os))
        json_object_set(o, "outputSchema", (json_t *)os);
    json_array_append_new(out, o);
    return 0;
}

int mcp_list_tools(struct mcp_client *c, json_t **tools_out, struct err *err)
{
    int rc = -1;
    json_t *all = NULL, *res = NULL;
    char *cursor = NULL;
    *tools_out = NULL;
    pthread_mutex_lock(&c->mu);
    if (c->tools && c->cache_gen == c->tools_gen) {
        *tools_out = json_deep_copy(c->tools);
        pthread_mutex_unlock(&c->mu);
        return 0;
    }
    pthread_mutex_unlock(&c->mu);
    all = json_array();
    unsigned gen = 0;
    for (int page = 0;; page++) {
        if (page == LIST_PAGES_MAX) {
            err_set(err, "McpProtocol", "server '%s' sent more than %d tools/list pages", c->name,
                    LIST_PAGES_MAX);
            goto out;
        }
        json_t *params = cursor ? json_pack("{s:s}", "cursor", cursor) : json_object();
        int r = request(c, "tools/list", params, 0, &res, err);
        json_decref(params);
        if (r != 0)
            goto out;
        if (page == 0) {
            pthread_mutex_lock(&c->mu);
            gen = c->tools_gen;
            pthread_mutex_unlock(&c->mu);
        }
        const json_t *tools = json_object_get(res, "tools");
        if (!json_is_array(tools)) {
            err_set(err, "McpProtocol", "server '%s': tools/list result has no tools array",
                    c->name);
            goto out;
        }
        size_t i;
        json_t *t;
        json_array_foreach(tools, i, t) {
            if (add_tool(c, all, t, i, err) != 0)
                goto out;
        }
        if (json_array_size(all) > TOOLS_MAX) {
            err_set(err, "McpProtocol", "server '%s' offers more than %d tools", c->name,
                    TOOLS_MAX);
            goto out;
        }
        const json_t *next = json_object_get(res, "nextCursor");
        if (next && !json_is_string(next) && !json_is_null(next)) {
            err_set(err, "McpProtocol", "server '%s': nextCursor is not a string", c->name);
            goto out;
        }
        free(cursor);
        cursor = json_string_length(next) ? xstrdup(json_string_value(next)) : NULL;
        json_decref(res);
        res = NULL;
        if (!cursor)
            break;
    }
    pthread_mutex_lock(&c->mu);
    json_decref(c->tools);
    c->tools = json_deep_copy(all);
    c->cache_gen = gen;
    pthread_mutex_unlock(&c->mu);
    *tools_out = all;
    all = NULL;
    rc = 0;
out:
    free(cursor);
    json_decref(res);
    json_decref(all);
    return rc;
}

int mcp_call_tool(struct mcp_client *c, const char *tool, const json_t *args, long timeout_ms,
                  json_t **result_out, struct err *err)
{
    int rc = -1;
    json_t *res = NULL, *params = NULL;
    *result_out = NULL;
    if (!tool || !tool[0] || (args && !json_is_object(args))) {
        err_set(err, "InvalidRequest",
                "server '%s': a tool call needs a tool name and an "
                "object of arguments",
                c->name);
        goto out;
    }
    params = json_pack("{s:s, s:o}", "name", tool, "arguments",
                       args ? json_incref((json_t *)args) : json_object());
    if (request(c, "tools/call", params, timeout_ms, &res, err) != 0)
        goto out;
    const json_t *content = json_object_get(res, "content");
    const json_t *is_error = json_object_get(res, "isError");
    const json_t *sc = json_object_get(res, "structuredContent");
    if (!json_is_array(content)) {
        err_set(err, "McpProtocol", "server '%s': tools/call '%s' result has no content array",
                c->name, tool);
        goto out;
    }
    if (is_error && !json_is_boolean(is_error)) {
        err_set(err, "McpProtocol", "server '%s': tools/call '%s' isError is not a boolean",
                c->name, tool);
        goto out;
    }
    if (sc && !json_is_object(sc)) {
        err_set(err, "McpProtocol",
                "server '%s': tools/call '%s' structuredContent is not an "
                "object",
                c->name, tool);
        goto out;
    }
    json_t *r = json_deep_copy(res);
    json_object_set_new(r, "isError", json_boolean(json_is_true(is_error)));
    *result_out = r;
    rc = 0;
out:
    json_decref(params);
    json_decref(res);
    return rc;
}

int mcp_ping(struct mcp_client *c, long timeout_ms, struct err *err)
{
    json_t *res = NULL;
    int rc = request(c, "ping", NULL, timeout_ms, &res, err);
    json_decref(res);
    return rc;
}

const char *mcp_client_protocol_version(struct mcp_client *c)
{
    return c->version;
}

int mcp_client_starts(struct mcp_client *c)
{
    sched_mutex_lock(c->life);
    int n = c->starts;
    sched_mutex_unlock(c->life);
    return n;
}

/* ---- Naming --------------------------------------------------------------------------------- */

char *mcp_tool_public_name(const char *server, const char *tool)
{
    char *full = xasprintf("%s__%s", server ? server : "", tool ? tool : "");
    size_t n = strlen(full);
    uint32_t h = 2166136261u; /* FNV-1a over the unsanitized name */
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char)full[i]) * 16777619u;
        char ch = full[i];
        int ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
                 ch == '_' || ch == '-';
        if (!ok)
            full[i] = '_';
    }
    if (n > PUBLIC_NAME_MAX)
        snprintf(full + PUBLIC_NAME_MAX - 9, 10, "_%08x", (unsigned)h);
    return full;
}
