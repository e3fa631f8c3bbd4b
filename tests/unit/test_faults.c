/*
 * test_faults.c - fault injection through whole operations (issue 15; base/fault.h): the Nth
 * SQLite statement of a turn fails with BUSY, FULL, IOERR, READONLY or NOMEM for every N of a
 * clean turn; the archive writer fails with ENOSPC or EIO after a partial write; the HTTP client's
 * transfer is reset or truncated. Each must end in a clear error or a retry, with every turn that
 * was answered stored, no crash and no leak (ASan), no half-written file. Then model and MCP
 * streams split at every byte boundary must give the same result as unsplit.
 *
 * Density: every N is tried for the turn (a clean offline turn makes a few dozen statements, so
 * 5 codes x N stays around a few hundred turns, well under a minute under ASan).
 */
#include <dirent.h>
#include <errno.h>
#include <sqlite3.h>
#include <stdlib.h>
#include <unistd.h>

#include <curl/curl.h>

#include "agent/tools.h"
#include "agent/turn.h"
#include "archive/archive.h"
#include "base/fault.h"
#include "base/xmalloc.h"
#include "check.h"
#include "fakes/fake_http.h"
#include "http/client.h"
#include "mcp/mcp_int.h"
#include "model/providers.h"
#include "model/providers_int.h"
#include "runtime/workflow_local.h"

static struct config cfg;
static struct store *store;
static struct agent agent;
static char dir[64];

/* Runs one turn of session sid (NULL: a new one). Returns the reply (new ref) or NULL with e. */
static json_t *chat(const char *sid, const char *text, struct err *e)
{
    json_t *req = json_pack("{s:s}", "message", text);
    if (sid)
        json_object_set_new(req, "sessionId", json_string(sid));
    err_clear(e);
    json_t *out = turn_run(&agent, req, e);
    json_decref(req);
    return out;
}

/* As chat, with an Idempotency-Key, as POST /chat runs a turn. */
static json_t *chat_keyed(const char *sid, const char *text, const char *key, struct err *e)
{
    json_t *req = json_pack("{s:s}", "message", text);
    if (sid)
        json_object_set_new(req, "sessionId", json_string(sid));
    char *body = json_dumps(req, JSON_COMPACT);
    int replayed = 0;
    err_clear(e);
    json_t *out = turn_run_idempotent(&agent, key, body, strlen(body), req, &replayed, e);
    free(body);
    json_decref(req);
    return out;
}

/* 1 when the store holds session sid with at least `turns` turns. */
static int stored_turns(const char *sid, long long turns)
{
    struct err e;
    json_t *s = NULL;
    int ok = store_session_get(store, sid, &s, &e) == 0 &&
             json_integer_value(json_object_get(s, "turns")) >= turns;
    json_decref(s);
    return ok;
}

static void sql_faults_through_a_turn(void)
{
    static const int codes[] = {SQLITE_BUSY, SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY,
                                SQLITE_NOMEM};
    struct err e;
    /* A clean turn, counting its statements. */
    fault_arm(FAULT_SQL, 1000000, SQLITE_BUSY, 0);
    json_t *out = chat(NULL, "Where is my order?", &e);
    long clean = fault_hits(FAULT_SQL);
    fault_disarm_all();
    CHECK(out != NULL);
    CHECK(clean > 3);
    json_decref(out);
    long answered = 0, refused = 0, unclear = 0, lost = 0, wedged = 0;
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
        for (long n = 1; n <= clean; n++) {
            fault_arm(FAULT_SQL, n, codes[k], 0);
            out = chat(NULL, "Where is my order?", &e);
            fault_disarm_all();
            if (out) {
                answered++;
                const char *sid = json_string_value(json_object_get(out, "sessionId"));
                if (!sid || !stored_turns(sid, 1))
                    lost++; /* answered but not stored */
                /* The session takes a next turn: no transaction left open, no lock held. */
                json_t *next = sid ? chat(sid, "thanks", &e) : NULL;
                if (!next)
                    wedged++;
                json_decref(next);
            } else {
                refused++;
                if (refused == 1)
                    printf("# e.g. N=%ld %s: %s: %s\n", n, sqlite3_errstr(codes[k]), e.code,
                           e.message);
                if (!e.code[0] || !e.message[0])
                    unclear++;
            }
            json_decref(out);
        }
    }
    printf("# sql faults: %ld statements per turn, %ld turns answered, %ld refused\n", clean,
           answered, refused);
    CHECK(refused > 0); /* the faults did reach an error path */
    CHECK_INT(unclear, 0);
    CHECK_INT(lost, 0);
    CHECK_INT(wedged, 0);
    /* Sticky: every statement fails; the turn fails clearly and nothing is answered. */
    fault_arm(FAULT_SQL, 1, SQLITE_IOERR, 1);
    out = chat(NULL, "hello", &e);
    fault_disarm_all();
    CHECK(out == NULL);
    CHECK(e.code[0] != '\0');
    json_decref(out);
}

/* Tickets in the store. */
static size_t ticket_count(void)
{
    struct err e;
    json_t *all = NULL;
    size_t n = store_tickets_list(store, NULL, 1000, &all, &e) == 0 ? json_array_size(all) : 0;
    json_decref(all);
    return n;
}

/* Runs the seed's ticket conversation (three turns, one session) with FAULT_SQL armed at its nth
 * statement; a turn that fails is retried once, disarmed, as a client would. Returns the ticket
 * id the last reply names (new string) or NULL; *failed counts turns that failed even when
 * retried. */
static char *ticket_conversation(long nth, int code, int *failed)
{
    static const char *const turns[] = {"create a ticket",
                                        "The checkout page shows an error when I pay",
                                        "pat@example.com"};
    struct err e;
    char sid[80] = "";
    char *ticket = NULL;
    fault_arm(FAULT_SQL, nth, code, 0);
    static long run;
    run++;
    for (size_t t = 0; t < 3; t++) {
        char key[64];
        snprintf(key, sizeof key, "k-%ld-%ld-%zu", nth, run, t); /* the client's Idempotency-Key */
        json_t *out = chat_keyed(sid[0] ? sid : NULL, turns[t], key, &e);
        if (!out) {
            fault_disarm_all();
            out = chat_keyed(sid[0] ? sid : NULL, turns[t], key, &e);
        }
        if (!out) {
            (*failed)++;
            break;
        }
        snprintf(sid, sizeof sid, "%s", json_string_value(json_object_get(out, "sessionId")));
        const char *id = json_string_value(
            json_object_get(json_object_get(json_array_get(json_object_get(out, "actions"), 0),
                                            "result"),
                            "ticketId"));
        if (t == 2 && id)
            ticket = xstrdup(id);
        json_decref(out);
    }
    fault_disarm_all();
    return ticket;
}

static void sql_faults_through_a_ticket_conversation(void)
{
    static const int codes[] = {SQLITE_BUSY, SQLITE_FULL, SQLITE_IOERR, SQLITE_READONLY,
                                SQLITE_NOMEM};
    int failed = 0;
    size_t before = ticket_count();
    fault_arm(FAULT_SQL, 1000000, SQLITE_BUSY, 0);
    char *t = ticket_conversation(1000000, SQLITE_BUSY, &failed);
    long clean = fault_hits(FAULT_SQL);
    CHECK(t != NULL);
    CHECK_INT(ticket_count(), before + 1);
    free(t);
    int missing = 0, dup = 0;
    for (size_t k = 0; k < sizeof codes / sizeof codes[0]; k++) {
        for (long n = 1; n <= clean; n++) {
            before = ticket_count();
            t = ticket_conversation(n, codes[k], &failed);
            missing += t == NULL;
            dup += ticket_count() != before + 1;
            if (!t || ticket_count() != before + 1)
                printf("# N=%ld %s: ticket %s, %zu new tickets\n", n, sqlite3_errstr(codes[k]),
                       t ? t : "none", ticket_count() - before);
            free(t);
        }
    }
    printf("# ticket conversation: %ld statements, %ld faulted runs, %d missing, %d not one "
           "ticket, %d turns failed after a retry\n",
           clean, clean * 5, missing, dup, failed);
    CHECK_INT(failed, 0); /* every turn ends answered once the client retries */
    /* Exactly once across retries (issue 15): an action's key is derived from what a retried turn
     * repeats (session, turn number, message, position of the call), so a fault after the ticket
     * was created finds it on the retry instead of creating a second one, and the reply names it. */
    CHECK_INT(missing, 0);
    CHECK_INT(dup, 0);
}

/* Counts regular files under path whose name is not `keep`. */
static int count_files(const char *path, const char *keep)
{
    int n = 0;
    DIR *d = opendir(path);
    struct dirent *de;
    while (d && (de = readdir(d))) {
        if (de->d_name[0] == '.' && (!de->d_name[1] || de->d_name[1] == '.'))
            continue;
        char sub[512];
        snprintf(sub, sizeof sub, "%s/%s", path, de->d_name);
        if (de->d_type == DT_DIR)
            n += count_files(sub, keep);
        else if (!keep || strcmp(de->d_name, keep) != 0)
            n++;
    }
    if (d)
        closedir(d);
    return n;
}

static void archive_partial_writes(void)
{
    char root[128];
    snprintf(root, sizeof root, "%s/archive", dir);
    struct err e = {0};
    struct archive *a = archive_fs_new(root, &e);
    CHECK(a != NULL);
    if (!a)
        return;
    static const int codes[] = {ENOSPC, EIO};
    const char *key = "2026/12/05/s-fault.json";
    char *got = NULL;
    size_t len = 0;
    for (size_t k = 0; k < 2; k++) {
        fault_arm(FAULT_ARCHIVE, 1, codes[k], 0);
        CHECK(archive_put(a, key, "{\"v\":1}", 7, &e) != 0);
        CHECK(e.code[0] != '\0' && strstr(e.message, strerror(codes[k])) != NULL);
        fault_disarm_all();
        CHECK(archive_get(a, key, &got, &len, &e) != 0); /* nothing half-written is visible */
        CHECK_INT(count_files(root, NULL), 0);           /* and no temporary file is left */
    }
    CHECK_INT(archive_put(a, key, "{\"v\":1}", 7, &e), 0);
    fault_arm(FAULT_ARCHIVE, 1, ENOSPC, 0);
    CHECK(archive_put(a, key, "{\"v\":2, \"longer\":true}", 22, &e) != 0);
    fault_disarm_all();
    CHECK_INT(archive_get(a, key, &got, &len, &e), 0); /* the old object, whole */
    CHECK(got && len == 7 && memcmp(got, "{\"v\":1}", 7) == 0);
    free(got);
    CHECK_INT(count_files(root, "s-fault.json"), 0);
    archive_free(a);
}

static void http_reset_and_truncation(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    for (int i = 0; i < 4; i++)
        fake_http_push(&f, 200, NULL, "{\"ok\":true}", (size_t)-1, 0);
    struct http_client *c = http_client_new(NULL);
    struct http_client_request req = {.method = "GET", .url = f.base_url, .max_retries = 2};
    struct http_client_response resp = {0};
    struct err e = {0};
    /* A reset on the first attempt is retried, and the retry gets the real answer. */
    fault_arm(FAULT_HTTP, 1, CURLE_RECV_ERROR, 0);
    CHECK_INT(http_client_do(c, &req, &resp, &e), 0);
    CHECK_INT(resp.status, 200);
    CHECK_INT(resp.attempts, 2);
    CHECK_INT(fault_injected(FAULT_HTTP), 1);
    http_client_response_release(&resp);
    /* A truncated body on every attempt ends in a clear error after the retries. */
    fault_arm(FAULT_HTTP, 1, CURLE_PARTIAL_FILE, 1);
    CHECK(http_client_do(c, &req, &resp, &e) != 0);
    CHECK(strncmp(e.code, "Http", 4) == 0);
    CHECK_INT(fault_injected(FAULT_HTTP), 3);
    http_client_response_release(&resp);
    fault_disarm_all();
    http_client_free(c);
    fake_http_stop(&f);
}

/* ---- streams split at every byte ----------------------------------------------------------- */

static const char ANTHROPIC_SSE[] =
    "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"m\",\"type\":"
    "\"message\",\"role\":\"assistant\",\"model\":\"c\",\"content\":[],\"usage\":{"
    "\"input_tokens\":9,\"output_tokens\":1}}}\n\n"
    "event: content_block_start\r\ndata: {\"type\":\"content_block_start\",\"index\":0,"
    "\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\r\n\r\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"text_delta\",\"text\":\"Caf\xc3\xa9 \"}}\n\n"
    "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{"
    "\"type\":\"text_delta\",\"text\":\"open.\"}}\n\n"
    "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n"
    "event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":"
    "\"end_turn\"},\"usage\":{\"output_tokens\":4}}\n\n"
    "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n";

static int on_sse_event(void *ud, const char *event, const char *data)
{
    (void)event;
    json_t *ev = json_loads(data, 0, NULL);
    int rc = ev ? model__stream_event(ud, ev) : -1;
    json_decref(ev);
    return rc;
}

/* Feeds text cut at `cut` ((size_t)-1: unsplit) and returns the finished message as text. */
static char *anthropic_split(const char *text, size_t len, size_t cut)
{
    struct model__stream st;
    model__stream_init(&st, NULL, NULL);
    struct model__sse sse = {.fn = on_sse_event, .ud = &st};
    char *out = NULL;
    int rc = cut == (size_t)-1 ? model__sse_feed(&sse, text, len)
                               : (model__sse_feed(&sse, text, cut) != 0 ||
                                  model__sse_feed(&sse, text + cut, len - cut) != 0);
    struct err e = {0};
    json_t *msg = rc == 0 ? model__stream_finish(&st, &e) : NULL;
    if (msg)
        out = json_dumps(msg, JSON_SORT_KEYS | JSON_COMPACT);
    json_decref(msg);
    model__stream_release(&st);
    model__sse_release(&sse);
    return out;
}

static void anthropic_sse_split_everywhere(void)
{
    size_t len = sizeof ANTHROPIC_SSE - 1;
    char *whole = anthropic_split(ANTHROPIC_SSE, len, (size_t)-1);
    CHECK(whole && strstr(whole, "Caf\xc3\xa9 open.") != NULL);
    int differ = 0;
    for (size_t cut = 0; cut <= len; cut++) {
        char *part = anthropic_split(ANTHROPIC_SSE, len, cut);
        differ += !part || !whole || strcmp(part, whole) != 0;
        free(part);
    }
    CHECK_INT(differ, 0);
    free(whole);
}

/* Appends one event-stream frame (":event-type" = type) with payload to f; returns its size. */
static size_t put_frame(unsigned char *f, const char *type, const char *payload)
{
    size_t tl = strlen(type), pl = strlen(payload), h = 0;
    unsigned char hdr[128];
    hdr[h++] = 11;
    memcpy(hdr + h, ":event-type", 11), h += 11;
    hdr[h++] = 7, hdr[h++] = 0, hdr[h++] = (unsigned char)tl;
    memcpy(hdr + h, type, tl), h += tl;
    size_t total = 16 + h + pl;
    unsigned char pre[8] = {
        0, 0, (unsigned char)(total >> 8), (unsigned char)total, 0, 0, 0, (unsigned char)h};
    memcpy(f, pre, 8);
    unsigned long crc = model__crc32(0, f, 8);
    for (int k = 0; k < 4; k++)
        f[8 + k] = (unsigned char)(crc >> (24 - 8 * k));
    memcpy(f + 12, hdr, h);
    memcpy(f + 12 + h, payload, pl);
    crc = model__crc32(0, f, total - 4);
    for (int k = 0; k < 4; k++)
        f[total - 4 + k] = (unsigned char)(crc >> (24 - 8 * k));
    return total;
}

static int collect_frame(void *ud, const struct model__evstream_msg *m)
{
    struct buf *b = ud;
    (void)buf_printf(b, "%s=%.*s;", m->event_type, (int)m->payload_len, m->payload);
    return 0;
}

static void bedrock_evstream_split_everywhere(void)
{
    unsigned char s[1024];
    size_t n = put_frame(s, "messageStart", "{\"role\":\"assistant\"}");
    n += put_frame(s + n, "contentBlockDelta", "{\"delta\":{\"text\":\"Hello\"}}");
    n += put_frame(s + n, "messageStop", "{\"stopReason\":\"end_turn\"}");
    struct buf whole;
    buf_init(&whole, 4096);
    struct model__evstream d = {.fn = collect_frame, .ud = &whole};
    CHECK_INT(model__evstream_feed(&d, s, n), 0);
    model__evstream_release(&d);
    CHECK(strstr(buf_str(&whole), "contentBlockDelta={\"delta\"") != NULL);
    int differ = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        struct buf part;
        buf_init(&part, 4096);
        struct model__evstream p = {.fn = collect_frame, .ud = &part};
        differ += model__evstream_feed(&p, s, cut) != 0 ||
                  model__evstream_feed(&p, s + cut, n - cut) != 0 ||
                  strcmp(buf_str(&part), buf_str(&whole)) != 0;
        model__evstream_release(&p);
        buf_release(&part);
    }
    CHECK_INT(differ, 0);
    buf_release(&whole);
}

static int collect_mcp(void *ud, const char *event, const char *data, size_t len)
{
    struct buf *b = ud;
    (void)buf_printf(b, "[%s]%.*s\n", event, (int)len, data);
    return 0;
}

static void mcp_sse_split_everywhere(void)
{
    const char *s = ": priming\n\nid: 1\nevent: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\n"
                    "data: \"result\":{}}\r\n\r\nretry: 500\ndata: {\"jsonrpc\":\"2.0\",\"method\":"
                    "\"notifications/tools/list_changed\"}\r\r";
    size_t n = strlen(s);
    struct err e = {0};
    struct buf whole;
    buf_init(&whole, 4096);
    struct mcp__sse p;
    mcp__sse_init(&p, 4096, collect_mcp, &whole);
    CHECK_INT(mcp__sse_feed(&p, s, n, &e), 0);
    mcp__sse_release(&p);
    CHECK(strstr(buf_str(&whole), "\"result\":{}}") != NULL);
    CHECK(strstr(buf_str(&whole), "list_changed") != NULL);
    int differ = 0;
    for (size_t cut = 0; cut <= n; cut++) {
        struct buf part;
        buf_init(&part, 4096);
        mcp__sse_init(&p, 4096, collect_mcp, &part);
        differ += mcp__sse_feed(&p, s, cut, &e) != 0 ||
                  mcp__sse_feed(&p, s + cut, n - cut, &e) != 0 ||
                  strcmp(buf_str(&part), buf_str(&whole)) != 0;
        mcp__sse_release(&p);
        buf_release(&part);
    }
    CHECK_INT(differ, 0);
    buf_release(&whole);
}

int main(void)
{
    xmalloc_init();
    struct err e;
    config_load(&cfg, &e);
    snprintf(dir, sizeof dir, "/tmp/parley-faults-XXXXXX");
    if (!mkdtemp(dir))
        return 1;
    char path[128];
    snprintf(path, sizeof path, "%s/t.db", dir);
    store = store_sqlite_new(path, 2, &e);
    struct model *model = model_new_by_name("offline", &e);
    struct tools *tools = tools_new(NULL, NULL, &e);
    agent = (struct agent){.cfg = &cfg, .store = store, .model = model, .tools = tools};
    char asl[512];
    snprintf(asl, sizeof asl, "%s/statemachine/agent.asl.json",
             getenv("PARLEY_SRC") ? getenv("PARLEY_SRC") : ".");
    struct workflow_local *wf = store && model ? workflow_local_new(&agent, asl, &e) : NULL;
    if (!wf) {
        fprintf(stderr, "setup: %s\n", e.message);
        return 1;
    }
    workflow_local_attach(wf, &agent);
    RUN(sql_faults_through_a_turn);
    RUN(sql_faults_through_a_ticket_conversation);
    RUN(archive_partial_writes);
    RUN(http_reset_and_truncation);
    RUN(anthropic_sse_split_everywhere);
    RUN(bedrock_evstream_split_everywhere);
    RUN(mcp_sse_split_everywhere);
    workflow_local_free(wf);
    tools_free(tools);
    model_free(model);
    store_free(store);
    config_release(&cfg);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    if (system(cmd) != 0)
        return 1;
    return check_summary();
}
