/*
 * replay.c - `parley replay SESSION_ID`: reads a stored conversation, sends its customer messages
 * in order to the current agent and model (in-process, on a throwaway data directory, so the
 * stored data is never touched) and prints the old and new replies and actions side by side.
 */
#include <stdlib.h>
#include <string.h>

#include "agent/transcript.h"
#include "agent/turn.h"
#include "base/config.h"
#include "base/jsontext.h"
#include "ptest/ptest.h"
#include "ptest/ptest_int.h"
#include "ptest/scenario.h"
#include "runtime/app.h"
#include "store/store.h"

#define COLUMN 52 /* characters per column of the side-by-side view */

/* "tool(status), ..." of an actions array (owned). */
static char *actions_line(const json_t *actions)
{
    char *out = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&out, &len);
    size_t i;
    json_t *a;
    json_array_foreach(actions, i, a)
        fprintf(f, "%s%s(%s)", i ? ", " : "", json_string_value(json_object_get(a, "tool")),
                json_string_value(json_object_get(a, "status")) ?: "?");
    if (json_array_size(actions) == 0)
        fputs("no actions", f);
    fclose(f);
    return out;
}

/* Takes the next line of at most COLUMN bytes from *s (breaking at a space when it can). */
static int next_piece(const char **s, char *piece)
{
    const char *p = *s;
    if (!*p)
        return 0;
    size_t n = strcspn(p, "\n");
    if (n > COLUMN) {
        n = COLUMN;
        while (n > COLUMN / 2 && p[n] != ' ')
            n--;
        if (p[n] != ' ')
            n = COLUMN;
    }
    memcpy(piece, p, n);
    piece[n] = '\0';
    p += n;
    if (*p == ' ' || *p == '\n')
        p++;
    *s = p;
    return 1;
}

static void side_by_side(const char *left, const char *right)
{
    char a[COLUMN + 1], b[COLUMN + 1];
    for (;;) {
        int ha = next_piece(&left, a), hb = next_piece(&right, b);
        if (!ha && !hb)
            break;
        printf("  %-*s | %s\n", COLUMN, ha ? a : "", hb ? b : "");
    }
}

static void usage(FILE *out)
{
    fprintf(out,
            "usage: parley replay SESSION_ID [--data DIR] [--agent FILE] [--model NAME]\n\n"
            "Re-runs a stored conversation's customer messages against the current agent and\n"
            "model (in-process, on a throwaway data directory) and prints the old and new\n"
            "replies and actions side by side. The session is read from PARLEY_DATA (--data).\n");
}

/* Reads the stored session's transcript (new reference) or prints why not. */
static json_t *load_session(const char *data, const char *sid)
{
    struct config cfg;
    struct err e;
    err_clear(&e);
    json_t *doc = NULL;
    struct store *store = NULL;
    memset(&cfg, 0, sizeof cfg);
    if (config_load(&cfg, &e) < 0 || (data && config_set(&cfg, "PARLEY_DATA", data, &e) < 0))
        goto out;
    if (!(store = app_open_store(&cfg, &e)))
        goto out;
    doc = transcript_document(store, sid, &e);
out:
    if (!doc)
        fprintf(stderr, "parley replay: cannot read session '%s': %s\n", sid, e.message);
    store_free(store);
    config_release(&cfg);
    return doc;
}

int ptest_replay_main(int argc, char **argv)
{
    int rc = 2;
    const char *sid = NULL, *data = NULL;
    struct ptest_target_opts o = {0};
    struct ptest_target t;
    json_t *doc = NULL, *turns = NULL;
    char new_sid[80] = "";
    struct err e;
    err_clear(&e);
    memset(&t, 0, sizeof t);
    for (int i = 1; i < argc; i++) {
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--data") == 0 || strcmp(argv[i], "--agent") == 0 ||
                   strcmp(argv[i], "--model") == 0) {
            if (!v) {
                fprintf(stderr, "parley replay: %s needs a value\n", argv[i]);
                usage(stderr);
                return 2;
            }
            const char **slot = strcmp(argv[i], "--data") == 0    ? &data
                                : strcmp(argv[i], "--agent") == 0 ? &o.agent
                                                                  : &o.model;
            *slot = argv[++i];
        } else if (!sid && (argv[i][0] != '-' || turn_session_id_valid(argv[i]))) {
            sid = argv[i]; /* an id may begin with '-': ids are [A-Za-z0-9_-]{1,64} */
        } else {
            fprintf(stderr, "parley replay: unexpected argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    if (!sid || !turn_session_id_valid(sid)) {
        fprintf(stderr, "parley replay: a session id ([A-Za-z0-9_-]{1,64}) is required\n");
        usage(stderr);
        return 2;
    }
    rc = 1;
    if (!(doc = load_session(data, sid)))
        goto out;
    turns = scenario_transcript_turns(doc);
    if (ptest__target_open(&t, &o, &e) < 0) {
        fprintf(stderr, "parley replay: %s\n", e.message);
        goto out;
    }
    const char *user = json_string_value(json_object_get(doc, "userId"));
    printf("session %s (%zu customer messages), replayed on model %s\n", sid,
           json_array_size(turns), t.cfg.model);
    int changed = 0, failed = 0;
    size_t i;
    json_t *turn;
    json_array_foreach(turns, i, turn) {
        json_t *body = json_pack("{s:O}", "message", json_object_get(turn, "user"));
        if (new_sid[0])
            json_object_set_new(body, "sessionId", json_string(new_sid));
        if (user && *user)
            json_object_set_new(body, "userId", json_string(user));
        char *raw = jsontext_dump(body);
        json_decref(body);
        long status = 0;
        json_t *resp = ptest__target_chat(&t, raw, &status);
        free(raw);
        if (status == 200 && !new_sid[0])
            snprintf(new_sid, sizeof new_sid, "%s",
                     json_string_value(json_object_get(resp, "sessionId")) ?: "");
        const char *old_reply = json_string_value(json_object_get(turn, "reply")) ?: "";
        const char *new_reply = json_string_value(json_object_get(resp, "reply"));
        char errtext[1200] = "";
        if (status != 200) {
            const json_t *er = json_object_get(resp, "error");
            snprintf(errtext, sizeof errtext, "(HTTP %ld: %s)", status,
                     json_string_value(json_object_get(er, "message")) ?: "no answer");
            new_reply = errtext;
            failed++;
        }
        char *old_actions = actions_line(json_object_get(turn, "actions"));
        char *new_actions = actions_line(json_object_get(resp, "actions"));
        int same = new_reply && strcmp(old_reply, new_reply) == 0 &&
                   strcmp(old_actions, new_actions) == 0;
        changed += !same;
        printf("\nturn %zu  customer: %s   [%s]\n", i + 1,
               json_string_value(json_object_get(turn, "user")), same ? "same" : "changed");
        printf("  %-*s | %s\n", COLUMN, "old", "new");
        side_by_side(old_reply, new_reply ? new_reply : "");
        side_by_side(old_actions, new_actions);
        free(old_actions);
        free(new_actions);
        json_decref(resp);
    }
    printf("\n%zu turns, %d changed, %d failed\n", json_array_size(turns), changed, failed);
    rc = failed ? 1 : 0;
out:
    ptest__target_close(&t);
    json_decref(turns);
    json_decref(doc);
    return rc;
}
