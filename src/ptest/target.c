/*
 * target.c - where `parley test` and `parley replay` run their turns: the app in-process on a
 * throwaway data directory, or a running server over HTTP (ptest_int.h).
 */
#include <errno.h>
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <curl/curl.h>

#include "agent/transcript.h"
#include "agent/turn.h"
#include "base/errcode.h"
#include "base/log.h"
#include "ptest/ptest_int.h"
#include "store/store.h"

static json_t *error_body(const char *code, const char *message)
{
    return json_pack("{s:{s:s, s:s}}", "error", "code", code, "message", message);
}

/* One HTTP call; returns the parsed body (new) or an error body, and the status. */
static json_t *http_call(struct ptest_target *t, const char *method, const char *path,
                         const char *body, int auth, long *status)
{
    char url[1400];
    snprintf(url, sizeof url, "%s%s", t->url, path);
    const char *headers[2];
    size_t nh = 0;
    if (body)
        headers[nh++] = "Content-Type: application/json";
    if (auth && t->auth[0])
        headers[nh++] = t->auth;
    struct http_client_request req = {.method = method,
                                      .url = url,
                                      .headers = headers,
                                      .n_headers = nh,
                                      .body = body,
                                      .body_len = body ? strlen(body) : 0,
                                      .max_retries = 0};
    struct http_client_response resp = {0};
    struct err e;
    err_clear(&e);
    json_t *out = NULL;
    if (http_client_do(t->http, &req, &resp, &e) < 0) {
        *status = 0;
        out = error_body(e.code, e.message);
    } else {
        *status = resp.status;
        out = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
        if (!out)
            out = error_body("BadResponse", "the server's answer is not JSON");
    }
    http_client_response_release(&resp);
    return out;
}

json_t *ptest__target_chat(struct ptest_target *t, const char *body, long *status)
{
    if (t->http)
        return http_call(t, "POST", "/chat", body, 0, status);
    struct err e;
    err_clear(&e);
    json_t *out = NULL;
    json_t *req = turn_parse_request(body, strlen(body), &e);
    if (req)
        out = turn_run(&t->app.agent, req, &e);
    json_decref(req);
    if (out) {
        *status = 200;
        return out;
    }
    *status = errcode_status(e.code[0] ? e.code : "InternalError");
    return error_body(e.code[0] ? e.code : "InternalError", e.message);
}

/* GET /sessions/{id}: the transcript document (new) or NULL. */
json_t *ptest__target_session(struct ptest_target *t, const char *sid, const char *user)
{
    if (t->http) {
        char path[512];
        long status = 0;
        /* a session with a userId is shown to that userId (or an operator) */
        char *q = user && *user ? curl_easy_escape(NULL, user, 0) : NULL;
        snprintf(path, sizeof path, "/sessions/%s%s%s", sid, q ? "?userId=" : "", q ? q : "");
        curl_free(q);
        json_t *doc = http_call(t, "GET", path, NULL, 0, &status);
        if (status != 200) {
            json_decref(doc);
            doc = NULL;
        }
        return doc;
    }
    struct err e;
    err_clear(&e);
    return transcript_document(t->app.store, sid, &e);
}

/* Every ticket (new array) or NULL. */
json_t *ptest__target_tickets(struct ptest_target *t)
{
    if (t->http) {
        long status = 0;
        json_t *doc = http_call(t, "GET", "/tickets", NULL, 1, &status);
        json_t *list = status == 200 ? json_incref(json_object_get(doc, "tickets")) : NULL;
        json_decref(doc);
        return list;
    }
    struct err e;
    err_clear(&e);
    json_t *list = NULL;
    if (store_tickets_list(t->app.store, NULL, 500, &list, &e) < 0)
        return NULL;
    size_t i;
    json_t *tk;
    json_array_foreach(list, i, tk)
        json_object_del(tk, "userId");
    return list;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

void ptest__target_close(struct ptest_target *t)
{
    if (t->app_open)
        app_close(&t->app);
    t->app_open = 0;
    http_client_free(t->http);
    t->http = NULL;
    if (t->data[0])
        nftw(t->data, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    config_release(&t->cfg);
}

/* Opens the target the options name. Returns 0 or -1 with err. */
int ptest__target_open(struct ptest_target *t, const struct ptest_target_opts *o, struct err *err)
{
    int rc = -1;
    memset(t, 0, sizeof *t);
    if (config_load(&t->cfg, err) < 0)
        goto out;
    if (o->agent && config_set(&t->cfg, "PARLEY_AGENT", o->agent, err) < 0)
        goto out;
    enum log_level lvl;
    if (log_level_parse(t->cfg.log_level, &lvl) == 0)
        log_threshold = lvl < LL_WARN ? LL_WARN : lvl; /* info lines would bury the report */
    if (o->model && config_set(&t->cfg, "PARLEY_MODEL", o->model, err) < 0)
        goto out;
    if (o->url) {
        t->url = o->url;
        t->http = http_client_new(&(struct http_client_config){.timeout_ms = 120000});
        if (t->cfg.operator_token[0])
            snprintf(t->auth, sizeof t->auth, "Authorization: Bearer %.500s",
                     t->cfg.operator_token);
        rc = 0;
        goto out;
    }
    snprintf(t->data, sizeof t->data, "/tmp/parley-test.XXXXXX");
    if (!mkdtemp(t->data)) {
        err_set(err, "InvalidConfig", "cannot create a data directory: %s", strerror(errno));
        t->data[0] = '\0';
        goto out;
    }
    if (config_set(&t->cfg, "PARLEY_DATA", t->data, err) < 0)
        goto out;
    if (o->record && config_set(&t->cfg, "PARLEY_MODEL_RECORD", o->record, err) < 0)
        goto out;
    if (o->replay && config_set(&t->cfg, "PARLEY_MODEL_REPLAY", o->replay, err) < 0)
        goto out;
    if (app_open(&t->app, &t->cfg, APP_SERVE, err) < 0)
        goto out;
    t->app_open = 1;
    /* queued actions run on workers, as in `parley serve` (PARLEY_WORKERS=0: inline waits) */
    if (t->cfg.workers > 0 && app_start_workers(&t->app, t->cfg.workers, err) < 0)
        goto out;
    rc = 0;
out:
    return rc;
}
