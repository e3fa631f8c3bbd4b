/*
 * scenario.c - loads and validates scenario files and judges turns against their expectations.
 * The keys a scenario may use are tables (one row per key with its checker), so a new expect key
 * is a row plus its judging branch.
 */
#include "ptest/scenario.h"

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "agent/agent_file.h"
#include "base/jsontext.h"

/* ------------------------------------------------------------------------------------------------
 * Validation: every key of the file is known and of the right shape
 * --------------------------------------------------------------------------------------------- */

struct vctx {
    const char *path; /* the file, for messages */
    struct err *err;  /* the first problem */
};

/* Fills the error "path: $loc: what" and returns -1. */
static int bad(struct vctx *v, const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int bad(struct vctx *v, const char *loc, const char *fmt, ...)
{
    char what[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return err_set(v->err, "InvalidScenario", "%s: %s: %s", v->path, loc, what);
}

typedef int (*check_fn)(struct vctx *v, const json_t *val, const char *loc);

struct key_row {
    const char *name; /* as written in the file */
    check_fn check;   /* validates its value */
};

static int is_string(struct vctx *v, const json_t *val, const char *loc)
{
    return json_is_string(val) ? 0 : bad(v, loc, "must be a string");
}

static int is_object(struct vctx *v, const json_t *val, const char *loc)
{
    return json_is_object(val) ? 0 : bad(v, loc, "must be an object");
}

static int is_array(struct vctx *v, const json_t *val, const char *loc)
{
    return json_is_array(val) ? 0 : bad(v, loc, "must be an array");
}

static int is_string_list(struct vctx *v, const json_t *val, const char *loc)
{
    if (!json_is_array(val))
        return bad(v, loc, "must be an array of strings");
    size_t i;
    json_t *e;
    json_array_foreach(val, i, e)
        if (!json_is_string(e))
            return bad(v, loc, "element %zu is not a string", i);
    return 0;
}

static int is_string_or_list(struct vctx *v, const json_t *val, const char *loc)
{
    return json_is_string(val) ? 0 : is_string_list(v, val, loc);
}

/* A regex is checked now unless it holds {{var}} (then it is compiled after substitution). */
static int is_regex(struct vctx *v, const json_t *val, const char *loc)
{
    if (!json_is_string(val))
        return bad(v, loc, "must be a regular expression (string)");
    const char *p = json_string_value(val);
    if (strstr(p, "{{"))
        return 0;
    regex_t re;
    if (scenario_regcomp(&re, p, 1) < 0)
        return bad(v, loc, "invalid regular expression /%s/", p);
    regfree(&re);
    return 0;
}

static int is_true(struct vctx *v, const json_t *val, const char *loc)
{
    return json_is_true(val) ? 0 : bad(v, loc, "must be true");
}

static int is_status(struct vctx *v, const json_t *val, const char *loc)
{
    const char *s = json_string_value(val);
    if (s && (strcmp(s, "active") == 0 || strcmp(s, "handoff") == 0))
        return 0;
    return bad(v, loc, "must be \"active\" or \"handoff\"");
}

static int is_http_status(struct vctx *v, const json_t *val, const char *loc)
{
    json_int_t n = json_integer_value(val);
    return json_is_integer(val) && n >= 100 && n <= 599 ? 0 : bad(v, loc, "must be an HTTP status");
}

static int is_tool_args(struct vctx *v, const json_t *val, const char *loc)
{
    if (!json_is_object(val))
        return bad(v, loc, "must be an object {\"tool\": {subset of its input}}");
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)val, k, e)
        if (!json_is_object(e))
            return bad(v, loc, "\"%s\" must be an object (a subset of the tool's input)", k);
    return 0;
}

static int is_capture(struct vctx *v, const json_t *val, const char *loc)
{
    if (!json_is_object(val))
        return bad(v, loc, "must be an object {\"var\": \"regex\"}");
    const char *k;
    json_t *e;
    json_object_foreach((json_t *)val, k, e) {
        char sub[300];
        snprintf(sub, sizeof sub, "%s.%s", loc, k);
        if (json_is_object(e)) {
            if (json_object_size(e) != 1 || !json_is_string(json_object_get(e, "path")))
                return bad(v, sub, "must be a regex or {\"path\": \"dotted.path\"}");
        } else if (is_regex(v, e, sub) < 0) {
            return -1;
        }
    }
    return 0;
}

static const struct key_row expect_keys[] = {
    {"reply_matches", is_regex},               /* regex found in the reply (case-insensitive) */
    {"reply_not_matches", is_regex},           /* regex not found in the reply */
    {"reply_contains", is_string_or_list},     /* literal text in the reply (case-sensitive) */
    {"reply_not_contains", is_string_or_list}, /* literal text not in the reply */
    {"tools", is_string_list},                 /* each called and succeeded */
    {"tools_called", is_string_list},          /* each called, any status */
    {"tool_args", is_tool_args},               /* {"tool": {subset of its input}} */
    {"no_tools", is_true},                     /* no action at all */
    {"status", is_status},                     /* active | handoff */
    {"capture", is_capture},                   /* {"var": "regex"} in the reply, or {"path": ...} */
    {"actions", is_array},                     /* the actions array, element by element (subset) */
    {"paths", is_object},                      /* {"dotted.path": expected} in the response */
    {"http_status", is_http_status},           /* default 200 */
    {"response", is_object},                   /* subset of the whole response body */
};

static const struct key_row effects_keys[] = {
    {"tickets", is_array},                /* tickets of the scenario's sessions, oldest first */
    {"session", is_object},               /* subset of GET /sessions/{main} */
    {"transcript_tools", is_string_list}, /* tool calls stored in main's transcript, in order */
};

static int check_keys(struct vctx *v, const json_t *obj, const char *loc,
                      const struct key_row *rows, size_t nrows)
{
    const char *k;
    json_t *val;
    json_object_foreach((json_t *)obj, k, val) {
        char sub[300];
        snprintf(sub, sizeof sub, "%s.%s", loc, k);
        size_t i = 0;
        while (i < nrows && strcmp(rows[i].name, k) != 0)
            i++;
        if (i == nrows)
            return bad(v, sub, "unknown key \"%s\"", k);
        if (rows[i].check && rows[i].check(v, val, sub) < 0)
            return -1;
    }
    return 0;
}

#define NROWS(t) (sizeof(t) / sizeof((t)[0]))

static int check_turn(struct vctx *v, const json_t *turn, const char *loc, const json_t *sessions)
{
    static const struct key_row rows[] = {{"user", is_string},
                                          {"session", is_string},
                                          {"note", is_string},
                                          {"expect", is_object}};
    if (!json_is_object(turn))
        return bad(v, loc, "a turn must be an object");
    if (check_keys(v, turn, loc, rows, NROWS(rows)) < 0)
        return -1;
    if (!json_object_get(turn, "user"))
        return bad(v, loc, "a turn needs \"user\" (the customer's message)");
    const char *label = json_string_value(json_object_get(turn, "session"));
    if (label && strcmp(label, "main") != 0 && !json_object_get(sessions, label))
        return bad(v, loc, "session \"%s\" is not declared in \"sessions\"", label);
    char sub[300];
    snprintf(sub, sizeof sub, "%s.expect", loc);
    const json_t *expect = json_object_get(turn, "expect");
    return expect ? check_keys(v, expect, sub, expect_keys, NROWS(expect_keys)) : 0;
}

static int check_sessions(struct vctx *v, const json_t *sessions)
{
    static const struct key_row rows[] = {{"user", is_string}};
    if (!json_is_object(sessions))
        return bad(v, "$.sessions", "must be an object {\"label\": {\"user\"?}}");
    if (json_object_size(sessions) + 1 > SCENARIO_SESSIONS_MAX)
        return bad(v, "$.sessions", "more than %d sessions", SCENARIO_SESSIONS_MAX - 1);
    const char *k;
    json_t *s;
    json_object_foreach((json_t *)sessions, k, s) {
        char sub[300];
        snprintf(sub, sizeof sub, "$.sessions.%s", k);
        if (strcmp(k, "main") == 0)
            return bad(v, sub, "\"main\" is the scenario's own session");
        if (!json_is_object(s))
            return bad(v, sub, "must be an object");
        if (check_keys(v, s, sub, rows, NROWS(rows)) < 0)
            return -1;
    }
    return 0;
}

static int validate(struct vctx *v, const json_t *sc)
{
    static const struct key_row rows[] = {{"name", is_string}, {"description", is_string},
                                          {"user", is_string}, {"sessions", NULL},
                                          {"turns", is_array}, {"effects", is_object}};
    if (!json_is_object(sc))
        return bad(v, "$", "a scenario file holds one object");
    if (check_keys(v, sc, "$", rows, NROWS(rows)) < 0)
        return -1;
    const char *name = json_string_value(json_object_get(sc, "name"));
    if (!name || !*name)
        return bad(v, "$.name", "a scenario needs a name");
    const json_t *sessions = json_object_get(sc, "sessions");
    if (sessions && check_sessions(v, sessions) < 0)
        return -1;
    const json_t *turns = json_object_get(sc, "turns");
    if (json_array_size(turns) == 0)
        return bad(v, "$.turns", "a scenario needs at least one turn");
    if (json_array_size(turns) > SCENARIO_TURNS_MAX)
        return bad(v, "$.turns", "more than %d turns", SCENARIO_TURNS_MAX);
    size_t i;
    json_t *t;
    json_array_foreach(turns, i, t) {
        char loc[64];
        snprintf(loc, sizeof loc, "$.turns[%zu]", i);
        if (check_turn(v, t, loc, sessions) < 0)
            return -1;
    }
    const json_t *effects = json_object_get(sc, "effects");
    if (effects && check_keys(v, effects, "$.effects", effects_keys, NROWS(effects_keys)) < 0)
        return -1;
    return 0;
}

static int has_suffix(const char *s, const char *suffix)
{
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

json_t *scenario_parse(const char *path, const char *text, size_t len, struct err *err)
{
    struct vctx v = {path, err};
    json_t *sc = NULL;
    if (has_suffix(path, ".yaml") || has_suffix(path, ".yml")) {
        /* the agent file's YAML reader: same schema, same caps */
        if (!(sc = agent_file_parse_yaml(path, text, len, err))) {
            char msg[ERR_MSG_MAX];
            snprintf(msg, sizeof msg, "%s", err->message);
            err_set(err, "InvalidScenario", "%s", msg);
            return NULL;
        }
    } else {
        json_error_t jerr;
        sc = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
        if (!sc) {
            err_set(err, "InvalidScenario", "%s:%d:%d: %s", path, jerr.line, jerr.column,
                    jerr.text);
            return NULL;
        }
    }
    if (validate(&v, sc) < 0) {
        json_decref(sc);
        return NULL;
    }
    return sc;
}

json_t *scenario_load(const char *path, struct err *err)
{
    json_t *sc = NULL;
    char *text = NULL;
    FILE *f = NULL;
    f = fopen(path, "rb");
    if (!f) {
        err_set(err, "NotFound", "cannot read '%s': %s", path, strerror(errno));
        goto out;
    }
    text = malloc(SCENARIO_FILE_MAX + 1);
    size_t len = text ? fread(text, 1, SCENARIO_FILE_MAX + 1, f) : 0;
    if (!text || ferror(f)) {
        err_set(err, "NotFound", "cannot read '%s'", path);
        goto out;
    }
    if (len > SCENARIO_FILE_MAX) {
        err_set(err, "InvalidScenario", "%s: larger than %d bytes", path, SCENARIO_FILE_MAX);
        goto out;
    }
    sc = scenario_parse(path, text, len, err);
out:
    if (f)
        fclose(f);
    free(text);
    return sc;
}

/* ------------------------------------------------------------------------------------------------
 * Variables and regular expressions
 * --------------------------------------------------------------------------------------------- */

char *scenario_subst(const char *s, const json_t *vars, FILE *why)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    int ok = 1;
    while (*s) {
        const char *open = strstr(s, "{{");
        const char *close = open ? strstr(open + 2, "}}") : NULL;
        if (!open || !close) {
            fputs(s, f);
            break;
        }
        fwrite(s, 1, (size_t)(open - s), f);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(close - open - 2), open + 2);
        const char *val = json_string_value(json_object_get(vars, name));
        if (!val) {
            if (why)
                fprintf(why, "variable {{%s}} is used before it was captured\n", name);
            ok = 0;
        } else {
            fputs(val, f);
        }
        s = close + 2;
    }
    fclose(f);
    if (ok && len > SCENARIO_VALUE_MAX) {
        if (why)
            fprintf(why, "text longer than %d bytes after substitution\n", SCENARIO_VALUE_MAX);
        ok = 0;
    }
    if (!ok) {
        free(out);
        out = NULL;
    }
    return out;
}

int scenario_regcomp(regex_t *re, const char *pattern, int icase)
{
    /* POSIX ERE has no \d, \w, \s: rewrite them as bracket expressions (outside brackets only;
     * inside a bracket expression a backslash is literal in POSIX, and stays so). */
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    int in_bracket = 0;
    for (const char *p = pattern; *p; p++) {
        if (in_bracket) {
            if (*p == ']' && p[-1] != '[' && !(p[-1] == '^' && p[-2] == '['))
                in_bracket = 0;
            fputc(*p, f);
        } else if (*p == '[') {
            in_bracket = 1;
            fputc(*p, f);
        } else if (*p == '\\' && p[1]) {
            p++;
            switch (*p) {
            case 'd':
                fputs("[0-9]", f);
                break;
            case 'D':
                fputs("[^0-9]", f);
                break;
            case 'w':
                fputs("[A-Za-z0-9_]", f);
                break;
            case 'W':
                fputs("[^A-Za-z0-9_]", f);
                break;
            case 's':
                fputs("[[:space:]]", f);
                break;
            case 'S':
                fputs("[^[:space:]]", f);
                break;
            default:
                fputc('\\', f);
                fputc(*p, f);
                break;
            }
        } else {
            fputc(*p, f);
        }
    }
    fclose(f);
    int rc = regcomp(re, out, REG_EXTENDED | (icase ? REG_ICASE : 0)) == 0 ? 0 : -1;
    free(out);
    return rc;
}

/* ------------------------------------------------------------------------------------------------
 * Judging
 * --------------------------------------------------------------------------------------------- */

struct judge {
    const json_t *vars; /* captured values */
    FILE *why;          /* report */
    int ok;             /* every check so far held */
};

static void fail(struct judge *j, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct judge *j, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vfprintf(j->why, fmt, ap);
    fputc('\n', j->why);
    va_end(ap);
    j->ok = 0;
}

static char *dump(const json_t *v)
{
    char *s = v ? jsontext_dump(v) : NULL;
    return s ? s : strdup("(missing)");
}

/* Finds the regex (after substitution) in text. Returns 1 found, 0 not, -1 bad pattern (failed). */
static int find_re(struct judge *j, const char *pattern, int icase, const char *text, regmatch_t *m)
{
    char *p = scenario_subst(pattern, j->vars, j->why);
    if (!p) {
        j->ok = 0;
        return -1;
    }
    regex_t re;
    int rc;
    if (scenario_regcomp(&re, p, icase) < 0) {
        fail(j, "invalid regular expression /%s/", p);
        rc = -1;
    } else {
        regmatch_t local[1];
        rc = regexec(&re, text, 1, m ? m : local, 0) == 0;
        regfree(&re);
    }
    free(p);
    return rc;
}

/* Expected objects match when each expected key matches; arrays element by element with the same
 * length; strings after {{var}} substitution; {"$re": "ERE"} matches a string. */
static int subset(struct judge *j, const json_t *exp, const json_t *got, const char *path)
{
    if (json_is_object(exp) && json_object_size(exp) == 1 && json_object_get(exp, "$re")) {
        const char *pattern = json_string_value(json_object_get(exp, "$re"));
        if (pattern && json_is_string(got)) {
            int rc = find_re(j, pattern, 0, json_string_value(got), NULL);
            if (rc != 0)
                return rc > 0;
        }
        char *g = dump(got);
        fail(j, "%s: expected a string matching /%s/, got %s", path, pattern ? pattern : "?", g);
        free(g);
        return 0;
    }
    if (json_is_object(exp)) {
        if (!json_is_object(got)) {
            char *g = dump(got);
            fail(j, "%s: expected an object, got %s", path, g);
            free(g);
            return 0;
        }
        int ok = 1;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)exp, k, v) {
            char sub[300];
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            ok &= subset(j, v, json_object_get(got, k), sub);
        }
        return ok;
    }
    if (json_is_array(exp)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(exp)) {
            char *e = dump(exp), *g = dump(got);
            fail(j, "%s: expected %zu elements matching %s, got %s", path, json_array_size(exp), e,
                 g);
            free(e);
            free(g);
            return 0;
        }
        int ok = 1;
        for (size_t i = 0; i < json_array_size(exp); i++) {
            char sub[300];
            snprintf(sub, sizeof sub, "%s[%zu]", path, i);
            ok &= subset(j, json_array_get(exp, i), json_array_get(got, i), sub);
        }
        return ok;
    }
    if (json_is_string(exp)) {
        char *want = scenario_subst(json_string_value(exp), j->vars, j->why);
        if (!want) {
            j->ok = 0;
            return 0;
        }
        int ok = json_is_string(got) && strcmp(json_string_value(got), want) == 0;
        if (!ok) {
            char *g = dump(got);
            fail(j, "%s: expected \"%s\", got %s", path, want, g);
            free(g);
        }
        free(want);
        return ok;
    }
    if (json_equal((json_t *)exp, (json_t *)got))
        return 1;
    char *e = dump(exp), *g = dump(got);
    fail(j, "%s: expected %s, got %s", path, e, g);
    free(e);
    free(g);
    return 0;
}

/* The value at a dotted path ("actions.0.result.ticketId"), borrowed, or NULL. */
static const json_t *at_path(const json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    const json_t *v = root;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    return v;
}

static void capture(struct judge *j, json_t *vars, const json_t *spec, const json_t *resp,
                    const char *reply)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)spec, k, v) {
        if (json_is_object(v)) {
            const char *path = json_string_value(json_object_get(v, "path"));
            const json_t *got = at_path(resp, path);
            if (json_is_string(got) && json_string_length(got) > 0)
                json_object_set_new(vars, k, json_string(json_string_value(got)));
            else
                fail(j, "capture %s: nothing at %s", k, path);
            continue;
        }
        regmatch_t m;
        int rc = find_re(j, json_string_value(v), 1, reply, &m);
        if (rc > 0 && m.rm_so >= 0) {
            json_object_set_new(vars, k,
                                json_stringn(reply + m.rm_so, (size_t)(m.rm_eo - m.rm_so)));
        } else if (rc == 0) {
            fail(j, "capture %s: /%s/ does not match the reply", k, json_string_value(v));
        }
    }
}

static void contains(struct judge *j, const json_t *list, const char *reply, int want)
{
    json_t *one = json_is_string(list) ? json_array() : NULL;
    if (one)
        json_array_append(one, (json_t *)list);
    size_t i;
    json_t *v;
    json_array_foreach(one ? one : list, i, v) {
        char *needle = scenario_subst(json_string_value(v), j->vars, j->why);
        if (!needle) {
            j->ok = 0;
            continue;
        }
        if ((strstr(reply, needle) != NULL) != want)
            fail(j, "expected the reply %s \"%s\"", want ? "to contain" : "not to contain", needle);
        free(needle);
    }
    json_decref(one);
}

/* 1 when some action calls tool (with status when not NULL). */
static const json_t *find_action(const json_t *actions, const char *tool, const char *status)
{
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a) {
        const char *t = json_string_value(json_object_get(a, "tool"));
        const char *s = json_string_value(json_object_get(a, "status"));
        if (t && strcmp(t, tool) == 0 && (!status || (s && strcmp(s, status) == 0)))
            return a;
    }
    return NULL;
}

static void judge_tools(struct judge *j, const json_t *expect, const json_t *actions)
{
    size_t i;
    json_t *v;
    json_array_foreach(json_object_get(expect, "tools"), i, v)
        if (!find_action(actions, json_string_value(v), "succeeded"))
            fail(j, "expected tool %s to be called and succeed", json_string_value(v));
    json_array_foreach(json_object_get(expect, "tools_called"), i, v)
        if (!find_action(actions, json_string_value(v), NULL))
            fail(j, "expected tool %s to be called", json_string_value(v));
    const char *tool;
    json_object_foreach(json_object_get(expect, "tool_args"), tool, v) {
        /* some call of the tool must hold the subset; report against the first one */
        const json_t *first = NULL;
        int held = 0;
        size_t k;
        json_t *a;
        json_array_foreach(actions, k, a) {
            const char *t = json_string_value(json_object_get(a, "tool"));
            if (!t || strcmp(t, tool) != 0)
                continue;
            if (!first)
                first = a;
            struct judge quiet = {j->vars, NULL, 1};
            char *sink = NULL;
            size_t sink_len = 0;
            quiet.why = open_memstream(&sink, &sink_len);
            held |= subset(&quiet, v, json_object_get(a, "input"), "input");
            fclose(quiet.why);
            free(sink);
        }
        if (!first) {
            fail(j, "expected tool %s to be called (tool_args)", tool);
        } else if (!held) {
            char path[200];
            snprintf(path, sizeof path, "tool_args.%s", tool);
            subset(j, v, json_object_get(first, "input"), path);
        }
    }
    if (json_is_true(json_object_get(expect, "no_tools")) && json_array_size(actions) > 0) {
        char *g = dump(actions);
        fail(j, "expected no tool calls, got %s", g);
        free(g);
    }
}

int scenario_judge_turn(const json_t *expect, long http_status, const json_t *resp, json_t *vars,
                        int expected_turn, const char *sid, FILE *why)
{
    struct judge j = {vars, why, 1};
    long want_http = 200;
    if (expect && json_object_get(expect, "http_status"))
        want_http = (long)json_integer_value(json_object_get(expect, "http_status"));
    if (http_status != want_http)
        fail(&j, "expected HTTP %ld, got %ld", want_http, http_status);
    const json_t *actions = json_object_get(resp, "actions");
    const char *reply = json_string_value(json_object_get(resp, "reply"));
    if (!reply)
        reply = "";
    if (http_status == 200) {
        /* the conversation's bookkeeping holds on every answered turn */
        const char *got_sid = json_string_value(json_object_get(resp, "sessionId"));
        if (sid && sid[0] && (!got_sid || strcmp(sid, got_sid) != 0))
            fail(&j, "sessionId changed from %s to %s", sid, got_sid ? got_sid : "(none)");
        json_int_t turn = json_integer_value(json_object_get(resp, "turn"));
        if (turn != expected_turn)
            fail(&j, "expected turn %d, got %lld", expected_turn, (long long)turn);
        if (!json_is_array(actions))
            fail(&j, "the response has no actions array");
    }
    if (!expect)
        return j.ok;
    if (json_object_get(expect, "capture"))
        capture(&j, vars, json_object_get(expect, "capture"), resp, reply);
    const char *pattern = json_string_value(json_object_get(expect, "reply_matches"));
    if (pattern && find_re(&j, pattern, 1, reply, NULL) == 0)
        fail(&j, "expected the reply to match /%s/", pattern);
    pattern = json_string_value(json_object_get(expect, "reply_not_matches"));
    if (pattern && find_re(&j, pattern, 1, reply, NULL) == 1)
        fail(&j, "expected the reply not to match /%s/", pattern);
    if (json_object_get(expect, "reply_contains"))
        contains(&j, json_object_get(expect, "reply_contains"), reply, 1);
    if (json_object_get(expect, "reply_not_contains"))
        contains(&j, json_object_get(expect, "reply_not_contains"), reply, 0);
    judge_tools(&j, expect, actions);
    const char *status = json_string_value(json_object_get(expect, "status"));
    const char *got_status = json_string_value(json_object_get(resp, "status"));
    if (status && (!got_status || strcmp(status, got_status) != 0))
        fail(&j, "expected status %s, got %s", status, got_status ? got_status : "(none)");
    if (json_object_get(expect, "actions"))
        subset(&j, json_object_get(expect, "actions"), actions, "actions");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(expect, "paths"), k, v)
        subset(&j, v, at_path(resp, k), k);
    if (json_object_get(expect, "response"))
        subset(&j, json_object_get(expect, "response"), resp, "response");
    return j.ok;
}

int scenario_judge_effects(const json_t *effects, const json_t *tickets, const json_t *session,
                           const json_t *vars, FILE *why)
{
    struct judge j = {vars, why, 1};
    if (json_object_get(effects, "tickets"))
        subset(&j, json_object_get(effects, "tickets"), tickets, "effects.tickets");
    const json_t *want_session = json_object_get(effects, "session");
    const json_t *want_tools = json_object_get(effects, "transcript_tools");
    if ((want_session || want_tools) && !session) {
        fail(&j, "effects: the main session's transcript could not be read");
        return 0;
    }
    if (want_session)
        subset(&j, want_session, session, "effects.session");
    if (want_tools) {
        json_t *names = json_array();
        size_t i, k;
        json_t *m, *u;
        json_array_foreach(json_object_get(session, "messages"), i, m)
            json_array_foreach(json_object_get(m, "toolUses"), k, u)
                json_array_append(names, json_object_get(u, "tool"));
        subset(&j, want_tools, names, "effects.transcript_tools");
        json_decref(names);
    }
    return j.ok;
}

/* ------------------------------------------------------------------------------------------------
 * Save as test: a scenario from a transcript
 * --------------------------------------------------------------------------------------------- */

/* The status of the tool result answering id ("succeeded", "failed" or "pending"). */
static const char *result_status(const json_t *messages, const char *id)
{
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *use = json_string_value(json_object_get(m, "toolUseId"));
        if (role && strcmp(role, "tool") == 0 && use && id && strcmp(use, id) == 0)
            return json_is_true(json_object_get(m, "isError")) ? "failed" : "succeeded";
    }
    return "pending";
}

json_t *scenario_transcript_turns(const json_t *doc)
{
    const json_t *messages = json_object_get(doc, "messages");
    json_t *turns = json_array();
    json_t *cur = NULL; /* borrowed from turns */
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        const char *content = json_string_value(json_object_get(m, "content"));
        if (!role)
            continue;
        if (strcmp(role, "user") == 0) {
            cur = json_pack("{s:s, s:s, s:[]}", "user", content ? content : "", "reply", "",
                            "actions");
            json_array_append_new(turns, cur);
            continue;
        }
        if (!cur || strcmp(role, "assistant") != 0)
            continue;
        if (content && *content)
            json_object_set_new(cur, "reply", json_string(content));
        size_t k;
        json_t *u;
        json_array_foreach(json_object_get(m, "toolUses"), k, u) {
            const char *id = json_string_value(json_object_get(u, "id"));
            json_array_append_new(json_object_get(cur, "actions"),
                                  json_pack("{s:O, s:O?, s:s}", "tool", json_object_get(u, "tool"),
                                            "input", json_object_get(u, "input"), "status",
                                            result_status(messages, id)));
        }
    }
    return turns;
}

json_t *scenario_from_transcript(const json_t *doc)
{
    json_t *turns = scenario_transcript_turns(doc);
    json_t *sc = NULL;
    if (json_array_size(turns) == 0 || json_array_size(turns) > SCENARIO_TURNS_MAX)
        goto out;
    const char *sid = json_string_value(json_object_get(doc, "sessionId"));
    const char *user = json_string_value(json_object_get(doc, "userId"));
    const char *status = json_string_value(json_object_get(doc, "status"));
    char name[160], description[300];
    snprintf(name, sizeof name, "session %s", sid ? sid : "?");
    snprintf(description, sizeof description,
             "saved from session %s (last activity %s); edit the expectations", sid ? sid : "?",
             json_string_value(json_object_get(doc, "lastActivity")) ?: "?");
    sc = json_pack("{s:s, s:s}", "name", name, "description", description);
    if (user && *user)
        json_object_set_new(sc, "user", json_string(user));
    json_t *out_turns = json_array();
    json_t *all_tools = json_array();
    size_t i;
    json_t *t;
    json_array_foreach(turns, i, t) {
        json_t *expect = json_object();
        json_t *ok = json_array(), *called = json_array(), *args = json_object();
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(t, "actions"), k, a) {
            const char *tool = json_string_value(json_object_get(a, "tool"));
            const char *st = json_string_value(json_object_get(a, "status"));
            if (!tool)
                continue;
            json_array_append_new(all_tools, json_string(tool));
            json_array_append_new(strcmp(st, "succeeded") == 0 ? ok : called, json_string(tool));
            if (!json_object_get(args, tool) && json_is_object(json_object_get(a, "input")))
                json_object_set(args, tool, json_object_get(a, "input"));
        }
        if (json_array_size(ok) + json_array_size(called) == 0)
            json_object_set_new(expect, "no_tools", json_true());
        if (json_array_size(ok))
            json_object_set(expect, "tools", ok);
        if (json_array_size(called))
            json_object_set(expect, "tools_called", called);
        if (json_object_size(args))
            json_object_set(expect, "tool_args", args);
        json_decref(ok);
        json_decref(called);
        json_decref(args);
        if (i + 1 == json_array_size(turns) && status &&
            (strcmp(status, "active") == 0 || strcmp(status, "handoff") == 0))
            json_object_set_new(expect, "status", json_string(status));
        json_t *turn = json_pack("{s:O, s:o}", "user", json_object_get(t, "user"), "expect",
                                 expect);
        const char *reply = json_string_value(json_object_get(t, "reply"));
        if (reply && *reply) {
            char note[400];
            snprintf(note, sizeof note, "the agent answered: %.340s", reply);
            json_object_set_new(turn, "note", json_string(note));
        }
        json_array_append_new(out_turns, turn);
    }
    json_object_set_new(sc, "turns", out_turns);
    json_object_set_new(sc, "effects", json_pack("{s:o}", "transcript_tools", all_tools));
out:
    json_decref(turns);
    return sc;
}
