/*
 * api.c - routes of the HTTP API and the mapping from error values to HTTP statuses.
 */
#include "runtime/api.h"

#include <assert.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <string.h>
#include <strings.h>

#include "agent/agent_file.h"
#include "agent/transcript.h"
#include "edge/jwt.h"
#include "edge/ratelimit.h"
#include "ptest/scenario.h"
#include "agent/turn.h"
#include "archive/archive.h"
#include "runtime/analytics.h"
#include "runtime/chat_stream.h"
#include "runtime/operators.h"
#include "runtime/app.h"
#include "queue/queue.h"
#include "telemetry/metrics.h"
#include "telemetry/trace.h"
#include "base/clock.h"
#include "base/buf.h"
#include "base/errcode.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/sched.h"
#include "base/text.h"
#include "base/xmalloc.h"

/* ---------------------------------------------------------------- the API object */

#define API_MAX_ORIGINS 32     /* entries in PARLEY_ALLOWED_ORIGINS */
#define API_MAX_ORIGIN_LEN 200 /* bytes in one origin */

struct api {
    struct app *rt;                    /* the wired application (borrowed) */
    struct jwt_verifier *jwt;          /* customer-token verifier (NULL: local demo mode) */
    struct ratelimit *by_addr;         /* POST /chat per client address (NULL: off) */
    struct ratelimit *by_session;      /* POST /chat per session (NULL: off) */
    struct ratelimit_proxies *proxies; /* PARLEY_TRUSTED_PROXIES */
    char *origins[API_MAX_ORIGINS];    /* PARLEY_ALLOWED_ORIGINS (owned) */
    int norigins;                      /* origins in use */
    struct operators *operators;       /* PARLEY_OPERATORS_FILE (NULL: none) */
};

#define API_RATE_KEYS 10000 /* buckets kept per limiter (idle ones are evicted first) */

#define API_MAX_PEM (64 * 1024) /* bytes in a PEM key file */

/* PARLEY_USER_JWT_PUBLIC_KEY holds the PEM text itself or the path of a PEM file. Returns the
 * text (caller frees), "" for none, or NULL with err. */
static char *load_pem(const char *setting, struct err *err)
{
    char *text = NULL;
    FILE *f = NULL;
    struct buf b;
    buf_init(&b, API_MAX_PEM);
    if (!setting || !setting[0] || strncmp(setting, "-----BEGIN", 10) == 0) {
        text = xstrdup(setting ? setting : "");
        goto out;
    }
    f = fopen(setting, "rb");
    if (!f) {
        err_set(err, "InvalidConfig", "cannot open PARLEY_USER_JWT_PUBLIC_KEY file '%.200s'",
                setting);
        goto out;
    }
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
        if (buf_add(&b, chunk, n) < 0) {
            err_set(err, "InvalidConfig",
                    "PARLEY_USER_JWT_PUBLIC_KEY file '%.200s' is over %d "
                    "bytes",
                    setting, API_MAX_PEM);
            goto out;
        }
    }
    buf_add(&b, "", 0);
    text = buf_take(&b, NULL);
out:
    if (f)
        fclose(f);
    buf_release(&b);
    return text;
}

/* Parses PARLEY_ALLOWED_ORIGINS: comma-separated "scheme://host[:port]" with no path. */
static int parse_origins(struct api *api, const char *list, struct err *err)
{
    const char *cursor = list ? list : "", *o;
    size_t len;
    while ((o = text_list_next(&cursor, &len)) != NULL) {
        size_t scheme = strncmp(o, "https://", 8) == 0 ? 8 : strncmp(o, "http://", 7) == 0 ? 7 : 0;
        if (!scheme || len <= scheme || len > API_MAX_ORIGIN_LEN ||
            memchr(o + scheme, '/', len - scheme) || api->norigins >= API_MAX_ORIGINS)
            return err_set(err, "InvalidConfig",
                           "PARLEY_ALLOWED_ORIGINS entry '%.*s' is not an origin like "
                           "https://shop.example.com (at most %d)",
                           (int)(len > 80 ? 80 : len), o, API_MAX_ORIGINS);
        api->origins[api->norigins++] = xstrndup(o, len);
    }
    return 0;
}

struct api *api_new(struct app *rt, struct err *err)
{
    struct api *api = xcalloc(1, sizeof *api);
    api->rt = rt;
    const char *secret = rt->cfg->user_jwt_secret ? rt->cfg->user_jwt_secret : "";
    char *pem = load_pem(rt->cfg->user_jwt_public_key, err);
    if (!pem)
        goto fail;
    if (secret[0] || pem[0]) {
        api->jwt = jwt_verifier_new((const unsigned char *)secret, strlen(secret), pem, err);
        if (!api->jwt)
            goto fail;
    }
    if (parse_origins(api, rt->cfg->allowed_origins, err) < 0)
        goto fail;
    if (rt->cfg->operators_file && rt->cfg->operators_file[0]) {
        api->operators = operators_load(rt->cfg->operators_file, err);
        if (!api->operators)
            goto fail;
    }
    api->proxies = ratelimit_proxies_parse(rt->cfg->trusted_proxies, err);
    if (!api->proxies)
        goto fail;
    if (rt->cfg->rate_limit_per_min > 0)
        api->by_addr = ratelimit_new(rt->cfg->rate_limit_per_min, API_RATE_KEYS);
    if (rt->cfg->session_rate_limit_per_min > 0)
        api->by_session = ratelimit_new(rt->cfg->session_rate_limit_per_min, API_RATE_KEYS);
    free(pem);
    return api;
fail:
    free(pem);
    api_free(api);
    return NULL;
}

void api_free(struct api *api)
{
    if (!api)
        return;
    jwt_verifier_free(api->jwt);
    ratelimit_free(api->by_addr);
    ratelimit_free(api->by_session);
    ratelimit_proxies_free(api->proxies);
    operators_free(api->operators);
    for (int i = 0; i < api->norigins; i++)
        free(api->origins[i]);
    free(api);
}

int api_demo_mode(const struct api *api)
{
    return api->jwt == NULL;
}

/* ---------------------------------------------------------------- responses */

/* Reals print with JSONTEXT_READABLE_PRECISION significant digits. The text is jsontext's
 * (json_dumps's text, without its cycle check's snprintf per container: 2.6% of a continuing
 * turn's CPU samples); a body it cannot write (NULL, nested past JSONTEXT_DEPTH_MAX) is a 500. */
#define REPLY_REAL_DIGITS JSONTEXT_READABLE_PRECISION

static void reply_json(struct http_response *resp, int status, json_t *body)
{
    char *text = body ? jsontext_dump_prec(body, REPLY_REAL_DIGITS) : NULL;
    json_decref(body);
    if (!text) {
        log_at(LL_WARN, "api", "a %d response body could not be written as JSON", status);
        status = 500;
        text = xstrdup("{\"error\":{\"code\":\"InternalError\","
                       "\"message\":\"the response could not be written\"}}");
    }
    resp->status = status;
    resp->content_type = "application/json";
    resp->body = text;
    resp->body_len = strlen(text);
}

static void reply_error(struct http_response *resp, const char *code, const char *message)
{
    int status = errcode_status(code);
    if (status >= 500)
        log_at(LL_WARN, "api", "request failed: %s: %s", code, message);
    reply_json(resp, status,
               json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message));
}

static void reply_err(struct http_response *resp, const struct err *e)
{
    reply_error(resp, e->code[0] ? e->code : "InternalError",
                e->message[0] ? e->message : "internal error");
}

static int is_operator(const struct api *api, const struct http_request *req,
                       struct operator_id *who);

/* ---------------------------------------------------------------- customer identity */

/* Who is asking. With a verifier the customer is the `sub` of a valid bearer token; in demo mode
 * the userId the client claims (body or ?userId=) is trusted. */
struct caller {
    int operator;                  /* 1: the operator token */
    char user[JWT_SUB_MAX + 1];    /* the customer's userId ("" anonymous) */
    char email[JWT_EMAIL_MAX + 1]; /* verified email claim ("" none) */
};

/* Fills c for a request claiming userId `claimed` (NULL: none). Returns 0, or -1 with err
 * "Unauthorized": a bearer token that does not verify, or a claimed userId without a token (or
 * differing from its `sub`) when customers are verified. */
static int caller_identify(struct api *api, struct http_request *req, const char *claimed,
                           struct caller *c, struct err *err)
{
    memset(c, 0, sizeof *c);
    struct operator_id who;
    if (is_operator(api, req, &who)) {
        c->operator= 1;
        return 0;
    }
    if (!api->jwt) {
        if (claimed)
            snprintf(c->user, sizeof c->user, "%s", claimed);
        return 0;
    }
    const char *auth = http_request_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0) {
        if (claimed)
            return err_set(err, "Unauthorized",
                           "a userId needs a valid customer token "
                           "(Authorization: Bearer <JWT>)");
        return 0;
    }
    struct jwt_identity id;
    json_t *claims = jwt_verify(api->jwt, auth + 7, (int64_t)(clock_now_ms() / 1000), err);
    int rc = claims ? jwt_identity(claims, &id, err) : -1;
    json_decref(claims);
    if (rc < 0)
        return -1;
    if (claimed && strcmp(claimed, id.sub) != 0)
        return err_set(err, "Unauthorized", "the userId does not match the customer token");
    snprintf(c->user, sizeof c->user, "%s", id.sub);
    snprintf(c->email, sizeof c->email, "%s", id.email);
    return 0;
}

/* 1 when the caller may see session sid, owned by owner: an operator; anyone holding the id of an
 * anonymous session (owner "guest:<sid>", the id is the key); or the owner themself. */
static int caller_may_see(const struct caller *c, const char *sid, const char *owner)
{
    if (c->operator)
        return 1;
    if (!owner)
        return 0;
    if (strncmp(owner, "guest:", 6) == 0 && strcmp(owner + 6, sid) == 0)
        return 1;
    return c->user[0] && strcmp(owner, c->user) == 0;
}

static void reply_unauthorized(struct http_response *resp, const struct err *e)
{
    http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"parley\"");
    reply_err(resp, e);
}

/* ---------------------------------------------------------------- handlers */

static int is_json_type(const char *ct)
{
    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    size_t n = strlen("application/json");
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* Puts the caller's identity into a parsed /chat request: the verified `sub` (or the trusted
 * demo userId) as "userId"; an anonymous continuation becomes "guest:<sessionId>", so the turn
 * checks the owner of the session it continues (a session with an owner is not found). */
static void request_set_user(json_t *request, const struct caller *c)
{
    const char *sid = json_string_value(json_object_get(request, "sessionId"));
    if (c->user[0]) {
        json_object_set_new(request, "userId", json_string(c->user));
        if (c->email[0]) /* verified: only a token sets it (a body field is refused) */
            json_object_set_new(request, "email", json_string(c->email));
    } else if (sid) {
        char *guest = xasprintf("guest:%s", sid);
        json_object_set_new(request, "userId", json_string(guest));
        free(guest);
    }
}

/* Takes a token from rl for key; past the limit answers 429 with Retry-After and returns 0. */
static int within_limit(struct ratelimit *rl, const char *key, const char *what,
                        struct http_response *resp)
{
    int wait_s = rl ? ratelimit_take(rl, key, clock_mono_us() / 1000) : 0;
    if (wait_s == 0)
        return 1;
    char secs[16], msg[160];
    snprintf(secs, sizeof secs, "%d", wait_s);
    snprintf(msg, sizeof msg, "too many messages %s; retry in %d s", what, wait_s);
    http_response_header(resp, "Retry-After", secs);
    reply_error(resp, "TooManyRequests", msg);
    return 0;
}

/* POST /chat's checks before its turn runs: the address's rate limit, the body's size and type,
 * the caller, the session's rate limit. Returns the request (its userId set to the caller's), or
 * NULL with resp answered. Out of line (see SCHED_OUT_OF_LINE): none of this is live while the turn
 * waits. */
static SCHED_OUT_OF_LINE json_t *chat_admit(struct api *api, struct http_request *req,
                                            struct http_response *resp)
{
    char peer[RATELIMIT_ADDR_MAX], client[RATELIMIT_ADDR_MAX];
    http_request_peer(req, peer, sizeof peer);
    ratelimit_client_address(api->proxies, peer, http_request_header(req, "X-Forwarded-For"),
                             client);
    if (!within_limit(api->by_addr, client, "from this address", resp))
        return NULL;
    if (req->body_too_large) {
        reply_error(resp, "PayloadTooLarge", "request body is larger than 65536 bytes");
        return NULL;
    }
    const char *ct = http_request_header(req, "Content-Type");
    if (!is_json_type(ct)) {
        char msg[256];
        snprintf(msg, sizeof msg, "Content-Type must be application/json (got '%.100s')",
                 ct ? ct : "none");
        reply_error(resp, "UnsupportedMediaType", msg);
        return NULL;
    }
    struct err e;
    err_clear(&e);
    json_t *request = turn_parse_request(req->body, req->body_len, &e);
    if (!request) {
        reply_err(resp, &e);
        return NULL;
    }
    struct caller c;
    if (caller_identify(api, req, json_string_value(json_object_get(request, "userId")), &c, &e) <
        0) {
        json_decref(request);
        reply_unauthorized(resp, &e);
        return NULL;
    }
    request_set_user(request, &c);
    const char *sid = json_string_value(json_object_get(request, "sessionId"));
    if (sid && !within_limit(api->by_session, sid, "in this session", resp)) {
        json_decref(request);
        return NULL;
    }
    return request;
}

static void handle_chat(struct api *api, struct http_request *req, struct http_response *resp)
{
    struct agent *a = &api->rt->agent;
    json_t *request = chat_admit(api, req, resp);
    if (!request)
        return;
    /* On the heap: this frame is held while the turn waits on its model (see SCHED_OUT_OF_LINE). */
    struct err *e = xcalloc(1, sizeof *e);
    const char *accept = http_request_header(req, "Accept");
    if (accept && strstr(accept, "text/event-stream")) {
        json_t *stolen = request;
        if (chat_stream_start(a, api->rt->sched, stolen, agent_trace_current(), resp, e) < 0) {
            json_decref(stolen);
            reply_err(resp, e);
        }
        free(e);
        return;
    }
    /* With an Idempotency-Key the first request runs the turn and a retry gets its response. */
    int replayed = 0;
    json_t *out = turn_run_idempotent(a, http_request_header(req, "Idempotency-Key"), req->body,
                                      req->body_len, request, &replayed, e);
    json_decref(request);
    if (!out) {
        reply_err(resp, e);
    } else {
        if (replayed)
            http_response_header(resp, "Idempotent-Replayed", "true");
        reply_json(resp, 200, out);
    }
    free(e);
}

/* GET /sessions/{id}: the transcript, to its own customer (token `sub`, or ?userId= in demo
 * mode), to anyone holding an anonymous session's id, or to an operator; to anyone else the same
 * 404 as for a session that does not exist. */
static void handle_session(struct api *api, const char *id, struct http_request *req,
                           struct http_response *resp)
{
    struct agent *a = &api->rt->agent;
    struct err e;
    err_clear(&e);
    struct caller c;
    if (caller_identify(api, req, http_request_query(req, "userId"), &c, &e) < 0) {
        reply_unauthorized(resp, &e);
        return;
    }
    if (!turn_session_id_valid(id)) {
        reply_error(resp, "NotFound", "session not found");
        return;
    }
    json_t *doc = transcript_document(a->store, id, &e);
    if (!doc) {
        reply_err(resp, &e);
        return;
    }
    if (!caller_may_see(&c, id, json_string_value(json_object_get(doc, "userId")))) {
        json_decref(doc);
        reply_error(resp, "NotFound", "session not found");
        return;
    }
    /* A pending confirmation, so a reloaded chat page can ask again (Yes/No). */
    json_t *session = NULL;
    if (store_session_get(a->store, id, &session, &e) == 0) {
        json_t *p = json_object_get(json_object_get(session, "context"), "pendingConfirmation");
        if (json_is_object(p))
            json_object_set_new(doc, "confirmation",
                                json_pack("{s:O?, s:O?, s:O?}", "tool", json_object_get(p, "tool"),
                                          "input", json_object_get(p, "input"), "prompt",
                                          json_object_get(p, "prompt")));
    }
    json_decref(session);
    reply_json(resp, 200, doc);
}

/* GET /sessions/{id}/scenario (operator): "Save as test", a `parley test` scenario built from the
 * transcript (issue 12), served as a download. */
static void handle_session_scenario(struct agent *a, const char *id, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    if (!turn_session_id_valid(id)) {
        reply_error(resp, "NotFound", "session not found");
        return;
    }
    json_t *doc = transcript_document(a->store, id, &e);
    if (!doc) {
        reply_err(resp, &e);
        return;
    }
    json_t *sc = scenario_from_transcript(doc);
    json_decref(doc);
    if (!sc) {
        reply_error(resp, "NotFound", "the session has no customer message to make a test from");
        return;
    }
    char disposition[160];
    snprintf(disposition, sizeof disposition, "attachment; filename=\"session-%.64s.json\"", id);
    http_response_header(resp, "Content-Disposition", disposition);
    reply_json(resp, 200, sc);
}

static void handle_ticket_list(struct agent *a, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    json_t *list = NULL;
    if (store_tickets_list(a->store, NULL, 500, &list, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
        json_object_del(t, "userId");
    reply_json(resp, 200, json_pack("{s:o}", "tickets", list));
}

/* ---------------------------------------------------------------- operator APIs */

/* Compares the SHA-256 digests in constant time, so neither the position of the first difference
 * nor the token's length leaks through timing. */
static int token_equal(const char *a, const char *b)
{
    unsigned char da[SHA256_DIGEST_LENGTH], db[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)a, strlen(a), da);
    SHA256((const unsigned char *)b, strlen(b), db);
    return CRYPTO_memcmp(da, db, sizeof da) == 0;
}

/* 1 when the request carries the operator token or a named operator's token
 * (PARLEY_OPERATORS_FILE), with who filled: the named operator, or "operator" with role admin for
 * the shared token. */
static int is_operator(const struct api *api, const struct http_request *req,
                       struct operator_id *who)
{
    const char *token = api->rt->cfg->operator_token;
    const char *auth = http_request_header(req, "Authorization");
    if (!auth || strncasecmp(auth, "Bearer ", 7) != 0)
        return 0;
    if (operators_find(api->operators, auth + 7, who) == 0)
        return 1;
    if (token && token[0] && token_equal(auth + 7, token)) {
        snprintf(who->name, sizeof who->name, "operator");
        who->role = OPERATOR_ADMIN;
        return 1;
    }
    return 0;
}

/* Returns 1 when the request comes from an operator (who filled); otherwise answers 401 and
 * returns 0. */
static int require_operator(const struct api *api, struct http_request *req,
                            struct http_response *resp, struct operator_id *who)
{
    const char *auth = http_request_header(req, "Authorization");
    if (!config_operator_apis(api->rt->cfg)) { /* a file that failed to load stopped api_new */
        http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"parley-operator\"");
        reply_error(resp, "Unauthorized",
                    "operator APIs are disabled: start the server with PARLEY_OPERATOR_TOKEN or "
                    "PARLEY_OPERATORS_FILE set");
        return 0;
    }
    if (!is_operator(api, req, who)) {
        http_response_header(resp, "WWW-Authenticate", "Bearer realm=\"parley-operator\"");
        reply_error(resp, "Unauthorized",
                    auth ? "the operator token is not valid"
                         : "an operator token is required "
                           "(Authorization: Bearer ...)");
        return 0;
    }
    return 1;
}

/* GET /tickets/{id}: the ticket names its session, whose id is the key to the transcript, and
 * ticket numbers are sequential; so a ticket is shown only to its own session (?sessionId=) or
 * to an operator. Anyone else gets the same 404 as for a ticket that does not exist. */
static void handle_ticket(struct api *api, const char *id, struct http_request *req,
                          struct http_response *resp)
{
    struct agent *a = &api->rt->agent;
    struct err e;
    err_clear(&e);
    struct caller c;
    if (caller_identify(api, req, http_request_query(req, "userId"), &c, &e) < 0) {
        reply_unauthorized(resp, &e);
        return;
    }
    json_t *ticket = NULL, *session = NULL;
    const char *sid = http_request_query(req, "sessionId");
    const char *owner = NULL;
    if (store_ticket_get(a->store, id, &ticket, &e) == 0)
        owner = json_string_value(json_object_get(ticket, "sessionId"));
    /* Beyond the session id, the caller must be allowed to see that session (its customer). */
    int allowed = owner && (c.operator||(sid && strcmp(sid, owner) == 0));
    if (allowed && !c.operator) {
        struct err se;
        err_clear(&se);
        allowed = store_session_get(a->store, owner, &session, &se) == 0 &&
                  caller_may_see(&c, owner, json_string_value(json_object_get(session, "userId")));
        json_decref(session);
    }
    if (!allowed) {
        json_decref(ticket);
        if (!err_is_set(&e) || strcmp(e.code, "NotFound") == 0) {
            char msg[160];
            snprintf(msg, sizeof msg,
                     "ticket '%.80s' not found (ask with ?sessionId= of the "
                     "session that opened it)",
                     id);
            reply_error(resp, "NotFound", msg);
        } else {
            reply_err(resp, &e);
        }
        return;
    }
    json_object_del(ticket, "userId");
    reply_json(resp, 200, ticket);
}

static json_t *parse_json_body(struct http_request *req, struct http_response *resp)
{
    if (req->body_too_large) {
        reply_error(resp, "PayloadTooLarge", "request body is larger than 65536 bytes");
        return NULL;
    }
    if (!is_json_type(http_request_header(req, "Content-Type"))) {
        reply_error(resp, "UnsupportedMediaType", "Content-Type must be application/json");
        return NULL;
    }
    json_error_t jerr;
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof msg, "request body must be a JSON object%s%s", body ? "" : ": ",
                 body ? "" : jerr.text);
        reply_error(resp, body ? "InvalidRequest" : "MalformedJson", msg);
        json_decref(body);
        return NULL;
    }
    return body;
}

/* POST /sessions/{id}/messages (operator): a named operator's message carries their name (a
 * body "name" is ignored); with the shared token only, the body's optional "name" is used. */
static void handle_operator_message(struct agent *a, const char *id, const struct operator_id *who,
                                    struct http_request *req, struct http_response *resp)
{
    json_t *body = parse_json_body(req, resp);
    if (!body)
        return;
    const char *role = json_string_value(json_object_get(body, "role"));
    json_t *content = json_object_get(body, "content");
    json_t *name = json_object_get(body, "name"); /* optional: the operator's name */
    struct err e;
    err_clear(&e);
    json_t *session = NULL;
    if (!role || strcmp(role, "operator") != 0) {
        reply_error(resp, "InvalidRequest", "'role' must be \"operator\"");
    } else if (!json_is_string(content) || json_string_length(content) == 0 ||
               json_string_length(content) > 8000) {
        reply_error(resp, "InvalidRequest", "'content' must be a string of 1 to 8000 bytes");
    } else if (name && (!json_is_string(name) || json_string_length(name) == 0 ||
                        json_string_length(name) > 64)) {
        reply_error(resp, "InvalidRequest", "'name' must be a string of 1 to 64 bytes");
    } else if (!turn_session_id_valid(id) || store_session_get(a->store, id, &session, &e) < 0) {
        reply_error(resp, "NotFound", "session not found");
    } else {
        json_int_t now = clock_now_ms();
        json_t *msg = json_pack("{s:s, s:O, s:I}", "role", "operator", "content", content,
                                "timestamp", now);
        json_t *signed_in = who ? json_string(who->name) : NULL;
        if (signed_in)
            name = signed_in;
        if (name)
            json_object_set(msg, "name", name);
        json_t *turn = json_pack("{s:s, s:O, s:b, s:[O], s:b}", "sessionId", id, "userId",
                                 json_object_get(session, "userId"), "isNew", 0, "messages", msg,
                                 "noTurn", 1);
        int turn_no = 0;
        if (store_turn_save(a->store, turn, &turn_no, &e) < 0) {
            reply_err(resp, &e);
        } else {
            char ts[40];
            clock_iso8601(now, ts, sizeof ts);
            json_t *out = json_pack("{s:s, s:{s:s, s:O, s:s}}", "sessionId", id, "message", "role",
                                    "operator", "content", content, "timestamp", ts);
            if (name)
                json_object_set(json_object_get(out, "message"), "name", name);
            reply_json(resp, 201, out);
        }
        json_decref(signed_in);
        json_decref(turn);
        json_decref(msg);
    }
    json_decref(session);
    json_decref(body);
}

/* POST /sessions/{id}/release and /takeover (operator): sets the session's status (active: the
 * agent answers again; handoff: an operator has it and the agent stays silent). 200, or 404. */
static void handle_set_status(struct agent *a, const char *id, const char *status,
                              const char *reason, struct http_response *resp)
{
    struct err e;
    err_clear(&e);
    if (!turn_session_id_valid(id) ||
        store_session_set_status(a->store, id, status, reason, &e) < 0) {
        reply_error(resp, "NotFound", "session not found");
        return;
    }
    reply_json(resp, 200, json_pack("{s:s, s:s}", "sessionId", id, "status", status));
}

/* DELETE /sessions/{id} (operator): erases the session's queued actions, its store records
 * (turns, actions, idempotency records; tickets anonymised) and its archived transcript
 * (app_erase_session), then emits conversation_erased. 204, or 404 for an unknown session. */
static void handle_erase(struct app *rt, const char *id, struct http_response *resp)
{
    struct agent *a = &rt->agent;
    struct err e;
    err_clear(&e);
    if (app_erase_session(a->store, rt->queue, rt->archive, id, &e) < 0) {
        if (strcmp(e.code, "NotFound") == 0)
            reply_error(resp, "NotFound", "session not found");
        else
            reply_err(resp, &e);
        return;
    }
    agent_emit(a, "conversation_erased", json_pack("{s:s}", "sessionId", id));
    resp->status = 204;
}

/* DELETE /users/{id} (operator): erases every session of the user as DELETE /sessions/{id}
 * does, one conversation_erased each. 204, also for a user without sessions. */
static void handle_user_erase(struct app *rt, const char *id, struct http_response *resp)
{
    struct agent *a = &rt->agent;
    struct err e;
    err_clear(&e);
    json_t *ids = NULL;
    if (app_erase_user(a->store, rt->queue, rt->archive, id, &ids, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    size_t i;
    json_t *sid;
    json_array_foreach(ids, i, sid)
        agent_emit(a, "conversation_erased", json_pack("{s:O}", "sessionId", sid));
    json_decref(ids);
    resp->status = 204;
}

static void handle_session_list(struct agent *a, struct http_request *req,
                                struct http_response *resp)
{
    const char *status = http_request_query(req, "status");
    if (status && strcmp(status, "active") != 0 && strcmp(status, "handoff") != 0 &&
        strcmp(status, "closed") != 0) {
        reply_error(resp, "InvalidRequest", "'status' must be active, handoff or closed");
        return;
    }
    struct err e;
    err_clear(&e);
    json_t *list = NULL;
    if (store_sessions_list(a->store, status, 200, &list, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    size_t i;
    json_t *s;
    json_array_foreach(list, i, s) {
        char buf[40];
        const char *keys[] = {"createdAt", "lastActivity"};
        for (int k = 0; k < 2; k++) {
            clock_iso8601(json_integer_value(json_object_get(s, keys[k])), buf, sizeof buf);
            json_object_set_new(s, keys[k], json_string(buf));
        }
    }
    reply_json(resp, 200, json_pack("{s:o}", "sessions", list));
}

/* ---------------------------------------------------------------- static pages */

#define API_CSP                                                                                    \
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "              \
    "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
#define API_MAX_STATIC (2 * 1024 * 1024)
#define API_CACHE_PAGE "no-cache" /* our pages: revalidated on every load */
/* The widget is fetched by other sites' pages on every load: cached a while, shared caches too,
 * and loadable under their Cross-Origin-Embedder-Policy. */
#define API_CACHE_WIDGET "public, max-age=300"

static const struct {
    const char *ext;
    const char *type;
} content_types[] = {
    {".html", "text/html; charset=utf-8"},
    {".js", "text/javascript; charset=utf-8"},
    {".mjs", "text/javascript; charset=utf-8"},
    {".css", "text/css; charset=utf-8"},
    {".svg", "image/svg+xml"},
    {".png", "image/png"},
    {".ico", "image/x-icon"},
    {".json", "application/json"},
    {".txt", "text/plain; charset=utf-8"},
};

/* Serves web/<name>: names are one path segment of [A-Za-z0-9._-] not starting with '.', and the
 * extension must be a known type, so nothing outside web/ can be reached. cache is the
 * Cache-Control value (API_CACHE_PAGE for our own pages). */
static void serve_static(const struct app *rt, const char *name, const char *cache,
                         struct http_response *resp)
{
    size_t n = strlen(name);
    const char *type = NULL;
    int ok = n > 0 && n < 100 && name[0] != '.';
    for (size_t i = 0; ok && i < n; i++) {
        char c = name[i];
        ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
             c == '.' || c == '_' || c == '-';
    }
    const char *dot = ok ? strrchr(name, '.') : NULL;
    for (size_t i = 0; dot && i < sizeof content_types / sizeof content_types[0]; i++)
        if (strcmp(dot, content_types[i].ext) == 0)
            type = content_types[i].type;
    char *path = type ? xasprintf("%s/%s", rt->web_dir, name) : NULL;
    FILE *f = path ? fopen(path, "rb") : NULL;
    free(path);
    if (!f) {
        reply_error(resp, "NotFound", "no such page");
        return;
    }
    struct stat sb;
    if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > API_MAX_STATIC) {
        fclose(f);
        reply_error(resp, "NotFound", "no such page");
        return;
    }
    char *buf = xmalloc((size_t)sb.st_size + 1);
    size_t len = fread(buf, 1, (size_t)sb.st_size, f);
    fclose(f);
    resp->status = 200;
    resp->content_type = type;
    resp->body = buf;
    resp->body_len = len;
    http_response_header(resp, "Content-Security-Policy", API_CSP);
    http_response_header(resp, "X-Content-Type-Options", "nosniff");
    http_response_header(resp, "Referrer-Policy", "no-referrer");
    http_response_header(resp, "Cache-Control", cache);
}

/* ---------------------------------------------------------------- telemetry and queue */

static void handle_metrics(struct http_response *resp)
{
    char *text = NULL;
    if (metrics_render_prometheus(&text) < 0 || !text) {
        free(text);
        reply_error(resp, "InternalError", "cannot render metrics");
        return;
    }
    resp->status = 200;
    resp->content_type = METRICS_PROMETHEUS_CONTENT_TYPE;
    resp->body = text;
    resp->body_len = strlen(text);
}

static void handle_trace(const char *id, struct http_response *resp)
{
    json_t *tree = trace_id_valid(id) ? trace_store_get(id) : NULL;
    if (!tree) {
        reply_error(resp, "NotFound", "trace not found (only recent traces are kept)");
        return;
    }
    reply_json(resp, 200, tree);
}

static void handle_queue_stats(struct app *rt, struct http_response *resp)
{
    const char *names[] = {QUEUE_AGENT_ACTIONS, QUEUE_AGENT_ACTIONS_DLQ};
    json_t *queues = json_array();
    for (int i = 0; i < 2; i++) {
        struct queue_counts c = {0};
        struct err e;
        err_clear(&e);
        if (queue_counts(rt->queue, names[i], &c, &e) < 0) {
            json_decref(queues);
            reply_err(resp, &e);
            return;
        }
        json_array_append_new(queues,
                              json_pack("{s:s, s:I, s:I, s:I}", "name", names[i], "visible",
                                        (json_int_t)c.visible, "inFlight", (json_int_t)c.in_flight,
                                        "delayed", (json_int_t)c.delayed));
    }
    reply_json(resp, 200, json_pack("{s:o}", "queues", queues));
}

static void handle_queue_redrive(struct app *rt, struct http_response *resp)
{
    long long moved = 0;
    struct err e;
    err_clear(&e);
    if (queue_redrive(rt->queue, QUEUE_AGENT_ACTIONS_DLQ, NULL, 1000, &moved, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    reply_json(resp, 200, json_pack("{s:I}", "moved", (json_int_t)moved));
}

/* GET /agent: the public face of the running agent, {"name","greeting","brand":{"name","color"}}
 * from its agent file (greeting and color null when the file has none; the brand name defaults to
 * the agent's name); nothing else of the file (no secrets). Holds the definition for the read, so
 * a concurrent reload cannot free it. */
static void handle_agent(struct agent *a, struct http_response *resp)
{
    struct agent_def *d = agent_def_get(a);
    const struct agent_file *f = d ? d->file : a->file;
    const json_t *doc = agent_file_doc(f ? f : agent_file_default());
    const char *name = json_string_value(json_object_get(doc, "name"));
    const char *greeting = json_string_value(json_object_get(doc, "greeting"));
    const json_t *brand = json_object_get(doc, "brand");
    const char *bname = json_string_value(json_object_get(brand, "name"));
    const char *color = json_string_value(json_object_get(brand, "color"));
    if (!name)
        name = "";
    reply_json(resp, 200,
               json_pack("{s:s, s:o, s:{s:s, s:o}}", "name", name, "greeting",
                         greeting ? json_string(greeting) : json_null(), "brand", "name",
                         bname ? bname : name, "color", color ? json_string(color) : json_null()));
    agent_def_unref(d);
}

/* ---------------------------------------------------------------- routing */

enum route_id {
    R_CHAT,
    R_HEALTH,
    R_SESSIONS,
    R_SESSION,
    R_SESSION_ERASE,
    R_USER_ERASE,
    R_SESSION_MESSAGES,
    R_SESSION_RELEASE,
    R_SESSION_TAKEOVER,
    R_SESSION_EXECUTIONS,
    R_SESSION_SCENARIO,
    R_TICKET,
    R_TICKETS,
    R_ANALYTICS,
    R_METRICS,
    R_TRACE,
    R_QUEUE_STATS,
    R_QUEUE_REDRIVE,
    R_AGENT,
    R_PAGE_CHAT,
    R_PAGE_CONSOLE,
    R_STATIC,
    R_WIDGET,
    R_AUDIT
};

struct route {
    enum route_id id;    /* which handler */
    const char *pattern; /* path with '*' standing for one id segment */
    const char *method;  /* the one method allowed */
    int operator_only;   /* 1: needs the operator token */
};

static const struct route routes[] = {
    {R_CHAT, "/chat", "POST", 0},
    {R_HEALTH, "/health", "GET", 0},
    {R_AGENT, "/agent", "GET", 0},
    {R_SESSIONS, "/sessions", "GET", 1},
    {R_SESSION, "/sessions/*", "GET", 0},
    {R_SESSION_ERASE, "/sessions/*", "DELETE", 1},
    {R_USER_ERASE, "/users/*", "DELETE", 1},
    {R_SESSION_MESSAGES, "/sessions/*/messages", "POST", 1},
    {R_SESSION_RELEASE, "/sessions/*/release", "POST", 1},
    {R_SESSION_TAKEOVER, "/sessions/*/takeover", "POST", 1},
    {R_SESSION_EXECUTIONS, "/sessions/*/executions", "GET", 1},
    {R_SESSION_SCENARIO, "/sessions/*/scenario", "GET", 1},
    {R_METRICS, "/metrics", "GET", 1},
    {R_TRACE, "/traces/*", "GET", 1},
    {R_QUEUE_STATS, "/queue/stats", "GET", 1},
    {R_QUEUE_REDRIVE, "/queue/dlq/redrive", "POST", 1},
    {R_TICKET, "/tickets/*", "GET", 0},
    {R_TICKETS, "/tickets", "GET", 1},
    {R_ANALYTICS, "/analytics", "GET", 1},
    {R_PAGE_CHAT, "/", "GET", 0},
    {R_PAGE_CONSOLE, "/console", "GET", 0},
    {R_STATIC, "/static/*", "GET", 0},
    {R_WIDGET, "/widget.js", "GET", 0},
    {R_AUDIT, "/audit", "GET", 1},
};

/* ---------------------------------------------------------------- audit log */

#define API_AUDIT_PAGE 50       /* GET /audit entries per page by default */
#define API_AUDIT_PAGE_MAX 1000 /* and at most */

/* Records a successful operator action in the store's audit log: who (name, role), when (ISO
 * 8601), what, and the session only as store__erased_tag (its SHA-256), so the log holds no
 * personal data and an erasure leaves nothing to erase there; a user id (erase_user) is not
 * recorded at all, as a hash of a guessable id would give it away. A failure to record is logged
 * (the action itself has already happened). */
static void audit_record(struct api *api, const struct operator_id *who, const char *action,
                         const char *session_id)
{
    char at[40], tag[65];
    clock_iso8601(clock_now_ms(), at, sizeof at);
    json_t *entry = json_pack("{s:s, s:s, s:s, s:s}", "at", at, "operator", who->name, "role",
                              operators_role_name(who->role), "action", action);
    if (session_id) {
        store__erased_tag(session_id, tag);
        json_object_set_new(entry, "subject", json_string(tag));
    }
    struct err e;
    err_clear(&e);
    if (store_audit_append(api->rt->agent.store, entry, &e) < 0)
        log_at(LL_ERROR, "api", "cannot record '%s' by '%s' in the audit log: %s", action,
               who->name, e.message);
    json_decref(entry);
}

/* GET /audit?limit=N&before=CURSOR (admin): the audit log newest first, {"entries", "next"}. */
static void handle_audit(struct api *api, const struct operator_id *who, struct http_request *req,
                         struct http_response *resp)
{
    if (who->role != OPERATOR_ADMIN) {
        reply_error(resp, "Forbidden", "the audit log is for operators with role admin");
        return;
    }
    const char *lim = http_request_query(req, "limit");
    const char *before = http_request_query(req, "before");
    char *end = NULL;
    long limit = lim ? strtol(lim, &end, 10) : API_AUDIT_PAGE;
    if (lim && (end == lim || *end || limit < 1 || limit > API_AUDIT_PAGE_MAX)) {
        reply_error(resp, "InvalidRequest", "'limit' must be an integer from 1 to 1000");
        return;
    }
    if (before && (!before[0] || strlen(before) > 64 ||
                   strspn(before, "0123456789abcdef#") != strlen(before))) {
        reply_error(resp, "InvalidRequest", "'before' must be the 'next' of an earlier page");
        return;
    }
    json_t *list = NULL;
    char *next = NULL;
    struct err e;
    err_clear(&e);
    if (store_audit_list(api->rt->agent.store, before, (int)limit, &list, &next, &e) < 0) {
        reply_err(resp, &e);
        return;
    }
    reply_json(resp, 200,
               json_pack("{s:o, s:o}", "entries", list, "next",
                         next ? json_string(next) : json_null()));
    free(next);
}

/* The operator actions the audit log records, by route. */
static const struct {
    enum route_id id;
    const char *action;
} audited[] = {
    {R_SESSION_MESSAGES, "message"},    {R_SESSION_RELEASE, "release"},
    {R_SESSION_TAKEOVER, "takeover"},   {R_QUEUE_REDRIVE, "redrive"},
    {R_SESSION_ERASE, "erase_session"}, {R_USER_ERASE, "erase_user"},
};

#define ROUTE_ID_MAX 128 /* a path's '*' segment is shorter than this */

/* Matches path against pattern; the '*' segment (non-empty, no '/', shorter than ROUTE_ID_MAX) is
 * copied to id unless id is NULL. */
static int path_match(const char *pattern, const char *path, char id[ROUTE_ID_MAX])
{
    while (*pattern && *path) {
        if (*pattern == '*') {
            size_t n = strcspn(path, "/");
            if (n == 0 || n >= ROUTE_ID_MAX)
                return 0;
            if (id) {
                memcpy(id, path, n);
                id[n] = '\0';
            }
            path += n;
            pattern++;
        } else if (*pattern++ != *path++) {
            return 0;
        }
    }
    return *pattern == '\0' && *path == '\0';
}

static void dispatch(struct api *api, struct http_request *req, struct http_response *resp,
                     const char **route_name);
static SCHED_OUT_OF_LINE void route_run(struct api *api, enum route_id rid, const char *id,
                                        const struct operator_id *who, struct http_request *req,
                                        struct http_response *resp);

/* ---------------------------------------------------------------- CORS */

#define API_CORS_HEADERS "Content-Type, Authorization, Idempotency-Key, Accept"

/* The request's Origin when it is one of PARLEY_ALLOWED_ORIGINS, else NULL. */
static const char *allowed_origin(const struct api *api, const struct http_request *req)
{
    const char *origin = api->norigins ? http_request_header(req, "Origin") : NULL;
    for (int i = 0; origin && i < api->norigins; i++)
        if (strcmp(origin, api->origins[i]) == 0)
            return origin;
    return NULL;
}

/* A preflight (OPTIONS with Access-Control-Request-Method) from an allowed origin: 204 with what
 * it may send. Returns 1 when answered. Other origins fall through to routing (405). */
static int cors_preflight(const struct api *api, struct http_request *req,
                          struct http_response *resp)
{
    const char *origin = allowed_origin(api, req);
    if (!origin || strcmp(req->method, "OPTIONS") != 0 ||
        !http_request_header(req, "Access-Control-Request-Method"))
        return 0;
    resp->status = 204;
    resp->content_type = NULL;
    http_response_header(resp, "Access-Control-Allow-Origin", origin);
    http_response_header(resp, "Access-Control-Allow-Methods", "GET, POST, OPTIONS");
    http_response_header(resp, "Access-Control-Allow-Headers", API_CORS_HEADERS);
    http_response_header(resp, "Access-Control-Max-Age", "600");
    http_response_header(resp, "Vary", "Origin");
    return 1;
}

/* Every other response: the CORS headers for an allowed origin; none for any other. */
static void cors_headers(const struct api *api, struct http_request *req,
                         struct http_response *resp)
{
    const char *origin = allowed_origin(api, req);
    if (api->norigins)
        http_response_header(resp, "Vary", "Origin");
    if (!origin)
        return;
    http_response_header(resp, "Access-Control-Allow-Origin", origin);
    http_response_header(resp, "Access-Control-Expose-Headers", "Retry-After");
}

int api_would_wait(void *ud, const struct http_request *req)
{
    (void)ud;
    return strcmp(req->path, "/chat") == 0 && strcmp(req->method, "POST") == 0;
}

/* Adds seg's X-Amzn-Trace-Id header to resp. Out of line: see SCHED_OUT_OF_LINE. */
static SCHED_OUT_OF_LINE void trace_header_add(struct trace_ctx *seg, struct http_response *resp)
{
    char th[256];
    if (trace_header_format(seg, 0, th, sizeof th) > 0)
        http_response_header(resp, "X-Amzn-Trace-Id", th);
}

/* Every request: an X-Ray segment (continuing the caller's X-Amzn-Trace-Id), the route's
 * counter, and the trace header on the response. */
void api_handle(void *ud, struct http_request *req, struct http_response *resp)
{
    struct api *api = ud;
    const char *header = http_request_header(req, "X-Amzn-Trace-Id");
    struct trace_ctx *seg = trace_begin("parley", header, NULL); /* a bad header is logged */
    trace_set_request(seg, req->method, req->path, http_request_header(req, "User-Agent"), NULL);
    /* Added now: a streamed turn ends (and frees) the segment on its own thread. */
    trace_header_add(seg, resp);
    agent_trace_set(seg);
    const char *route = "unmatched";
    if (cors_preflight(api, req, resp)) {
        route = "preflight";
    } else {
        dispatch(api, req, resp, &route);
        cors_headers(api, req, resp);
    }
    agent_trace_set(NULL);
    if (!resp->stream_fn)
        trace_end(seg, resp->status); /* a stream ends its segment when its turn ends */
    metrics_http_request(route, resp->status);
}

/* 405 when the path has a route for another method (allowed), else 404. */
static SCHED_OUT_OF_LINE void reply_no_route(struct http_request *req, const char *allowed,
                                             struct http_response *resp)
{
    char msg[200];
    if (allowed) {
        snprintf(msg, sizeof msg, "%.120s allows %s only (got %.10s)", req->path, allowed,
                 req->method);
        http_response_header(resp, "Allow", allowed);
        reply_error(resp, "MethodNotAllowed", msg);
    } else {
        snprintf(msg, sizeof msg, "no route for %.10s %.120s", req->method, req->path);
        reply_error(resp, "NotFound", msg);
    }
}

/* Serves req on route r, any but POST /chat: the operator's check for an operator's route, the
 * handler, the audit record. Out of line: see SCHED_OUT_OF_LINE. */
static SCHED_OUT_OF_LINE void route_serve(struct api *api, const struct route *r,
                                          struct http_request *req, struct http_response *resp)
{
    char id[ROUTE_ID_MAX] = "";
    (void)path_match(r->pattern, req->path, id); /* it matched in dispatch */
    struct operator_id who = {.name = "", .role = OPERATOR_AGENT};
    if (r->operator_only && !require_operator(api, req, resp, &who))
        return;
    route_run(api, r->id, id, &who, req, resp);
    for (size_t i = 0; i < sizeof audited / sizeof audited[0]; i++)
        if (audited[i].id == r->id && resp->status >= 200 && resp->status < 300)
            audit_record(api, &who, audited[i].action,
                         strncmp(r->pattern, "/sessions/", 10) == 0 ? id : NULL);
}

static void dispatch(struct api *api, struct http_request *req, struct http_response *resp,
                     const char **route_name)
{
    const struct route *r = NULL;
    const char *allowed = NULL;
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        if (!path_match(routes[i].pattern, req->path, NULL))
            continue;
        allowed = routes[i].method;
        if (strcmp(req->method, routes[i].method) == 0 ||
            (strcmp(routes[i].method, "GET") == 0 && strcmp(req->method, "HEAD") == 0)) {
            r = &routes[i];
            break;
        }
    }
    if (!r) {
        reply_no_route(req, allowed, resp);
        return;
    }
    *route_name = r->pattern;
    if (r->id == R_CHAT) {
        assert(!r->operator_only); /* and not audited: nothing for route_serve to do */
        handle_chat(api, req, resp);
    } else {
        route_serve(api, r, req, resp);
    }
}

/* Every route but POST /chat (out of line: see SCHED_OUT_OF_LINE). */
static SCHED_OUT_OF_LINE void route_run(struct api *api, enum route_id rid, const char *id,
                                        const struct operator_id *who, struct http_request *req,
                                        struct http_response *resp)
{
    struct app *rt = api->rt;
    struct agent *a = &rt->agent;
    switch (rid) {
    case R_CHAT:
        break; /* dispatch runs it */
    case R_HEALTH:
        reply_json(resp, 200,
                   json_pack("{s:s, s:s, s:s}", "status", "ok", "store", store_name(a->store),
                             "model", model_name(a->model)));
        break;
    case R_AGENT:
        handle_agent(a, resp);
        break;
    case R_SESSIONS:
        handle_session_list(a, req, resp);
        break;
    case R_SESSION:
        handle_session(api, id, req, resp);
        break;
    case R_SESSION_ERASE:
        handle_erase(rt, id, resp);
        break;
    case R_USER_ERASE:
        handle_user_erase(rt, id, resp);
        break;
    case R_SESSION_MESSAGES:
        handle_operator_message(a, id, api->operators ? who : NULL, req, resp);
        break;
    case R_SESSION_RELEASE:
        handle_set_status(a, id, "active", "released by operator", resp);
        break;
    case R_SESSION_TAKEOVER:
        handle_set_status(a, id, "handoff", "taken over by operator", resp);
        break;
    case R_TICKET:
        handle_ticket(api, id, req, resp);
        break;
    case R_TICKETS:
        handle_ticket_list(a, resp);
        break;
    case R_ANALYTICS: {
        struct err e;
        err_clear(&e);
        json_t *report = analytics_report(rt->analytics, &e);
        if (report)
            reply_json(resp, 200, report);
        else
            reply_err(resp, &e);
        break;
    }
    case R_SESSION_SCENARIO:
        handle_session_scenario(a, id, resp);
        break;
    case R_SESSION_EXECUTIONS:
        reply_json(resp, 200, json_pack("{s:o}", "executions", app_executions(rt, id)));
        break;
    case R_METRICS:
        handle_metrics(resp);
        break;
    case R_TRACE:
        handle_trace(id, resp);
        break;
    case R_QUEUE_STATS:
        handle_queue_stats(rt, resp);
        break;
    case R_QUEUE_REDRIVE:
        handle_queue_redrive(rt, resp);
        break;
    case R_PAGE_CHAT:
        serve_static(rt, "index.html", API_CACHE_PAGE, resp);
        break;
    case R_PAGE_CONSOLE:
        serve_static(rt, "console.html", API_CACHE_PAGE, resp);
        break;
    case R_STATIC:
        serve_static(rt, id, API_CACHE_PAGE, resp);
        break;
    case R_AUDIT:
        handle_audit(api, who, req, resp);
        break;
    case R_WIDGET:
        serve_static(rt, "widget.js", API_CACHE_WIDGET, resp);
        if (resp->status == 200)
            http_response_header(resp, "Cross-Origin-Resource-Policy", "cross-origin");
        break;
    }
}
