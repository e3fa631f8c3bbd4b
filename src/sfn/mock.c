/*
 * mock.c - load AWS Step Functions Local mock configurations and answer mocked Task calls.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "sfn/sfn_int.h"
#include "sfn/sfn_mock.h"

struct mentry {
    long lo, hi;
    json_t *ret; /* Return value, or NULL for a Throw */
    char *error, *cause;
};

struct mresp {
    char *name;
    struct mentry *e;
    size_t n;
};

struct sfn_mock_case {
    char *sm, *name;
    char **states;
    const struct mresp **resp;
    size_t n;
};

struct sfn_mock {
    struct mresp *resps;
    size_t nresp;
    struct sfn_mock_case *cases;
    size_t ncases;
};

void sfn_mock_free(struct sfn_mock *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->nresp; i++) {
        for (size_t j = 0; j < m->resps[i].n; j++) {
            struct mentry *e = &m->resps[i].e[j];
            if (e->ret)
                json_decref(e->ret);
            free(e->error);
            free(e->cause);
        }
        free(m->resps[i].e);
        free(m->resps[i].name);
    }
    free(m->resps);
    for (size_t i = 0; i < m->ncases; i++) {
        struct sfn_mock_case *c = &m->cases[i];
        for (size_t j = 0; j < c->n; j++)
            free(c->states[j]);
        free(c->states);
        free(c->resp);
        free(c->sm);
        free(c->name);
    }
    free(m->cases);
    free(m);
}

static int parse_range(const char *k, long *lo, long *hi)
{
    char *end;
    errno = 0;
    *lo = strtol(k, &end, 10);
    if (end == k || errno || *lo < 0)
        return -1;
    if (*end == '\0') {
        *hi = *lo;
        return 0;
    }
    if (*end != '-')
        return -1;
    const char *p = end + 1;
    *hi = strtol(p, &end, 10);
    if (end == p || *end || errno || *hi < *lo)
        return -1;
    return 0;
}

static int load_resp(struct mresp *r, const char *name, json_t *v, struct err *err)
{
    r->name = xstrdup(name);
    if (!json_is_object(v) || json_object_size(v) == 0)
        return err_set(err, "InvalidMockConfig",
                       "MockedResponses.%s must be an object of invocation keys", name);
    r->e = xcalloc(json_object_size(v), sizeof *r->e);
    const char *k;
    json_t *x;
    json_object_foreach(v, k, x) {
        struct mentry *e = &r->e[r->n++];
        if (parse_range(k, &e->lo, &e->hi) < 0)
            return err_set(err, "InvalidMockConfig",
                           "MockedResponses.%s: invocation key '%s' must look like \"0\" or "
                           "\"1-3\"",
                           name, k);
        json_t *ret = json_object_get(x, "Return"), *thr = json_object_get(x, "Throw");
        if (!json_is_object(x) || (!ret == !thr) || json_object_size(x) != 1)
            return err_set(err, "InvalidMockConfig",
                           "MockedResponses.%s.%s must hold exactly one of Return and Throw", name,
                           k);
        if (ret) {
            e->ret = json_incref(ret);
        } else {
            json_t *er = json_object_get(thr, "Error"), *ca = json_object_get(thr, "Cause");
            if (!json_is_string(er) || (ca && !json_is_string(ca)))
                return err_set(err, "InvalidMockConfig",
                               "MockedResponses.%s.%s.Throw needs a string Error (and an "
                               "optional string Cause)",
                               name, k);
            e->error = xstrdup(json_string_value(er));
            e->cause = ca ? xstrdup(json_string_value(ca)) : NULL;
        }
    }
    return 0;
}

struct sfn_mock *sfn_mock_parse(const char *text, struct err *err)
{
    struct sfn_mock *m = xcalloc(1, sizeof *m);
    json_error_t je;
    json_t *doc = NULL;
    if (strlen(text) > SFN_MOCK_MAX_BYTES) {
        err_set(err, "InvalidMockConfig", "the mock configuration exceeds %d bytes",
                SFN_MOCK_MAX_BYTES);
        goto fail;
    }
    doc = json_loads(text, 0, &je);
    if (!doc) {
        err_set(err, "InvalidMockConfig", "the mock configuration is not valid JSON: %s (line %d)",
                je.text, je.line);
        goto fail;
    }
    json_t *sms = json_object_get(doc, "StateMachines");
    json_t *mr = json_object_get(doc, "MockedResponses");
    if (!json_is_object(sms) || (mr && !json_is_object(mr))) {
        err_set(err, "InvalidMockConfig",
                "the mock configuration needs a StateMachines object (and MockedResponses must "
                "be an object)");
        goto fail;
    }
    const char *k;
    json_t *v;
    m->resps = xcalloc(json_object_size(mr) + 1, sizeof *m->resps);
    json_object_foreach(mr, k, v) {
        if (load_resp(&m->resps[m->nresp++], k, v, err) < 0)
            goto fail;
    }
    const char *smk;
    json_t *smv;
    json_object_foreach(sms, smk, smv) {
        json_t *tcs = json_object_get(smv, "TestCases");
        if (!json_is_object(tcs)) {
            err_set(err, "InvalidMockConfig", "StateMachines.%s needs a TestCases object", smk);
            goto fail;
        }
        json_object_foreach(tcs, k, v) {
            if (!json_is_object(v)) {
                err_set(err, "InvalidMockConfig",
                        "StateMachines.%s.TestCases.%s must map state names to responses", smk, k);
                goto fail;
            }
            m->cases = xrealloc(m->cases, (m->ncases + 1) * sizeof *m->cases);
            struct sfn_mock_case *c = &m->cases[m->ncases++];
            memset(c, 0, sizeof *c);
            c->sm = xstrdup(smk);
            c->name = xstrdup(k);
            c->states = xcalloc(json_object_size(v) + 1, sizeof *c->states);
            c->resp = xcalloc(json_object_size(v) + 1, sizeof *c->resp);
            const char *st;
            json_t *rn;
            json_object_foreach(v, st, rn) {
                const struct mresp *r = NULL;
                for (size_t i = 0; json_is_string(rn) && i < m->nresp; i++)
                    if (!strcmp(m->resps[i].name, json_string_value(rn)))
                        r = &m->resps[i];
                if (!r) {
                    err_set(err, "InvalidMockConfig",
                            "StateMachines.%s.TestCases.%s.%s names no entry of MockedResponses",
                            smk, k, st);
                    goto fail;
                }
                c->states[c->n] = xstrdup(st);
                c->resp[c->n++] = r;
            }
        }
    }
    json_decref(doc);
    return m;
fail:
    if (doc)
        json_decref(doc);
    sfn_mock_free(m);
    return NULL;
}

const struct sfn_mock_case *sfn_mock_find(const struct sfn_mock *m, const char *sm, const char *tc,
                                          struct err *err)
{
    int sm_seen = 0;
    for (size_t i = 0; i < m->ncases; i++) {
        if (strcmp(m->cases[i].sm, sm))
            continue;
        sm_seen = 1;
        if (!strcmp(m->cases[i].name, tc))
            return &m->cases[i];
    }
    if (!sm_seen)
        err_set(err, "NotFound", "the mock configuration has no state machine '%s'", sm);
    else
        err_set(err, "NotFound",
                "state machine '%s' has no test case '%s' in the mock "
                "configuration",
                sm, tc);
    return NULL;
}

int sfn__mock_respond(const struct sfn_mock_case *c, const char *state, long inv, json_t **ret,
                      char **error, char **cause)
{
    const struct mresp *r = NULL;
    for (size_t i = 0; i < c->n; i++)
        if (!strcmp(c->states[i], state))
            r = c->resp[i];
    if (!r)
        return 0;
    const struct mentry *e = NULL, *last = &r->e[0];
    for (size_t i = 0; i < r->n; i++) {
        if (inv >= r->e[i].lo && inv <= r->e[i].hi)
            e = &r->e[i];
        if (r->e[i].hi > last->hi)
            last = &r->e[i];
    }
    if (!e)
        e = last;
    if (e->ret) {
        *ret = json_incref(e->ret);
        return 1;
    }
    *error = xstrdup(e->error);
    *cause = e->cause ? xstrdup(e->cause) : NULL;
    return 2;
}
