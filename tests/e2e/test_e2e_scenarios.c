/*
 * test_e2e_scenarios.c - runs the scripted conversations (the JSON files in tests/scenarios) end to
 * end over HTTP against the real binary and the offline model (issue 4, "tests/scenarios/").
 *
 * One server is started with an operator token; every scenario runs in fresh sessions, turn by
 * turn: each turn's reply, actions and status are compared with what the scenario expects, and
 * after the last turn its effects (tickets created from its sessions, the stored session header and
 * the tool calls in its transcript) are checked through GET /tickets and GET /sessions/{id}. Each
 * scenario is one check_record(); a failure names the scenario, the turn, what was expected and
 * what came back. The file format is described in tests/scenarios/README.md; a scenario with a key
 * the runner does not know fails rather than being half-checked. Fewer than MIN_SCENARIOS
 * scenarios is a failure too.
 */
#include <dirent.h>
#include <regex.h>
#include <stdarg.h>

#include "check.h"
#include "e2e/e2e.h"

#define MIN_SCENARIOS 25
#define OPERATOR_TOKEN "scenario-runner-token"
#define TOKEN_HEADER "Authorization: Bearer " OPERATOR_TOKEN
#define MAX_SESSIONS 8

static struct e2e_server srv;

/* ------------------------------------------------------------------------------------------------
 * A scenario run: its sessions, captured variables and the failure report
 * --------------------------------------------------------------------------------------------- */

struct session {
    char label[32];  /* "main" or a name from the scenario's "sessions" */
    char user[128];  /* userId sent with every request ("" = anonymous guest) */
    char sid[80];    /* issued by the server on the first turn */
    int turns;       /* turns answered with 200 so far */
};

struct run {
    const char *name;
    struct session sessions[MAX_SESSIONS];
    int nsessions;
    json_t *vars;    /* captured values: name -> string */
    FILE *why;       /* failure report (open_memstream) */
    int failed;
};

static void fail(struct run *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void fail(struct run *r, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("    ", r->why);
    vfprintf(r->why, fmt, ap);
    fputc('\n', r->why);
    va_end(ap);
    r->failed = 1;
}

/* Compact JSON of v for messages (owned). */
static char *dump(const json_t *v)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    return s ? s : strdup("(missing)");
}

/* Replaces ${name} with captured values. Returns owned text, or NULL (and fails) when a variable
 * was never captured. */
static char *subst(struct run *r, const char *s)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    int ok = 1;
    while (*s) {
        const char *open = strstr(s, "${");
        const char *close = open ? strchr(open, '}') : NULL;
        if (!open || !close) {
            fputs(s, f);
            break;
        }
        fwrite(s, 1, (size_t)(open - s), f);
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(close - open - 2), open + 2);
        const char *v = json_string_value(json_object_get(r->vars, name));
        if (!v) {
            fail(r, "variable ${%s} is used before it was captured", name);
            ok = 0;
        } else {
            fputs(v, f);
        }
        s = close + 1;
    }
    fclose(f);
    if (!ok) {
        free(out);
        return NULL;
    }
    return out;
}

/* Returns the value at a dotted path ("actions.0.result.ticketId"), borrowed, or NULL. */
static json_t *at_path(json_t *root, const char *path)
{
    char buf[256];
    snprintf(buf, sizeof buf, "%s", path);
    json_t *v = root;
    char *save = NULL;
    for (char *tok = strtok_r(buf, ".", &save); tok && v; tok = strtok_r(NULL, ".", &save))
        v = json_is_array(v) ? json_array_get(v, strtoul(tok, NULL, 10)) : json_object_get(v, tok);
    return v;
}

/* Checks that keys of obj are all in allowed (NULL-ended). Unknown keys are scenario typos. */
static int known_keys(struct run *r, const json_t *obj, const char *where,
                      const char *const *allowed)
{
    const char *k;
    json_t *v;
    int ok = 1;
    json_object_foreach((json_t *)obj, k, v) {
        int found = 0;
        for (const char *const *a = allowed; *a; a++)
            found |= strcmp(*a, k) == 0;
        if (!found) {
            fail(r, "%s: unknown key \"%s\" (scenario file error)", where, k);
            ok = 0;
        }
    }
    return ok;
}

/* ------------------------------------------------------------------------------------------------
 * Subset matching: expected objects match when every expected key matches; arrays match element
 * by element and must have the same length; strings (after ${var} substitution) and other scalars
 * must be equal; {"$re": "ERE"} matches a string against a POSIX extended regular expression.
 * --------------------------------------------------------------------------------------------- */

static int regex_match(const char *s, const char *pattern, int *bad)
{
    regex_t re;
    if (regcomp(&re, pattern, REG_EXTENDED | REG_NOSUB) != 0) {
        *bad = 1;
        return 0;
    }
    int ok = regexec(&re, s, 0, NULL, 0) == 0;
    regfree(&re);
    return ok;
}

static int subset(struct run *r, const json_t *exp, const json_t *got, const char *path)
{
    if (json_is_object(exp) && json_object_size(exp) == 1 && json_object_get(exp, "$re")) {
        const char *pattern = json_string_value(json_object_get(exp, "$re"));
        int bad = 0;
        if (pattern && json_is_string(got) && regex_match(json_string_value(got), pattern, &bad))
            return 1;
        char *g = dump(got);
        if (bad || !pattern)
            fail(r, "%s: invalid regular expression in the scenario", path);
        else
            fail(r, "%s: expected a string matching /%s/, got %s", path, pattern, g);
        free(g);
        return 0;
    }
    if (json_is_object(exp)) {
        if (!json_is_object(got)) {
            char *g = dump(got);
            fail(r, "%s: expected an object, got %s", path, g);
            free(g);
            return 0;
        }
        int ok = 1;
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)exp, k, v) {
            char sub[300];
            snprintf(sub, sizeof sub, "%s.%s", path, k);
            ok &= subset(r, v, json_object_get(got, k), sub);
        }
        return ok;
    }
    if (json_is_array(exp)) {
        if (!json_is_array(got) || json_array_size(got) != json_array_size(exp)) {
            char *e = dump(exp), *g = dump(got);
            fail(r, "%s: expected %zu elements matching %s, got %s", path, json_array_size(exp),
                 e, g);
            free(e);
            free(g);
            return 0;
        }
        int ok = 1;
        for (size_t i = 0; i < json_array_size(exp); i++) {
            char sub[300];
            snprintf(sub, sizeof sub, "%s.%zu", path, i);
            ok &= subset(r, json_array_get(exp, i), json_array_get(got, i), sub);
        }
        return ok;
    }
    if (json_is_string(exp)) {
        char *want = subst(r, json_string_value(exp));
        if (!want)
            return 0;
        int ok = json_is_string(got) && strcmp(json_string_value(got), want) == 0;
        if (!ok) {
            char *g = dump(got);
            fail(r, "%s: expected \"%s\", got %s", path, want, g);
            free(g);
        }
        free(want);
        return ok;
    }
    if (json_equal((json_t *)exp, (json_t *)got))
        return 1;
    char *e = dump(exp), *g = dump(got);
    fail(r, "%s: expected %s, got %s", path, e, g);
    free(e);
    free(g);
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Sessions
 * --------------------------------------------------------------------------------------------- */

static struct session *session_get(struct run *r, const char *label)
{
    for (int i = 0; i < r->nsessions; i++)
        if (strcmp(r->sessions[i].label, label) == 0)
            return &r->sessions[i];
    return NULL;
}

static struct session *session_add(struct run *r, const char *label, const char *user)
{
    if (r->nsessions == MAX_SESSIONS) {
        fail(r, "more than %d sessions in one scenario", MAX_SESSIONS);
        return NULL;
    }
    struct session *s = &r->sessions[r->nsessions++];
    memset(s, 0, sizeof *s);
    snprintf(s->label, sizeof s->label, "%s", label);
    snprintf(s->user, sizeof s->user, "%s", user ? user : "");
    return s;
}

/* ------------------------------------------------------------------------------------------------
 * One turn
 * --------------------------------------------------------------------------------------------- */

/* A short description of what came back, for failure messages. */
static void describe_response(struct run *r, const struct e2e_resp *resp)
{
    fprintf(r->why, "    came back: HTTP %ld, status \"%s\"\n", resp->status,
            e2e_str(resp, "status"));
    if (json_is_string(json_object_get(resp->json, "reply")))
        fprintf(r->why, "      reply: %s\n", e2e_str(resp, "reply"));
    else
        fprintf(r->why, "      body: %.500s\n", resp->body ? resp->body : "");
    json_t *actions = json_object_get(resp->json, "actions");
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a) {
        char *in = dump(json_object_get(a, "input"));
        char *res = dump(json_object_get(a, "result"));
        fprintf(r->why, "      action %zu: %s %s input=%s result=%.300s\n", i,
                json_string_value(json_object_get(a, "tool")),
                json_string_value(json_object_get(a, "status")), in, res);
        free(in);
        free(res);
    }
}

static void check_strings(struct run *r, const json_t *list, const char *reply, int want,
                          const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        if (!json_is_string(v)) {
            fail(r, "%s.%zu is not a string (scenario file error)", key, i);
            continue;
        }
        char *needle = subst(r, json_string_value(v));
        if (!needle)
            continue;
        int has = strstr(reply, needle) != NULL;
        if (has != want)
            fail(r, "reply %s \"%s\"", want ? "does not contain" : "contains", needle);
        free(needle);
    }
}

/* Checks the response of one turn against expect. */
static void check_expect(struct run *r, const json_t *expect, const struct e2e_resp *resp,
                         struct session *s)
{
    static const char *const keys[] = {"httpStatus", "tools", "toolStatus", "actions",
                                       "replyContains", "replyNotContains", "status",
                                       "response", "paths", NULL};
    if (!known_keys(r, expect, "expect", keys))
        return;
    long want_http = json_integer_value(json_object_get(expect, "httpStatus"));
    if (!want_http)
        want_http = 200;
    if (resp->status != want_http)
        fail(r, "expected HTTP %ld, got %ld", want_http, resp->status);
    if (want_http == 200 && resp->status == 200) {
        /* the conversation's bookkeeping holds on every answered turn */
        const char *sid = e2e_str(resp, "sessionId");
        if (s->sid[0] && strcmp(sid, s->sid) != 0)
            fail(r, "sessionId changed from %s to %s", s->sid, sid);
        json_int_t turn = json_integer_value(json_object_get(resp->json, "turn"));
        if (turn != s->turns + 1)
            fail(r, "expected turn %d, got %lld", s->turns + 1, (long long)turn);
        if (!json_is_array(json_object_get(resp->json, "actions")))
            fail(r, "the response has no actions array");
    }
    json_t *actions = json_object_get(resp->json, "actions");
    const json_t *tools = json_object_get(expect, "tools");
    if (tools) {
        json_t *names = json_array();
        size_t i;
        json_t *a;
        json_array_foreach(actions, i, a) json_array_append(names, json_object_get(a, "tool"));
        subset(r, tools, names, "tools");
        json_decref(names);
    }
    const json_t *statuses = json_object_get(expect, "toolStatus");
    if (statuses) {
        json_t *got = json_array();
        size_t i;
        json_t *a;
        json_array_foreach(actions, i, a) json_array_append(got, json_object_get(a, "status"));
        subset(r, statuses, got, "toolStatus");
        json_decref(got);
    }
    if (json_object_get(expect, "actions"))
        subset(r, json_object_get(expect, "actions"), actions, "actions");
    const char *reply = e2e_str(resp, "reply");
    check_strings(r, json_object_get(expect, "replyContains"), reply, 1, "replyContains");
    check_strings(r, json_object_get(expect, "replyNotContains"), reply, 0, "replyNotContains");
    if (json_object_get(expect, "status"))
        subset(r, json_object_get(expect, "status"), json_object_get(resp->json, "status"),
               "status");
    if (json_object_get(expect, "response"))
        subset(r, json_object_get(expect, "response"), resp->json, "response");
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(expect, "paths"), k, v)
        subset(r, v, at_path(resp->json, k), k);
}

/* Runs turn number idx (0-based). Returns 0 when it passed. */
static int run_turn(struct run *r, const json_t *turn, size_t idx)
{
    static const char *const keys[] = {"user", "session", "expect", "capture", "note", NULL};
    char where[32];
    snprintf(where, sizeof where, "turn %zu", idx + 1);
    if (!known_keys(r, turn, where, keys))
        return -1;
    const char *label = json_string_value(json_object_get(turn, "session"));
    struct session *s = session_get(r, label ? label : "main");
    if (!s) {
        fail(r, "turn %zu: session \"%s\" is not declared in \"sessions\"", idx + 1, label);
        return -1;
    }
    const json_t *user = json_object_get(turn, "user");
    if (!json_is_string(user)) {
        fail(r, "turn %zu: \"user\" must be a string", idx + 1);
        return -1;
    }
    char *text = subst(r, json_string_value(user));
    if (!text)
        return -1;
    json_t *body = json_pack("{s:s}", "message", text);
    if (s->sid[0])
        json_object_set_new(body, "sessionId", json_string(s->sid));
    if (s->user[0])
        json_object_set_new(body, "userId", json_string(s->user));
    char *raw = json_dumps(body, JSON_COMPACT);
    struct e2e_resp resp = e2e_http(&srv, "POST", "/chat", raw);
    free(raw);
    json_decref(body);

    /* this turn's findings go to their own buffer, printed under a heading naming the turn */
    int before = r->failed;
    FILE *outer = r->why;
    char *mine = NULL;
    size_t mine_len = 0;
    r->why = open_memstream(&mine, &mine_len);
    r->failed = 0;
    /* captures first: the turn's own expectations may use them (the new ticket's id) */
    const char *k;
    json_t *v;
    json_object_foreach(json_object_get(turn, "capture"), k, v) {
        json_t *got = json_is_string(v) ? at_path(resp.json, json_string_value(v)) : NULL;
        if (json_is_string(got) && json_string_length(got) > 0)
            json_object_set(r->vars, k, got);
        else
            fail(r, "capture %s: nothing at %s", k, json_is_string(v) ? json_string_value(v) : "?");
    }
    const json_t *expect = json_object_get(turn, "expect");
    if (!json_is_object(expect))
        fail(r, "turn %zu has no \"expect\" object (scenario file error)", idx + 1);
    else
        check_expect(r, expect, &resp, s);
    if (resp.status == 200) {
        if (!s->sid[0])
            snprintf(s->sid, sizeof s->sid, "%s", e2e_str(&resp, "sessionId"));
        s->turns++;
    }
    int failed = r->failed;
    if (failed)
        describe_response(r, &resp);
    fclose(r->why);
    r->why = outer;
    if (failed)
        fprintf(r->why, "  turn %zu (session %s), customer says \"%s\":\n%s", idx + 1, s->label,
                text, mine);
    free(mine);
    r->failed = before || failed;
    free(text);
    e2e_resp_free(&resp);
    return failed ? -1 : 0;
}

/* ------------------------------------------------------------------------------------------------
 * Effects
 * --------------------------------------------------------------------------------------------- */

static int by_ticket_id(const void *a, const void *b)
{
    const char *x = json_string_value(json_object_get(*(json_t *const *)a, "id"));
    const char *y = json_string_value(json_object_get(*(json_t *const *)b, "id"));
    return strcmp(x ? x : "", y ? y : "");
}

/* Tickets created from any of the scenario's sessions, oldest first (new array). */
static json_t *scenario_tickets(struct run *r)
{
    struct e2e_resp resp = e2e_http_ex(&srv, "GET", "/tickets", NULL, 0, NULL, TOKEN_HEADER);
    json_t *mine = json_array();
    if (resp.status != 200) {
        fail(r, "GET /tickets answered HTTP %ld: %s", resp.status, resp.body);
        e2e_resp_free(&resp);
        return mine;
    }
    size_t i, n = 0;
    json_t *t;
    json_t *items[512];
    json_array_foreach(json_object_get(resp.json, "tickets"), i, t) {
        const char *sid = json_string_value(json_object_get(t, "sessionId"));
        for (int k = 0; sid && k < r->nsessions && n < 512; k++)
            if (r->sessions[k].sid[0] && strcmp(r->sessions[k].sid, sid) == 0) {
                items[n++] = t;
                break;
            }
    }
    qsort(items, n, sizeof items[0], by_ticket_id);
    for (i = 0; i < n; i++)
        json_array_append(mine, items[i]);
    e2e_resp_free(&resp);
    return mine;
}

/* The tool names of the session's transcript, in order (new array). */
static json_t *transcript_tools(const json_t *doc)
{
    json_t *names = json_array();
    size_t i, k;
    json_t *m, *u;
    json_array_foreach(json_object_get(doc, "messages"), i, m)
        json_array_foreach(json_object_get(m, "toolUses"), k, u)
            json_array_append(names, json_object_get(u, "tool"));
    return names;
}

static void check_effects(struct run *r, const json_t *effects)
{
    static const char *const keys[] = {"tickets", "session", "transcriptTools", NULL};
    if (!known_keys(r, effects, "effects", keys))
        return;
    int before = r->failed;
    FILE *outer = r->why;
    char *mine = NULL;
    size_t mine_len = 0;
    r->why = open_memstream(&mine, &mine_len);
    r->failed = 0;
    if (json_object_get(effects, "tickets")) {
        json_t *tickets = scenario_tickets(r);
        subset(r, json_object_get(effects, "tickets"), tickets, "effects.tickets");
        json_decref(tickets);
    }
    if (json_object_get(effects, "session") || json_object_get(effects, "transcriptTools")) {
        struct session *s = session_get(r, "main");
        char path[320];
        /* The owner asks: a session with a userId is shown to that userId (issue 14). */
        snprintf(path, sizeof path, "/sessions/%s%s%s", s->sid, s->user[0] ? "?userId=" : "",
                 s->user);
        struct e2e_resp resp = e2e_http(&srv, "GET", path, NULL);
        if (resp.status != 200) {
            fail(r, "GET %s answered HTTP %ld", path, resp.status);
        } else {
            if (json_object_get(effects, "session"))
                subset(r, json_object_get(effects, "session"), resp.json, "effects.session");
            if (json_object_get(effects, "transcriptTools")) {
                json_t *names = transcript_tools(resp.json);
                subset(r, json_object_get(effects, "transcriptTools"), names,
                       "effects.transcriptTools");
                json_decref(names);
            }
        }
        e2e_resp_free(&resp);
    }
    fclose(r->why);
    r->why = outer;
    if (r->failed)
        fprintf(r->why, "  effects after the last turn:\n%s", mine);
    free(mine);
    r->failed = before || r->failed;
}

/* ------------------------------------------------------------------------------------------------
 * A scenario
 * --------------------------------------------------------------------------------------------- */

static void run_scenario(const json_t *sc, const char *file)
{
    static const char *const keys[] = {"name", "cites", "userId", "sessions", "turns", "effects",
                                       NULL};
    struct run r = {0};
    char *report = NULL;
    size_t report_len = 0;
    r.why = open_memstream(&report, &report_len);
    r.vars = json_object();
    const char *name = json_string_value(json_object_get(sc, "name"));
    r.name = name ? name : file;
    known_keys(&r, sc, "scenario", keys);
    if (!name)
        fail(&r, "scenario has no \"name\"");
    if (!json_is_string(json_object_get(sc, "cites")))
        fail(&r, "scenario has no \"cites\" (what requirement it checks)");
    const json_t *turns = json_object_get(sc, "turns");
    if (!json_is_array(turns) || json_array_size(turns) == 0)
        fail(&r, "scenario has no turns");
    session_add(&r, "main", json_string_value(json_object_get(sc, "userId")));
    const char *label;
    json_t *decl;
    json_object_foreach(json_object_get(sc, "sessions"), label, decl) {
        static const char *const skeys[] = {"userId", NULL};
        known_keys(&r, decl, "sessions entry", skeys);
        if (strcmp(label, "main") == 0 || session_get(&r, label))
            fail(&r, "session \"%s\" declared twice", label);
        else
            session_add(&r, label, json_string_value(json_object_get(decl, "userId")));
    }
    if (!r.failed) {
        size_t i;
        json_t *t;
        json_array_foreach(turns, i, t) {
            if (run_turn(&r, t, i) < 0)
                break; /* later turns depend on this one */
        }
    }
    if (!r.failed && json_object_get(sc, "effects"))
        check_effects(&r, json_object_get(sc, "effects"));
    fclose(r.why);
    if (r.failed)
        fprintf(stderr, "scenario \"%s\" (%s) failed:\n%s", r.name, file, report);
    char title[400];
    snprintf(title, sizeof title, "scenario %s", r.name);
    check_record(title, !r.failed);
    free(report);
    json_decref(r.vars);
}

/* ------------------------------------------------------------------------------------------------
 * Loading
 * --------------------------------------------------------------------------------------------- */

static int json_name(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 5 && strcmp(d->d_name + n - 5, ".json") == 0;
}

/* Loads every scenario of dir into one array (a file holds one scenario object or an array of
 * them); each element is wrapped as {"file", "scenario"}. Returns the array, or NULL. */
static json_t *load_scenarios(const char *dir)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, json_name, alphasort);
    if (n < 0) {
        fprintf(stderr, "cannot read %s\n", dir);
        return NULL;
    }
    json_t *all = json_array();
    for (int i = 0; i < n; i++) {
        char path[1400];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        json_error_t jerr;
        json_t *doc = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
        if (!doc) {
            fprintf(stderr, "%s:%d:%d: %s\n", path, jerr.line, jerr.column, jerr.text);
            check_record(names[i]->d_name, 0);
        } else if (json_is_array(doc)) {
            size_t k;
            json_t *sc;
            json_array_foreach(doc, k, sc)
                json_array_append_new(all, json_pack("{s:s, s:O}", "file", names[i]->d_name,
                                                     "scenario", sc));
        } else {
            json_array_append_new(all, json_pack("{s:s, s:O}", "file", names[i]->d_name,
                                                 "scenario", doc));
        }
        json_decref(doc);
        free(names[i]);
    }
    free(names);
    return all;
}

/* Scenario names must be unique: the report is keyed by them. */
static int names_unique(const json_t *all)
{
    int ok = 1;
    for (size_t i = 0; i < json_array_size(all); i++) {
        const char *a = json_string_value(
            json_object_get(json_object_get(json_array_get(all, i), "scenario"), "name"));
        for (size_t k = i + 1; a && k < json_array_size(all); k++) {
            const char *b = json_string_value(
                json_object_get(json_object_get(json_array_get(all, k), "scenario"), "name"));
            if (b && strcmp(a, b) == 0) {
                fprintf(stderr, "scenario name \"%s\" is used twice\n", a);
                ok = 0;
            }
        }
    }
    return ok;
}

int main(void)
{
    (void)check_failed_now; /* check.h's RUN() counter; scenarios report with check_record() */
    const char *src = getenv("PARLEY_SRC");
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/tests/scenarios", src ? src : ".");
    json_t *all = load_scenarios(dir);
    size_t n = all ? json_array_size(all) : 0;
    char title[80];
    snprintf(title, sizeof title, "at least %d scenarios in tests/scenarios (found %zu)",
             MIN_SCENARIOS, n);
    check_record(title, n >= MIN_SCENARIOS);
    check_record("scenario names are unique", all && names_unique(all));

    curl_global_init(CURL_GLOBAL_DEFAULT);
    char data[64];
    /* the knowledge base and the workflow come from the source tree, whatever the cwd */
    static char kb[1100], sm[1100];
    snprintf(kb, sizeof kb, "PARLEY_KB_DIR=%s/kb", src ? src : ".");
    snprintf(sm, sizeof sm, "PARLEY_STATEMACHINE=%s/statemachine/agent.asl.json", src ? src : ".");
    const char *env[] = {"PARLEY_OPERATOR_TOKEN=" OPERATOR_TOKEN, kb, sm, NULL};
    int started = e2e_tmpdir(data, sizeof data) == 0 && e2e_start_env(&srv, data, env) == 0;
    check_require("server started", started);
    if (started) {
        size_t i;
        json_t *w;
        json_array_foreach(all, i, w)
            run_scenario(json_object_get(w, "scenario"),
                         json_string_value(json_object_get(w, "file")));
        check_record("server stopped cleanly", e2e_stop(&srv) == 0);
        e2e_rmdir(data);
    }
    json_decref(all);
    curl_global_cleanup();
    return check_summary();
}
