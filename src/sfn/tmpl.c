/*
 * tmpl.c - payload templates (Parameters, ItemSelector, ResultSelector): compiled once into a tree
 * whose static parts are shared constants, so an evaluation only builds the dynamic fields.
 */
#include <stdlib.h>
#include <string.h>

#include "base/jsontext.h"
#include "base/xmalloc.h"
#include "sfn/sfn_int.h"

#define TMPL_MAX_DEPTH 512

/* Frees t's members (keys and sub-templates) and leaves it with none. */
static void free_kids(struct sfn__tmpl *t)
{
    for (size_t i = 0; i < t->n; i++) {
        if (t->keys)
            free(t->keys[i]);
        sfn__tmpl_free(t->kids[i]);
    }
    free(t->keys);
    free(t->kids);
    t->keys = NULL;
    t->kids = NULL;
    t->n = 0;
}

void sfn__tmpl_free(struct sfn__tmpl *t)
{
    if (!t)
        return;
    if (t->value)
        json_decref(t->value);
    jsonpath_free(t->path);
    sfn__intrinsic_free(t->fn);
    free_kids(t);
    free(t);
}

/* The value of a field ending in ".$": a path or an intrinsic function. A problem leaves a
 * TM_CONST null in its place and sets *bad. */
static struct sfn__tmpl *compile_dynamic(json_t *v, const char *sub, struct sfn_problem_list *pl,
                                         int *bad)
{
    struct sfn__tmpl *kid = xcalloc(1, sizeof *kid);
    struct err e = {0};
    const char *s = json_string_value(v);
    if (!json_is_string(v)) {
        sfn__problem_add(pl, sub,
                         "the value of a field ending in '.$' must be a string "
                         "(a path or an intrinsic function)");
        *bad = 1;
    } else if (!strncmp(s, "States.", 7)) {
        kid->kind = TM_INTRINSIC;
        kid->fn = sfn__intrinsic_compile(s, &e);
        if (!kid->fn) {
            sfn__problem_add(pl, sub, "%s", e.message);
            *bad = 1;
        } else {
            kid->uses_context = sfn__intrinsic_uses_context(kid->fn);
        }
    } else if (s[0] == '$') {
        kid->kind = TM_PATH;
        kid->path = jsonpath_compile(s, 0, &e);
        if (!kid->path) {
            sfn__problem_add(pl, sub, "%s", e.message);
            *bad = 1;
        } else {
            kid->uses_context = jsonpath_is_context(kid->path);
        }
    } else {
        sfn__problem_add(pl, sub,
                         "the value '%s' is neither a JSONPath (starting with '$') "
                         "nor an intrinsic function (starting with 'States.')",
                         s);
        *bad = 1;
    }
    if (!kid->path && !kid->fn) {
        kid->kind = TM_CONST;
        kid->value = json_null();
    }
    return kid;
}

static struct sfn__tmpl *compile(json_t *j, const char *where, struct sfn_problem_list *pl,
                                 int depth, int *bad)
{
    struct sfn__tmpl *t = xcalloc(1, sizeof *t);
    if (depth > TMPL_MAX_DEPTH) {
        sfn__problem_add(pl, where, "payload template nested deeper than %d levels",
                         TMPL_MAX_DEPTH);
        *bad = 1;
        t->kind = TM_CONST;
        t->value = json_null();
        return t;
    }
    int dynamic = 0;
    if (json_is_object(j)) {
        t->kind = TM_OBJECT;
        size_t n = json_object_size(j), i = 0;
        t->keys = xcalloc(n ? n : 1, sizeof *t->keys);
        t->kids = xcalloc(n ? n : 1, sizeof *t->kids);
        const char *k;
        json_t *v;
        json_object_foreach(j, k, v) {
            size_t kl = strlen(k);
            char *sub = xasprintf("%s/%s", where, k);
            struct sfn__tmpl *kid;
            if (kl >= 2 && !strcmp(k + kl - 2, ".$")) {
                kid = compile_dynamic(v, sub, pl, bad);
                t->keys[i] = xstrndup(k, kl - 2);
                dynamic = 1;
            } else {
                kid = compile(v, sub, pl, depth + 1, bad);
                t->keys[i] = xstrdup(k);
                if (kid->kind != TM_CONST)
                    dynamic = 1;
            }
            if (kid->uses_context)
                t->uses_context = 1;
            free(sub);
            t->kids[i++] = kid;
        }
        t->n = i;
    } else if (json_is_array(j)) {
        t->kind = TM_ARRAY;
        size_t n = json_array_size(j), i;
        json_t *v;
        t->kids = xcalloc(n ? n : 1, sizeof *t->kids);
        json_array_foreach(j, i, v) {
            char *sub = xasprintf("%s/%zu", where, i);
            t->kids[i] = compile(v, sub, pl, depth + 1, bad);
            free(sub);
            if (t->kids[i]->kind != TM_CONST)
                dynamic = 1;
            if (t->kids[i]->uses_context)
                t->uses_context = 1;
        }
        t->n = n;
    } else {
        t->kind = TM_CONST;
        t->value = json_incref(j);
        return t;
    }
    if (!dynamic) {
        /* fully static: keep one shared constant */
        free_kids(t);
        t->kind = TM_CONST;
        t->value = json_deep_copy(j);
    }
    return t;
}

struct sfn__tmpl *sfn__tmpl_compile(json_t *j, const char *where, struct sfn_problem_list *pl)
{
    int bad = 0;
    struct sfn__tmpl *t = compile(j, where, pl, 0, &bad);
    if (bad) {
        sfn__tmpl_free(t);
        return NULL;
    }
    return t;
}

/* Evaluates a path of a template found under key (NULL at the top, where the error names the
 * path itself as the field). A path that selects nothing fails with path_error, worded as AWS
 * words it: the field is "key.$". */
static int eval_path(const struct sfn__tmpl *t, const struct sfn__env *env, const char *key,
                     const char *path_error, json_t **out, struct err *err)
{
    json_t *root = jsonpath_is_context(t->path) ? env->ctx : env->input;
    json_t *empty = NULL;
    if (!root)
        root = empty = json_object();
    int r = jsonpath_eval(t->path, root, out);
    if (r != 0) {
        char *dump = jsontext_dump(root);
        err_set(err, path_error,
                "The JSONPath '%s' specified for the field '%s%s' could not be found in the input "
                "'%.400s'",
                jsonpath_text(t->path), key ? key : jsonpath_text(t->path), key ? ".$" : "",
                dump ? dump : "{}");
        free(dump);
    }
    if (empty)
        json_decref(empty);
    return r != 0 ? -1 : 0;
}

int sfn__tmpl_eval(const struct sfn__tmpl *t, const struct sfn__env *env, const char *path_error,
                   json_t **out, struct err *err)
{
    switch (t->kind) {
    case TM_CONST:
        *out = json_incref(t->value);
        return 0;
    case TM_PATH:
        return eval_path(t, env, NULL, path_error, out, err);
    case TM_INTRINSIC:
        return sfn__intrinsic_eval(t->fn, env, out, err);
    case TM_OBJECT: {
        json_t *o = json_object();
        for (size_t i = 0; i < t->n; i++) {
            json_t *v;
            int r = t->kids[i]->kind == TM_PATH
                        ? eval_path(t->kids[i], env, t->keys[i], path_error, &v, err)
                        : sfn__tmpl_eval(t->kids[i], env, path_error, &v, err);
            if (r < 0) {
                json_decref(o);
                return -1;
            }
            json_object_set_new(o, t->keys[i], v);
        }
        *out = o;
        return 0;
    }
    case TM_ARRAY: {
        json_t *a = json_array();
        for (size_t i = 0; i < t->n; i++) {
            json_t *v;
            if (sfn__tmpl_eval(t->kids[i], env, path_error, &v, err) < 0) {
                json_decref(a);
                return -1;
            }
            json_array_append_new(a, v);
        }
        *out = a;
        return 0;
    }
    }
    return -1;
}
