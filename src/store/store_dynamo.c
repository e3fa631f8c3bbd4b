/*
 * store_dynamo.c - the store port over DynamoDB (JSON 1.0 protocol). The table layout and the
 * mapping of JSON to attribute values are described in store_dynamo.h.
 */
#include "store/store_dynamo.h"

#include <inttypes.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/backoff.h"
#include "base/config.h"
#include "base/jsontext.h"
#include "base/log.h"
#include "base/rand.h"
#include "base/sched.h"
#include "base/xmalloc.h"

#define DDB_TARGET_PREFIX "X-Amz-Target: DynamoDB_20120810."
#define DDB_MAX_PAGES 1000     /* pages one Query/Scan may walk (transcripts, session lists) */
#define DDB_SAVE_ATTEMPTS 5    /* optimistic-lock retries of one turn save */
#define DDB_TABLE_WAIT_MS 5000 /* how long a created table may take to become ACTIVE */

struct store_dynamo {
    struct store base;      /* must be first */
    struct aws_client *aws; /* signed calls */
    char *conv;             /* Conversations table */
    char *ent;              /* Entities table */
    int ttl_days;           /* 0 = no expiry */
    atomic_int no_transact; /* 1 once the service answered UnknownOperationException for
                               TransactWriteItems: ordered conditional writes from then on */
};

/* ---------------------------------------------------------------- JSON <-> attribute values */

/* Returns the N string of a number: integers exactly, reals in the shortest form that reads
 * back to the same double. New string. */
static char *number_text(const json_t *v)
{
    if (json_is_integer(v))
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    double d = json_real_value(v);
    for (int prec = 15; prec <= 17; prec++) {
        char *s = xasprintf("%.*g", prec, d);
        if (strtod(s, NULL) == d || prec == 17)
            return s;
        free(s);
    }
    return xstrdup("0");
}

/* Returns the attribute value of v (new reference). */
static json_t *av_of(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return json_pack("{s:s%}", "S", json_string_value(v), json_string_length(v));
    case JSON_INTEGER:
    case JSON_REAL: {
        char *n = number_text(v);
        json_t *av = json_pack("{s:s}", "N", n);
        free(n);
        return av;
    }
    case JSON_TRUE:
    case JSON_FALSE:
        return json_pack("{s:b}", "BOOL", json_is_true(v));
    case JSON_ARRAY: {
        json_t *l = json_array();
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x)
            json_array_append_new(l, av_of(x));
        return json_pack("{s:o}", "L", l);
    }
    case JSON_OBJECT: {
        json_t *m = json_object();
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
            json_object_set_new(m, k, av_of(x));
        return json_pack("{s:o}", "M", m);
    }
    default:
        return json_pack("{s:b}", "NULL", 1);
    }
}

/* Returns the JSON value of attribute value av (new reference; null for shapes we never write). */
static json_t *json_of(const json_t *av)
{
    const json_t *x;
    if ((x = json_object_get(av, "S")))
        return json_incref((json_t *)x);
    if ((x = json_object_get(av, "N"))) {
        const char *n = json_string_value(x);
        if (!n)
            return json_null();
        if (strpbrk(n, ".eE"))
            return json_real(strtod(n, NULL));
        return json_integer(strtoll(n, NULL, 10));
    }
    if ((x = json_object_get(av, "BOOL")))
        return json_boolean(json_is_true(x));
    if ((x = json_object_get(av, "L"))) {
        json_t *a = json_array();
        size_t i;
        json_t *e;
        json_array_foreach(x, i, e)
            json_array_append_new(a, json_of(e));
        return a;
    }
    if ((x = json_object_get(av, "M"))) {
        json_t *o = json_object();
        const char *k;
        json_t *e;
        json_object_foreach((json_t *)x, k, e)
            json_object_set_new(o, k, json_of(e));
        return o;
    }
    return json_null();
}

/* The plain value of attribute name in item (borrowed pieces, new reference). */
static json_t *item_value(const json_t *item, const char *name)
{
    const json_t *av = json_object_get(item, name);
    return av ? json_of(av) : json_null();
}

static const char *item_str(const json_t *item, const char *name)
{
    return json_string_value(json_object_get(json_object_get(item, name), "S"));
}

static json_int_t item_int(const json_t *item, const char *name)
{
    const char *n = json_string_value(json_object_get(json_object_get(item, name), "N"));
    return n ? (json_int_t)strtoll(n, NULL, 10) : 0;
}

static json_t *av_s(const char *s)
{
    return json_pack("{s:s}", "S", s ? s : "");
}

static json_t *av_n(long long n)
{
    char buf[32];
    snprintf(buf, sizeof buf, "%lld", n);
    return json_pack("{s:s}", "N", buf);
}

/* ---------------------------------------------------------------- calls */

/* Copies an AWS failure into a store error: throttling becomes StoreBusy. The message of a
 * failed ddb() call already names the DynamoDB operation and the AWS error code. */
static int store_error(struct err *err, const char *what)
{
    char code[ERR_CODE_MAX], msg[ERR_MSG_MAX];
    snprintf(code, sizeof code, "%s", err->code);
    snprintf(msg, sizeof msg, "%s", err->message);
    if (aws_error_is_throttling(code))
        return err_set(err, "StoreBusy", "%s: DynamoDB is throttling: %s", what, msg);
    return err_set(err, "StoreError", "%s failed: %s", what, msg);
}

/* Calls DynamoDB operation op with req (stolen). On success returns 0 and, when out is not NULL,
 * the parsed response body (new reference). On failure returns -1 with err holding the AWS error
 * code and a message naming the operation ("DynamoDB PutItem: <code>: <message>", also when
 * the service sent no message), and *reasons (when not NULL) the CancellationReasons of a
 * cancelled transaction (new reference or NULL). */
static int ddb(struct store_dynamo *s, const char *op, json_t *req, json_t **out, json_t **reasons,
               struct err *err)
{
    char *body = jsontext_dump(req);
    json_decref(req);
    char *target = xasprintf(DDB_TARGET_PREFIX "%s", op);
    const char *headers[] = {"Content-Type: application/x-amz-json-1.0", target};
    struct aws_request r = {.service = "dynamodb",
                            .method = "POST",
                            .path = "/",
                            .headers = headers,
                            .n_headers = 2,
                            .body = body,
                            .body_len = strlen(body),
                            .max_retries = -1};
    struct aws_response resp = {0};
    int rc = aws_call(s->aws, &r, &resp, err);
    if (out)
        *out = NULL;
    if (reasons)
        *reasons = NULL;
    if (rc == 0 && out) {
        json_error_t jerr;
        *out = json_loadb(resp.http.body ? resp.http.body : "", resp.http.body_len, 0, &jerr);
        if (!*out)
            rc = err_set(err, "StoreError", "DynamoDB %s answered malformed JSON: %s", op,
                         jerr.text);
    } else if (rc < 0 && reasons && resp.http.body) {
        json_t *doc = json_loadb(resp.http.body, resp.http.body_len, 0, NULL);
        json_t *cr = json_object_get(doc, "CancellationReasons");
        if (json_is_array(cr))
            *reasons = json_incref(cr);
        json_decref(doc);
    }
    if (rc < 0 && strncmp(err->message, "DynamoDB ", 9) != 0) {
        char code[ERR_CODE_MAX], msg[ERR_MSG_MAX];
        snprintf(code, sizeof code, "%s", err->code[0] ? err->code : "StoreError");
        snprintf(msg, sizeof msg, "%s", err->message[0] ? err->message : "no message");
        err_set(err, code, "DynamoDB %s: %s: %.700s", op, code, msg);
    }
    aws_response_release(&resp);
    free(target);
    free(body);
    return rc;
}

/* Returns 1 when reason i of a cancelled transaction is a failed condition. */
static int reason_is(const json_t *reasons, size_t i, const char *code)
{
    const char *c = json_string_value(json_object_get(json_array_get(reasons, i), "Code"));
    return c && strcmp(c, code) == 0;
}

/* GetItem with a strongly consistent read. *item is the item (new reference) or NULL when
 * absent. */
static int get_item(struct store_dynamo *s, const char *table, json_t *key, json_t **item,
                    struct err *err)
{
    json_t *resp = NULL;
    json_t *req = json_pack("{s:s, s:o, s:b}", "TableName", table, "Key", key, "ConsistentRead", 1);
    if (ddb(s, "GetItem", req, &resp, NULL, err) < 0)
        return store_error(err, "GetItem");
    json_t *it = json_object_get(resp, "Item");
    *item = it ? json_incref(it) : NULL;
    json_decref(resp);
    return 0;
}

static json_t *header_key(const char *sid)
{
    return json_pack("{s:o, s:o}", "sessionId", av_s(sid), "timestamp", av_n(0));
}

static json_t *ent_key(const char *pk, const char *sk)
{
    return json_pack("{s:o, s:o}", "pk", av_s(pk), "sk", av_s(sk));
}

/* Runs a Query page by page, appending every item to items, stopping after max_items (0 = no
 * limit) or DDB_MAX_PAGES pages. req is borrowed and gets ExclusiveStartKey set per page. */
static int query_all(struct store_dynamo *s, const char *op, json_t *req, size_t max_items,
                     json_t *items, struct err *err)
{
    for (int page = 0; page < DDB_MAX_PAGES; page++) {
        json_t *resp = NULL;
        if (ddb(s, op, json_incref(req), &resp, NULL, err) < 0)
            return store_error(err, op);
        json_array_extend(items, json_object_get(resp, "Items"));
        json_t *next = json_object_get(resp, "LastEvaluatedKey");
        int more = next && (max_items == 0 || json_array_size(items) < max_items);
        if (more)
            json_object_set(req, "ExclusiveStartKey", next);
        json_decref(resp);
        if (!more)
            return 0;
    }
    log_at(LL_WARN, "store", "%s stopped after %d pages", op, DDB_MAX_PAGES);
    return 0;
}

static void add_expiry(struct store_dynamo *s, json_t *item)
{
    if (s->ttl_days > 0)
        json_object_set_new(item, "expiresAt",
                            av_n(clock_now_ms() / 1000 + (long long)s->ttl_days * 86400));
}

/* ---------------------------------------------------------------- transactions */

/* The write kinds of a TransactWriteItems item and the single-item operation of each. */
static const struct {
    const char *kind;
    const char *op;
} write_ops[] = {{"Put", "PutItem"}, {"Update", "UpdateItem"}, {"Delete", "DeleteItem"}};

/* Returns the primary key of the item a transaction write touches (new reference): the key
 * attributes of its table (store_dynamo.h) taken from Put's Item or Update/Delete's Key. */
static json_t *write_key(const struct store_dynamo *s, const char *kind, const json_t *w)
{
    const char *table = json_string_value(json_object_get(w, "TableName"));
    int conv = table && strcmp(table, s->conv) == 0;
    const json_t *src = json_object_get(w, strcmp(kind, "Put") == 0 ? "Item" : "Key");
    const char *hash = conv ? "sessionId" : "pk", *range = conv ? "timestamp" : "sk";
    json_t *key = json_object();
    if (json_object_get(src, hash))
        json_object_set(key, hash, json_object_get(src, hash));
    if (json_object_get(src, range))
        json_object_set(key, range, json_object_get(src, range));
    return key;
}

/* Puts back what a failed ordered transaction changed: items[0..done) in reverse order, each to
 * its snapshot in before (or deleted when it did not exist). Failures are logged, not returned:
 * the caller reports the write that failed. */
static void undo_writes(struct store_dynamo *s, const json_t *items, const json_t *keys,
                        const json_t *before, size_t done)
{
    for (size_t j = done; j-- > 0;) {
        const json_t *it = json_array_get(items, j);
        const char *kind = json_object_iter_key(json_object_iter((json_t *)it));
        const char *table = json_string_value(
            json_object_get(json_object_iter_value(json_object_iter((json_t *)it)), "TableName"));
        const json_t *old = json_array_get(before, j);
        struct err e2 = {0};
        int rc = json_is_null(old)
                     ? ddb(s, "DeleteItem",
                           json_pack("{s:s, s:O}", "TableName", table, "Key",
                                     json_array_get(keys, j)),
                           NULL, NULL, &e2)
                     : ddb(s, "PutItem", json_pack("{s:s, s:O}", "TableName", table, "Item", old),
                           NULL, NULL, &e2);
        if (rc < 0)
            log_at(LL_WARN, "store", "cannot undo write %zu (%s) of a failed transaction: %s", j,
                   kind ? kind : "?", e2.message);
    }
}

/* The fallback of TransactWriteItems for services without it (plain dynalite, some emulators):
 * applies the writes of items one by one in order, each with its own ConditionExpression. When
 * write i fails, the writes before it are undone from snapshots taken just before them
 * (GetItem), and a failed condition is reported as DynamoDB reports a cancelled transaction:
 * code "TransactionCanceledException" and *reasons with "ConditionalCheckFailed" at i (new
 * reference). Unlike a transaction, readers may see the first writes before the last one lands,
 * and a crash between writes leaves them applied; store_dynamo.h states the consequences. */
static int transact_ordered(struct store_dynamo *s, const json_t *items, json_t **reasons,
                            struct err *err)
{
    json_t *keys = json_array(), *before = json_array();
    size_t n = json_array_size(items), i;
    int rc = -1;
    for (i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        const char *kind = json_object_iter_key(json_object_iter(it));
        const json_t *w = json_object_iter_value(json_object_iter(it));
        const char *op = NULL;
        for (size_t k = 0; kind && k < sizeof write_ops / sizeof write_ops[0]; k++)
            if (strcmp(kind, write_ops[k].kind) == 0)
                op = write_ops[k].op;
        const char *table = json_string_value(json_object_get(w, "TableName"));
        if (!op || !table || json_object_size(it) != 1) {
            err_set(err, "StoreError", "transaction write %zu is not a Put, Update or Delete", i);
            break;
        }
        json_t *key = write_key(s, kind, w), *old = NULL;
        json_array_append_new(keys, key);
        if (get_item(s, table, json_incref(key), &old, err) < 0)
            break;
        json_array_append_new(before, old ? old : json_null());
        json_t *req = json_deep_copy(w);
        json_object_del(req, "ReturnValuesOnConditionCheckFailure");
        if (ddb(s, op, req, NULL, NULL, err) == 0)
            continue;
        if (strcmp(err->code, "ConditionalCheckFailedException") == 0 && reasons) {
            *reasons = json_array();
            for (size_t k = 0; k < n; k++)
                json_array_append_new(*reasons,
                                      json_pack("{s:s}", "Code",
                                                k == i ? "ConditionalCheckFailed" : "None"));
            err_set(err, "TransactionCanceledException",
                    "DynamoDB %s (write %zu of a TransactWriteItems done as ordered conditional "
                    "writes): the conditional request failed",
                    op, i);
        }
        break;
    }
    if (i == n)
        rc = 0;
    else
        undo_writes(s, items, keys, before, i);
    json_decref(keys);
    json_decref(before);
    return rc;
}

/* Writes items (a TransactWriteItems list, stolen) atomically with TransactWriteItems, or, once
 * the service answered UnknownOperationException for it, with transact_ordered (remembered for
 * the store's life). Returns as ddb(), *reasons (when not NULL) set as there. */
static int transact(struct store_dynamo *s, json_t *items, json_t **reasons, struct err *err)
{
    int rc;
    if (reasons)
        *reasons = NULL;
    if (!atomic_load(&s->no_transact)) {
        rc = ddb(s, "TransactWriteItems", json_pack("{s:O}", "TransactItems", items), NULL, reasons,
                 err);
        if (rc == 0 || strcmp(err->code, "UnknownOperationException") != 0)
            goto out;
        if (!atomic_exchange(&s->no_transact, 1))
            log_at(LL_WARN, "store",
                   "%s; falling back to ordered conditional writes (see store_dynamo.h)",
                   err->message);
        err_clear(err);
    }
    rc = transact_ordered(s, items, reasons, err);
out:
    json_decref(items);
    return rc;
}

/* ---------------------------------------------------------------- sessions and turns */

static json_t *idem_finish_request(struct store_dynamo *s, const char *key, const json_t *response);

static int dy_session_get(struct store *base, const char *id, json_t **out, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    json_t *item = NULL;
    if (get_item(s, s->conv, header_key(id), &item, err) < 0)
        return -1;
    if (!item)
        return err_set(err, "NotFound", "session '%s' not found", id);
    json_t *ctx = item_value(item, "context"), *meta = item_value(item, "metadata");
    *out = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:o, s:o}", "sessionId", id, "userId",
                     item_str(item, "userId") ? item_str(item, "userId") : "", "status",
                     item_str(item, "status") ? item_str(item, "status") : "active", "createdAt",
                     item_int(item, "createdAt"), "lastActivity", item_int(item, "lastActivity"),
                     "turns", item_int(item, "turns"), "lastTimestamp",
                     item_int(item, "lastTimestamp"), "context",
                     json_is_object(ctx) ? ctx : (json_decref(ctx), json_object()), "metadata",
                     json_is_object(meta) ? meta : (json_decref(meta), json_object()));
    json_decref(item);
    return 0;
}

/* Reads turn items of a session (newest first when newest, else oldest first), at most max_turns
 * (0 = all), and returns their messages oldest first. */
static int read_turns(struct store_dynamo *s, const char *id, int newest, int max_turns,
                      json_t **out, struct err *err)
{
    json_t *req = json_pack("{s:s, s:s, s:{s:s}, s:{s:o, s:o}, s:s, s:b, s:b}", "TableName",
                            s->conv, "KeyConditionExpression", "sessionId = :s AND #ts > :z",
                            "ExpressionAttributeNames", "#ts", "timestamp",
                            "ExpressionAttributeValues", ":s", av_s(id), ":z", av_n(0),
                            "ProjectionExpression", "messages", "ScanIndexForward", !newest,
                            "ConsistentRead", 1);
    if (max_turns > 0)
        json_object_set_new(req, "Limit", json_integer(max_turns));
    json_t *items = json_array();
    int rc = query_all(s, "Query", req, (size_t)(max_turns > 0 ? max_turns : 0), items, err);
    json_decref(req);
    if (rc < 0) {
        json_decref(items);
        return -1;
    }
    json_t *all = json_array();
    size_t n = json_array_size(items);
    if (max_turns > 0 && n > (size_t)max_turns)
        n = (size_t)max_turns;
    for (size_t k = 0; k < n; k++) {
        json_t *item = json_array_get(items, newest ? n - 1 - k : k);
        json_t *msgs = item_value(item, "messages");
        if (!json_is_array(msgs)) {
            json_decref(msgs);
            json_decref(all);
            json_decref(items);
            return err_set(err, "StoreError", "stored turn of '%s' holds malformed messages", id);
        }
        json_array_extend(all, msgs);
        json_decref(msgs);
    }
    json_decref(items);
    *out = all;
    return 0;
}

static int dy_history_recent(struct store *base, const char *id, int max_turns, json_t **out,
                             struct err *err)
{
    if (max_turns <= 0) {
        *out = json_array();
        return 0;
    }
    return read_turns((struct store_dynamo *)base, id, 1, max_turns, out, err);
}

/* One Query, newest first: the item at since_ms comes with its messages too (DynamoDB has no
 * per-item projection), which store.h allows. */
static int dy_history_since(struct store *base, const char *id, long long since_ms, int max_turns,
                            json_t **out, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    if (max_turns <= 0) {
        *out = json_array();
        return 0;
    }
    if (since_ms < 1) /* the session header is the item at timestamp 0: never a turn */
        since_ms = 1;
    json_t *req = json_pack("{s:s, s:s, s:{s:s}, s:{s:o, s:o}, s:s, s:b, s:b, s:i}", "TableName",
                            s->conv, "KeyConditionExpression", "sessionId = :s AND #ts >= :z",
                            "ExpressionAttributeNames", "#ts", "timestamp",
                            "ExpressionAttributeValues", ":s", av_s(id), ":z", av_n(since_ms),
                            "ProjectionExpression", "messages, #ts", "ScanIndexForward", 0,
                            "ConsistentRead", 1, "Limit", max_turns);
    json_t *items = json_array();
    int rc = query_all(s, "Query", req, (size_t)max_turns, items, err);
    json_decref(req);
    if (rc < 0) {
        json_decref(items);
        return -1;
    }
    json_t *rows = json_array();
    size_t n = json_array_size(items);
    if (n > (size_t)max_turns)
        n = (size_t)max_turns;
    for (size_t k = 0; k < n; k++) {
        json_t *item = json_array_get(items, n - 1 - k);
        json_t *msgs = item_value(item, "messages");
        if (!json_is_array(msgs)) {
            json_decref(msgs);
            json_decref(rows);
            json_decref(items);
            return err_set(err, "StoreError", "stored turn of '%s' holds malformed messages", id);
        }
        json_array_append_new(rows, json_pack("{s:I, s:o}", "timestamp",
                                              item_int(item, "timestamp"), "messages", msgs));
    }
    json_decref(items);
    *out = rows;
    return 0;
}

static int dy_transcript(struct store *base, const char *id, json_t **out, struct err *err)
{
    return read_turns((struct store_dynamo *)base, id, 0, 0, out, err);
}

static json_t *object_or_empty(const json_t *v)
{
    return json_is_object(v) ? json_deep_copy(v) : json_object();
}

static json_t *counter_update(const struct store_dynamo *s, const char *group, const char *name,
                              long long delta, long long expires_ms);

static int dy_turn_save(struct store *base, const json_t *turn, int *turn_no, long long *counted,
                        struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    const char *id = json_string_value(json_object_get(turn, "sessionId"));
    const char *user = json_string_value(json_object_get(turn, "userId"));
    int is_new = json_is_true(json_object_get(turn, "isNew"));
    int no_turn = json_is_true(json_object_get(turn, "noTurn"));
    const json_t *messages = json_object_get(turn, "messages");
    if (!id || !user || !json_is_array(messages))
        return err_set(err, "StoreError", "turn needs sessionId, userId and messages");
    json_t *ctx = object_or_empty(json_object_get(turn, "context"));
    json_t *meta = object_or_empty(json_object_get(turn, "metadata"));
    const char *status = json_string_value(json_object_get(turn, "status"));
    if (status && !*status)
        status = NULL;
    /* The session header's metadata records why its status changed, as session_set_status does. */
    json_t *hdr_meta = json_deep_copy(meta);
    if (status)
        json_object_set_new(hdr_meta, "statusReason", json_string("set by the turn"));
    int rc = -1;

    for (int attempt = 0; attempt < DDB_SAVE_ATTEMPTS; attempt++) {
        int64_t now = clock_now_ms();
        long long turns = 0, last_ts = 0;
        json_t *hdr = NULL;
        if (!is_new) {
            if (get_item(s, s->conv, header_key(id), &hdr, err) < 0)
                goto out;
            if (!hdr) {
                err_set(err, "NotFound", "session '%s' not found", id);
                goto out;
            }
            turns = item_int(hdr, "turns");
            last_ts = item_int(hdr, "lastTimestamp");
        }
        if (!no_turn)
            turns++;
        /* Sort keys must be unique and increasing within a session, even within one ms. */
        long long ts = now > last_ts ? now : last_ts + 1;

        json_t *item = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "sessionId", av_s(id),
                                 "timestamp", av_n(ts), "turn", av_n(turns), "userId", av_s(user),
                                 "messages", av_of(messages), "context", av_of(ctx), "lastActivity",
                                 av_n(ts), "metadata", av_of(meta));
        add_expiry(s, item);
        json_t *put_turn = json_pack("{s:{s:s, s:o, s:s}}", "Put", "TableName", s->conv, "Item",
                                     item, "ConditionExpression",
                                     "attribute_not_exists(sessionId)");
        json_t *first;
        if (is_new) {
            json_t *h = json_pack("{s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:O, s:o}", "sessionId",
                                  av_s(id), "timestamp", av_n(0), "userId", av_s(user), "status",
                                  av_s(status ? status : "active"), "createdAt", av_n(now),
                                  "lastActivity", av_n(ts), "turns", av_n(turns), "context",
                                  json_object_get(item, "context"), "metadata", av_of(hdr_meta));
            json_object_set_new(h, "kind", av_s("session"));
            json_object_set_new(h, "lastTimestamp", av_n(ts));
            add_expiry(s, h);
            first = json_pack("{s:{s:s, s:o, s:s}}", "Put", "TableName", s->conv, "Item", h,
                              "ConditionExpression", "attribute_not_exists(sessionId)");
        } else {
            json_t *names = json_pack("{s:s, s:s}", "#lt", "lastTimestamp", "#la", "lastActivity");
            json_t *values = json_pack("{s:o, s:o}", ":ts", av_n(ts), ":old", av_n(last_ts));
            char update[256] = "SET #lt = :ts, #la = :ts";
            if (!no_turn) {
                strcat(update, ", #tu = :tu, #cx = :cx, #md = :md");
                json_object_set_new(names, "#tu", json_string("turns"));
                json_object_set_new(names, "#cx", json_string("context"));
                json_object_set_new(names, "#md", json_string("metadata"));
                json_object_set_new(values, ":tu", av_n(turns));
                json_object_set_new(values, ":cx", av_of(ctx));
                json_object_set_new(values, ":md", av_of(hdr_meta));
            }
            if (status) {
                strcat(update, no_turn ? ", #st = :st, #md.#sr = :sr" : ", #st = :st");
                json_object_set_new(names, "#st", json_string("status"));
                json_object_set_new(values, ":st", av_s(status));
                if (no_turn) {
                    json_object_set_new(names, "#md", json_string("metadata"));
                    json_object_set_new(names, "#sr", json_string("statusReason"));
                    json_object_set_new(values, ":sr", av_s("set by the turn"));
                }
            }
            if (s->ttl_days > 0) {
                strcat(update, ", #ex = :ex");
                json_object_set_new(names, "#ex", json_string("expiresAt"));
                json_object_set(values, ":ex", json_object_get(item, "expiresAt"));
            }
            first = json_pack("{s:{s:s, s:o, s:s, s:s, s:o, s:o}}", "Update", "TableName", s->conv,
                              "Key", header_key(id), "UpdateExpression", update,
                              "ConditionExpression", "#lt = :old", "ExpressionAttributeNames",
                              names, "ExpressionAttributeValues", values);
        }
        json_decref(hdr);
        json_t *writes = json_pack("[o,o]", first, put_turn);
        const json_t *idem = json_object_get(turn, "idempotency");
        const char *idem_k = json_string_value(json_object_get(idem, "key"));
        if (idem_k && json_is_object(json_object_get(idem, "response"))) {
            /* The key is done in the same transaction (last, so ordered writes save the turn
             * first; store.h). */
            json_t *resp = json_copy(json_object_get(idem, "response"));
            json_object_set_new(resp, "turn", json_integer(turns));
            json_array_append_new(writes, json_pack("{s:o}", "Update",
                                                    idem_finish_request(s, idem_k, resp)));
            json_decref(resp);
        }
        /* The turn's counters (the budgets of its model calls) count exactly when it is saved:
         * last, so that ordered writes have saved the turn before they add. */
        size_t i;
        const json_t *ct;
        json_array_foreach(json_object_get(turn, "counters"), i, ct) {
            json_t *up = counter_update(s, json_string_value(json_object_get(ct, "group")),
                                        json_string_value(json_object_get(ct, "name")),
                                        json_integer_value(json_object_get(ct, "delta")),
                                        json_integer_value(json_object_get(ct, "expiresAt")));
            json_array_append_new(writes, json_pack("{s:o}", "Update", up));
        }
        json_t *reasons = NULL;
        if (transact(s, writes, &reasons, err) == 0) {
            *turn_no = (int)turns;
            for (i = 0; counted && i < json_array_size(json_object_get(turn, "counters")); i++)
                counted[i] = -1; /* a transaction answers no values */
            rc = 0;
            goto out;
        }
        int lost = strcmp(err->code, "TransactionCanceledException") == 0 &&
                   reason_is(reasons, 0, "ConditionalCheckFailed");
        json_decref(reasons);
        if (lost && is_new) {
            err_set(err, "Conflict", "session '%s' already exists", id);
            goto out;
        }
        if (!lost) {
            store_error(err, "save turn");
            goto out;
        }
        /* Another writer saved a turn of this session in between: read again and retry. */
        log_at(LL_DEBUG, "store", "turn of '%s' lost a race (attempt %d)", id, attempt + 1);
    }
    err_set(err, "StoreBusy", "session '%s' is being written concurrently; gave up after %d tries",
            id, DDB_SAVE_ATTEMPTS);
out:
    json_decref(ctx);
    json_decref(meta);
    json_decref(hdr_meta);
    return rc;
}

static int dy_session_set_status(struct store *base, const char *id, const char *status,
                                 const char *reason, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    json_t *req = json_pack("{s:s, s:o, s:s, s:s, s:{s:s, s:s, s:s}, s:{s:o, s:o}}", "TableName",
                            s->conv, "Key", header_key(id), "UpdateExpression",
                            "SET #st = :st, #md.#sr = :sr", "ConditionExpression",
                            "attribute_exists(sessionId)", "ExpressionAttributeNames", "#st",
                            "status", "#md", "metadata", "#sr", "statusReason",
                            "ExpressionAttributeValues", ":st", av_s(status), ":sr",
                            av_s(reason ? reason : ""));
    if (ddb(s, "UpdateItem", req, NULL, NULL, err) == 0)
        return 0;
    if (strcmp(err->code, "ConditionalCheckFailedException") == 0)
        return err_set(err, "NotFound", "session '%s' not found", id);
    return store_error(err, "update session status");
}

static int by_activity_desc(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "lastActivity"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "lastActivity"));
    return x < y ? 1 : x > y ? -1 : 0;
}

static int dy_sessions_list(struct store *base, const char *status, int limit, json_t **out,
                            struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    json_t *req = json_pack("{s:s, s:s, s:s, s:{s:s, s:s}, s:{s:o}}", "TableName", s->conv,
                            "FilterExpression", status ? "#ts = :z AND #st = :st" : "#ts = :z",
                            "ProjectionExpression",
                            "sessionId, userId, #st, createdAt, lastActivity, turns",
                            "ExpressionAttributeNames", "#ts", "timestamp", "#st", "status",
                            "ExpressionAttributeValues", ":z", av_n(0));
    if (status)
        json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":st", av_s(status));
    json_t *items = json_array();
    int rc = query_all(s, "Scan", req, 0, items, err);
    json_decref(req);
    if (rc < 0) {
        json_decref(items);
        return -1;
    }
    size_t n = json_array_size(items);
    json_t **rows = xcalloc(n + 1, sizeof *rows);
    for (size_t i = 0; i < n; i++) {
        json_t *it = json_array_get(items, i);
        rows[i] = json_pack("{s:s, s:s, s:s, s:I, s:I, s:I}", "sessionId",
                            item_str(it, "sessionId") ? item_str(it, "sessionId") : "", "userId",
                            item_str(it, "userId") ? item_str(it, "userId") : "", "status",
                            item_str(it, "status") ? item_str(it, "status") : "", "createdAt",
                            item_int(it, "createdAt"), "lastActivity", item_int(it, "lastActivity"),
                            "turns", item_int(it, "turns"));
    }
    qsort(rows, n, sizeof *rows, by_activity_desc);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (limit < 0 || json_array_size(list) < (size_t)limit)
            json_array_append(list, rows[i]);
        json_decref(rows[i]);
    }
    free(rows);
    json_decref(items);
    *out = list;
    return 0;
}

/* ---------------------------------------------------------------- tickets */

static json_t *ticket_of_item(const json_t *it)
{
    char id[STORE_TICKET_ID_MAX], created[32];
    store__ticket_id(item_int(it, "seq"), id);
    clock_iso8601(item_int(it, "createdAt"), created, sizeof created);
    static const char *const fields[] = {"title",  "description", "priority", "email",
                                         "status", "sessionId",   "userId"};
    json_t *t = json_pack("{s:s}", "id", id);
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(t, fields[i],
                            json_string(item_str(it, fields[i]) ? item_str(it, fields[i]) : ""));
    json_object_set_new(t, "createdAt", json_string(created));
    return t;
}

static int ticket_read(struct store_dynamo *s, long long seq, const char *id, json_t **out,
                       struct err *err)
{
    char pk[40];
    snprintf(pk, sizeof pk, "TICKET#%lld", seq);
    json_t *item = NULL;
    if (get_item(s, s->ent, ent_key(pk, "#"), &item, err) < 0)
        return -1;
    if (!item)
        return err_set(err, "NotFound", "ticket '%s' not found", id);
    *out = ticket_of_item(item);
    json_decref(item);
    return 0;
}

static int dy_ticket_get(struct store *base, const char *id, json_t **out, struct err *err)
{
    long long seq = store__ticket_seq(id);
    if (seq < 0)
        return err_set(err, "NotFound", "ticket '%s' not found", id);
    return ticket_read((struct store_dynamo *)base, seq, id, out, err);
}

/* Returns the ticket an idempotency key created, 1 when found, 0 when the key is unused. */
static int ticket_by_key(struct store_dynamo *s, const char *key, json_t **out, struct err *err)
{
    char *pk = xasprintf("IDEMPOTENCY#%s", key);
    json_t *item = NULL;
    int rc = get_item(s, s->ent, ent_key(pk, "#"), &item, err);
    free(pk);
    if (rc < 0 || !item)
        return rc;
    long long seq = item_int(item, "seq");
    json_decref(item);
    if (ticket_read(s, seq, "by idempotency key", out, err) < 0)
        return -1;
    return 1;
}

static int dy_ticket_create(struct store *base, const json_t *f, json_t **out, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    const char *key = json_string_value(json_object_get(f, "idempotencyKey"));
    if (key) {
        int found = ticket_by_key(s, key, out, err);
        if (found != 0)
            return found < 0 ? -1 : 0;
    }
    /* The next ticket number: an atomic counter. Numbers lost to failed creations leave gaps. */
    json_t *resp = NULL;
    json_t *req = json_pack("{s:s, s:o, s:s, s:{s:s}, s:{s:o}, s:s}", "TableName", s->ent, "Key",
                            ent_key("COUNTER", "ticket"), "UpdateExpression", "ADD #n :one",
                            "ExpressionAttributeNames", "#n", "n", "ExpressionAttributeValues",
                            ":one", av_n(1), "ReturnValues", "UPDATED_NEW");
    if (ddb(s, "UpdateItem", req, &resp, NULL, err) < 0)
        return store_error(err, "next ticket number");
    long long seq = item_int(json_object_get(resp, "Attributes"), "n");
    json_decref(resp);
    if (seq <= 0)
        return err_set(err, "StoreError", "ticket counter answered no number");

    char pk[40], sk[24];
    snprintf(pk, sizeof pk, "TICKET#%lld", seq);
    snprintf(sk, sizeof sk, "%012lld", seq);
    json_t *item = json_pack("{s:o, s:o, s:o, s:o, s:o}", "pk", av_s(pk), "sk", av_s("#"), "seq",
                             av_n(seq), "status", av_s("open"), "createdAt", av_n(clock_now_ms()));
    static const char *const fields[] = {"sessionId",   "userId",   "title",
                                         "description", "priority", "email"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(item, fields[i],
                            av_s(json_string_value(json_object_get(f, fields[i]))));
    const char *user = json_string_value(json_object_get(f, "userId"));
    char *list_pk = xasprintf("USER#%s#TICKETS", user ? user : "");
    json_t *copy = json_deep_copy(item);
    json_object_set_new(copy, "pk", av_s(list_pk));
    json_object_set_new(copy, "sk", av_s(sk));
    free(list_pk);
    json_t *items = json_pack("[{s:{s:s, s:o, s:s}}, {s:{s:s, s:o}}]", "Put", "TableName", s->ent,
                              "Item", json_deep_copy(item), "ConditionExpression",
                              "attribute_not_exists(pk)", "Put", "TableName", s->ent, "Item", copy);
    if (key) {
        char *kpk = xasprintf("IDEMPOTENCY#%s", key);
        json_array_append_new(items, json_pack("{s:{s:s, s:{s:o, s:o, s:o}, s:s}}", "Put",
                                               "TableName", s->ent, "Item", "pk", av_s(kpk), "sk",
                                               av_s("#"), "seq", av_n(seq), "ConditionExpression",
                                               "attribute_not_exists(pk)"));
        free(kpk);
    }
    json_t *reasons = NULL;
    int rc = transact(s, items, &reasons, err);
    if (rc < 0 && key && strcmp(err->code, "TransactionCanceledException") == 0 &&
        reason_is(reasons, 2, "ConditionalCheckFailed")) {
        /* A concurrent call with the same key won: its ticket is the answer. */
        json_decref(reasons);
        json_decref(item);
        int found = ticket_by_key(s, key, out, err);
        if (found == 0)
            return err_set(err, "StoreError", "idempotency key vanished during a race");
        return found < 0 ? -1 : 0;
    }
    json_decref(reasons);
    if (rc < 0) {
        json_decref(item);
        return store_error(err, "create ticket");
    }
    *out = ticket_of_item(item);
    json_decref(item);
    return 0;
}

static int by_seq_desc(const void *a, const void *b)
{
    json_int_t x = item_int(*(json_t *const *)a, "seq");
    json_int_t y = item_int(*(json_t *const *)b, "seq");
    return x < y ? 1 : x > y ? -1 : 0;
}

/* Every ticket, newest first (an operator view: a Scan of the ticket items, O(table)). */
static int all_tickets(struct store_dynamo *s, int limit, json_t **out, struct err *err)
{
    json_t *req = json_pack("{s:s, s:s, s:{s:o, s:o}, s:b}", "TableName", s->ent,
                            "FilterExpression", "begins_with(pk, :t) AND sk = :h",
                            "ExpressionAttributeValues", ":t", av_s("TICKET#"), ":h", av_s("#"),
                            "ConsistentRead", 1);
    json_t *items = json_array();
    int rc = query_all(s, "Scan", req, 0, items, err);
    json_decref(req);
    if (rc < 0) {
        json_decref(items);
        return -1;
    }
    size_t n = json_array_size(items);
    json_t **rows = xcalloc(n + 1, sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = json_array_get(items, i);
    qsort(rows, n, sizeof *rows, by_seq_desc);
    json_t *list = json_array();
    for (size_t i = 0; i < n && i < (size_t)limit; i++)
        json_array_append_new(list, ticket_of_item(rows[i]));
    free(rows);
    json_decref(items);
    *out = list;
    return 0;
}

static int dy_tickets_list(struct store *base, const char *user, int limit, json_t **out,
                           struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    if (limit <= 0) {
        *out = json_array();
        return 0;
    }
    if (!user)
        return all_tickets(s, limit, out, err);
    char *pk = xasprintf("USER#%s#TICKETS", user);
    json_t *req = json_pack("{s:s, s:s, s:{s:o}, s:b, s:i, s:b}", "TableName", s->ent,
                            "KeyConditionExpression", "pk = :p", "ExpressionAttributeValues", ":p",
                            av_s(pk), "ScanIndexForward", 0, "Limit", limit, "ConsistentRead", 1);
    free(pk);
    json_t *items = json_array();
    int rc = query_all(s, "Query", req, (size_t)limit, items, err);
    json_decref(req);
    if (rc == 0) {
        json_t *list = json_array();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            if (json_array_size(list) >= (size_t)limit)
                break;
            json_array_append_new(list, ticket_of_item(it));
        }
        *out = list;
    }
    json_decref(items);
    return rc;
}

/* ---------------------------------------------------------------- orders and actions */

static int dy_order_get(struct store *base, const char *order_id, json_t **out, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    char *pk = xasprintf("ORDER#%s", order_id);
    json_t *item = NULL;
    int rc = get_item(s, s->ent, ent_key(pk, "#"), &item, err);
    free(pk);
    if (rc < 0)
        return -1;
    if (!item)
        return err_set(err, "NotFound", "order %s not found", order_id);
    json_t *doc = item_value(item, "doc");
    json_decref(item);
    if (!json_is_object(doc)) {
        json_decref(doc);
        return err_set(err, "StoreError", "order %s is stored malformed", order_id);
    }
    /* Totals are prices: keep them real even when they happen to be whole. */
    json_t *total = json_object_get(doc, "total");
    if (json_is_integer(total))
        json_object_set_new(doc, "total", json_real((double)json_integer_value(total)));
    *out = doc;
    return 0;
}

static int dy_action_put(struct store *base, const json_t *a, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    const char *id = json_string_value(json_object_get(a, "id"));
    if (!id)
        return err_set(err, "StoreError", "action needs an id");
    char *pk = xasprintf("ACTION#%s", id);
    json_t *item = json_pack("{s:o, s:o, s:o}", "pk", av_s(pk), "sk", av_s("#"), "updatedAt",
                             av_n(clock_now_ms()));
    free(pk);
    static const char *const fields[] = {"id", "sessionId", "userId", "tool", "status"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(item, fields[i],
                            av_s(json_string_value(json_object_get(a, fields[i]))));
    const json_t *input = json_object_get(a, "input");
    const json_t *result = json_object_get(a, "result");
    json_t *empty = json_object();
    json_object_set_new(item, "input", av_of(input ? input : empty));
    json_object_set_new(item, "result", av_of(result ? result : json_null()));
    json_decref(empty);
    add_expiry(s, item);
    if (ddb(s, "PutItem", json_pack("{s:s, s:o}", "TableName", s->ent, "Item", item), NULL, NULL,
            err) < 0)
        return store_error(err, "record action");
    return 0;
}

static int dy_action_get(struct store *base, const char *id, json_t **out, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    char *pk = xasprintf("ACTION#%s", id);
    json_t *item = NULL;
    int rc = get_item(s, s->ent, ent_key(pk, "#"), &item, err);
    free(pk);
    if (rc < 0)
        return -1;
    if (!item)
        return err_set(err, "NotFound", "action '%s' not found", id);
    json_t *o = json_object();
    static const char *const fields[] = {"id", "sessionId", "userId", "tool", "status"};
    for (size_t i = 0; i < sizeof fields / sizeof fields[0]; i++)
        json_object_set_new(o, fields[i],
                            json_string(item_str(item, fields[i]) ? item_str(item, fields[i])
                                                                  : ""));
    json_object_set_new(o, "input", item_value(item, "input"));
    json_object_set_new(o, "result", item_value(item, "result"));
    json_object_set_new(o, "updatedAt", json_integer(item_int(item, "updatedAt")));
    json_decref(item);
    *out = o;
    return 0;
}

/* ---------------------------------------------------------------- idempotent requests */

#define DDB_IDEM_TTL_S (24 * 3600) /* idempotency keys expire (table TTL) after a day */

static json_t *idem_key(const char *key)
{
    char *pk = xasprintf("IDEM#%s", key);
    json_t *k = ent_key(pk, "#");
    free(pk);
    return k;
}

/* Decides on a running key read back after a failed claim: takes it over (conditional on the
 * owner and lease read) when its lease ended or its owner is gone. Returns 0 when taken over, -1
 * with err ("Conflict" when it stays with its owner or another retry won). */
static int dy_idem_takeover(struct store_dynamo *s, const struct store_idem_claim *k,
                            const json_t *old, struct err *err)
{
    const char *old_owner = item_str(old, "owner");
    long long lease = (long long)item_int(old, "leaseUntil");
    int has_lease = json_object_get(old, "leaseUntil") != NULL;
    int gone = (has_lease && lease <= k->now_ms) || (k->owner_gone && old_owner && old_owner[0] &&
                                                     k->owner_gone(old_owner, k->ctx) == 1);
    if (!gone)
        return err_set(err, "Conflict", "a request with this Idempotency-Key is still running");
    json_t *values = json_pack("{s:o, s:o, s:o, s:o}", ":running", av_s("running"), ":o",
                               av_s(k->owner), ":l", av_n(k->lease_until_ms), ":e",
                               av_n(k->expires_ms / 1000));
    const char *cond;
    if (old_owner) {
        json_object_set_new(values, ":oo", av_s(old_owner));
        json_object_set_new(values, ":ol", av_n(lease));
        cond = "#s = :running AND #o = :oo AND #l = :ol";
    } else {
        cond = "#s = :running AND attribute_not_exists(#o)";
    }
    json_t *req = json_pack("{s:s, s:o, s:s, s:s, s:{s:s, s:s, s:s, s:s}, s:o}", "TableName",
                            s->ent, "Key", idem_key(k->key), "UpdateExpression",
                            "SET #o = :o, #l = :l, #e = :e", "ConditionExpression", cond,
                            "ExpressionAttributeNames", "#s", "state", "#o", "owner", "#l",
                            "leaseUntil", "#e", "expiresAt", "ExpressionAttributeValues", values);
    if (ddb(s, "UpdateItem", req, NULL, NULL, err) == 0)
        return 0;
    if (strcmp(err->code, "ConditionalCheckFailedException") == 0)
        return err_set(err, "Conflict", "a request with this Idempotency-Key is still running");
    return store_error(err, "take over idempotency key");
}

static int dy_idem_claim(struct store *base, const struct store_idem_claim *k, json_t **response,
                         int *taken_over, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    *taken_over = 0;
    json_t *item = idem_key(k->key);
    json_object_set_new(item, "hash", av_s(k->hash));
    json_object_set_new(item, "state", av_s("running"));
    json_object_set_new(item, "owner", av_s(k->owner));
    json_object_set_new(item, "leaseUntil", av_n(k->lease_until_ms));
    json_object_set_new(item, "expiresAt", av_n(k->expires_ms / 1000)); /* the table's TTL */
    /* New, or expired but not yet removed by TTL (which runs late): claim it. */
    json_t *req = json_pack("{s:s, s:o, s:s, s:{s:s}, s:{s:o}}", "TableName", s->ent, "Item", item,
                            "ConditionExpression", "attribute_not_exists(pk) OR #e <= :now",
                            "ExpressionAttributeNames", "#e", "expiresAt",
                            "ExpressionAttributeValues", ":now", av_n(k->now_ms / 1000));
    if (ddb(s, "PutItem", req, NULL, NULL, err) == 0)
        return 0;
    if (strcmp(err->code, "ConditionalCheckFailedException") != 0)
        return store_error(err, "claim idempotency key");
    json_t *old = NULL;
    if (get_item(s, s->ent, idem_key(k->key), &old, err) < 0)
        return -1;
    int rc = -1;
    const char *old_hash = item_str(old, "hash");
    const char *state = item_str(old, "state");
    const char *text = item_str(old, "response");
    if (!old)
        err_set(err, "Conflict", "a request with this Idempotency-Key is still running");
    else if (!old_hash || strcmp(old_hash, k->hash) != 0)
        err_set(err, "IdempotencyMismatch",
                "this Idempotency-Key was used with a different request body");
    else if (!state || strcmp(state, "done") != 0)
        rc = dy_idem_takeover(s, k, old, err);
    else if (!text || !(*response = json_loads(text, 0, NULL)))
        err_set(err, "StoreError", "stored response for this Idempotency-Key is malformed");
    else
        rc = 1;
    json_decref(old);
    *taken_over = rc == 0;
    return rc;
}

/* The seed's contract: no owner, a lease and an expiry of a day. */
static int dy_idem_begin(struct store *base, const char *key, const char *hash, json_t **response,
                         struct err *err)
{
    long long now = clock_now_ms();
    struct store_idem_claim k = {.key = key,
                                 .hash = hash,
                                 .owner = "",
                                 .now_ms = now,
                                 .lease_until_ms = now + DDB_IDEM_TTL_S * 1000LL,
                                 .expires_ms = now + DDB_IDEM_TTL_S * 1000LL};
    int taken_over;
    return dy_idem_claim(base, &k, response, &taken_over, err);
}

/* The UpdateItem request (new reference) that marks key done with response; the session the
 * response names is recorded so that erasing it also forgets the key. */
static json_t *idem_finish_request(struct store_dynamo *s, const char *key, const json_t *response)
{
    char *text = jsontext_dump(response);
    const char *sid = json_string_value(json_object_get(response, "sessionId"));
    json_t *req = json_pack("{s:s, s:o, s:s, s:{s:s, s:s}, s:{s:o, s:o}}", "TableName", s->ent,
                            "Key", idem_key(key), "UpdateExpression",
                            sid && sid[0] ? "SET #s = :s, #r = :r, sessionId = :sid"
                                          : "SET #s = :s, #r = :r",
                            "ExpressionAttributeNames", "#s", "state", "#r", "response",
                            "ExpressionAttributeValues", ":s", av_s("done"), ":r", av_s(text));
    if (sid && sid[0])
        json_object_set_new(json_object_get(req, "ExpressionAttributeValues"), ":sid", av_s(sid));
    free(text);
    return req;
}

static int dy_idem_finish(struct store *base, const char *key, const json_t *response,
                          struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    if (ddb(s, "UpdateItem", idem_finish_request(s, key, response), NULL, NULL, err) < 0)
        return store_error(err, "finish idempotency key");
    return 0;
}

static int dy_idem_abort(struct store *base, const char *key, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    json_t *req = json_pack("{s:s, s:o, s:s, s:{s:s}, s:{s:o}}", "TableName", s->ent, "Key",
                            idem_key(key), "ConditionExpression", "#s = :running",
                            "ExpressionAttributeNames", "#s", "state", "ExpressionAttributeValues",
                            ":running", av_s("running"));
    if (ddb(s, "DeleteItem", req, NULL, NULL, err) == 0 ||
        strcmp(err->code, "ConditionalCheckFailedException") == 0)
        return 0; /* a finished key stays */
    return store_error(err, "release idempotency key");
}

/* ---------------------------------------------------------------- erasure */

#define DDB_BATCH_MAX 25  /* BatchWriteItem's limit on requests per call */
#define DDB_BATCH_TRIES 6 /* calls per batch while DynamoDB leaves items unprocessed */

/* Deletes the items with the given keys (borrowed array of Key objects) from table with
 * BatchWriteItem, 25 at a time, resubmitting UnprocessedItems with backoff. Returns 0, or -1
 * with err ("StoreError" when items stay unprocessed). */
static int batch_delete(struct store_dynamo *s, const char *table, const json_t *keys,
                        struct err *err)
{
    static const struct backoff bo = {.base_ms = 50, .max_ms = 2000, .jitter = BACKOFF_JITTER_FULL};
    size_t n = json_array_size(keys);
    for (size_t from = 0; from < n; from += DDB_BATCH_MAX) {
        json_t *reqs = json_array();
        for (size_t i = from; i < n && i < from + DDB_BATCH_MAX; i++)
            json_array_append_new(reqs, json_pack("{s:{s:O}}", "DeleteRequest", "Key",
                                                  json_array_get(keys, i)));
        json_t *items = json_pack("{s:o}", table, reqs);
        int tries = 0;
        while (items && json_object_size(items) > 0) {
            if (tries == DDB_BATCH_TRIES) {
                json_decref(items);
                return err_set(err, "StoreError", "BatchWriteItem left items unprocessed");
            }
            if (tries > 0)
                sched_sleep_ms(backoff_delay_ms(&bo, tries));
            tries++;
            json_t *resp = NULL;
            if (ddb(s, "BatchWriteItem", json_pack("{s:O}", "RequestItems", items), &resp, NULL,
                    err) < 0) {
                json_decref(items);
                return store_error(err, "BatchWriteItem");
            }
            json_decref(items);
            json_t *left = json_object_get(resp, "UnprocessedItems");
            items = json_is_object(left) ? json_incref(left) : NULL;
            json_decref(resp);
        }
        json_decref(items);
    }
    return 0;
}

/* Anonymises one ticket item (the ticket itself or its copy in a user's list): it keeps its
 * number, status, priority and dates. */
static int anonymise_ticket(struct store_dynamo *s, const json_t *it, struct err *err)
{
    json_t *req = json_pack(
        "{s:s, s:{s:O, s:O}, s:s, s:{s:o, s:o}}", "TableName", s->ent, "Key", "pk",
        json_object_get(it, "pk"), "sk", json_object_get(it, "sk"), "UpdateExpression",
        "SET userId = :e, sessionId = :e, title = :x, description = :x REMOVE email",
        "ExpressionAttributeValues", ":e", av_s("erased"), ":x", av_s("[erased]"));
    if (ddb(s, "UpdateItem", req, NULL, NULL, err) < 0)
        return store_error(err, "anonymise ticket");
    return 0;
}

/* The entity items of the session: its tickets are anonymised, the copies in its user's ticket
 * list, its actions, the idempotency keys whose response named it and the ticket keys derived
 * from it ("IDEMPOTENCY#<sessionId>:<toolUseId>") are deleted. A Scan: erasure is rare. */
static int erase_entities(struct store_dynamo *s, const char *sid, struct err *err)
{
    char *ik = xasprintf("IDEMPOTENCY#%s:", sid);
    json_t *req = json_pack("{s:s, s:s, s:s, s:{s:o, s:o}, s:b}", "TableName", s->ent,
                            "FilterExpression", "sessionId = :s OR begins_with(pk, :k)",
                            "ProjectionExpression", "pk, sk", "ExpressionAttributeValues", ":s",
                            av_s(sid), ":k", av_s(ik), "ConsistentRead", 1);
    free(ik);
    json_t *items = json_array(), *doomed = json_array();
    int rc = query_all(s, "Scan", req, 0, items, err);
    json_decref(req);
    size_t i;
    json_t *it;
    json_array_foreach(items, i, it) {
        if (rc < 0)
            break;
        const char *pk = item_str(it, "pk");
        const char *sk = item_str(it, "sk");
        if (pk && sk && strncmp(pk, "TICKET#", 7) == 0 && strcmp(sk, "#") == 0)
            rc = anonymise_ticket(s, it, err);
        else
            json_array_append_new(doomed, json_pack("{s:O, s:O}", "pk", json_object_get(it, "pk"),
                                                    "sk", json_object_get(it, "sk")));
    }
    if (rc == 0)
        rc = batch_delete(s, s->ent, doomed, err);
    json_decref(doomed);
    json_decref(items);
    return rc;
}

/* Erasure: the entity items first, then the turns, then the session header last, so that a
 * failure part-way leaves the session findable and a retry finishes the job. */
static int dy_session_erase(struct store *base, const char *session_id, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    int rc = -1;
    json_t *req = NULL, *header = NULL, *turns = json_array(), *keys = json_array();
    if (get_item(s, s->conv, header_key(session_id), &header, err) < 0)
        goto out;
    if (!header) {
        err_set(err, "NotFound", "session '%s' not found", session_id);
        goto out;
    }
    /* The tombstone first: from now on the worker drops the session's queued actions. */
    char tag[65];
    store__erased_tag(session_id, tag);
    char *tpk = xasprintf("ERASED#%s", tag);
    req = json_pack("{s:s, s:{s:o, s:o, s:o}}", "TableName", s->ent, "Item", "pk", av_s(tpk), "sk",
                    av_s("#"), "erasedAt", av_n(clock_now_ms()));
    free(tpk);
    if (ddb(s, "PutItem", req, NULL, NULL, err) < 0) {
        store_error(err, "record erasure");
        goto out;
    }
    if (erase_entities(s, session_id, err) < 0)
        goto out;
    req = json_pack("{s:s, s:s, s:{s:s}, s:{s:o, s:o}, s:s, s:b}", "TableName", s->conv,
                    "KeyConditionExpression", "sessionId = :s AND #ts > :z",
                    "ExpressionAttributeNames", "#ts", "timestamp", "ExpressionAttributeValues",
                    ":s", av_s(session_id), ":z", av_n(0), "ProjectionExpression", "sessionId, #ts",
                    "ConsistentRead", 1);
    int q = query_all(s, "Query", req, 0, turns, err);
    json_decref(req);
    if (q < 0)
        goto out;
    size_t i;
    json_t *it;
    json_array_foreach(turns, i, it)
        json_array_append_new(keys,
                              json_pack("{s:O, s:O}", "sessionId", json_object_get(it, "sessionId"),
                                        "timestamp", json_object_get(it, "timestamp")));
    if (batch_delete(s, s->conv, keys, err) < 0)
        goto out;
    req = json_pack("{s:s, s:o}", "TableName", s->conv, "Key", header_key(session_id));
    if (ddb(s, "DeleteItem", req, NULL, NULL, err) < 0) {
        store_error(err, "delete session");
        goto out;
    }
    rc = 0;
out:
    json_decref(header);
    json_decref(turns);
    json_decref(keys);
    return rc;
}

static int dy_session_erased(struct store *base, const char *session_id, int *erased,
                             struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    char tag[65];
    store__erased_tag(session_id ? session_id : "", tag);
    char *pk = xasprintf("ERASED#%s", tag);
    json_t *item = NULL;
    int rc = get_item(s, s->ent, ent_key(pk, "#"), &item, err);
    free(pk);
    if (rc == 0)
        *erased = item != NULL;
    json_decref(item);
    return rc;
}

/* ---------------------------------------------------------------- audit log */

/* Audit entries are items pk "AUDIT", sk "<ms, 16 digits><this process's sequence, 6 digits>#
 * <random>", so a Query in reverse is newest first (entries of one process in the order they
 * were made); the put is conditional, so an entry is never overwritten. */
static int dy_audit_append(struct store *base, const json_t *entry, struct err *err)
{
    static atomic_uint seq;
    struct store_dynamo *s = (struct store_dynamo *)base;
    char sk[64];
    snprintf(sk, sizeof sk, "%016lld%06u#%016" PRIx64, (long long)clock_now_ms(),
             atomic_fetch_add(&seq, 1) % 1000000u, rand_u64());
    char *text = jsontext_dump(entry);
    json_t *req = json_pack("{s:s, s:{s:o, s:o, s:o}, s:s}", "TableName", s->ent, "Item", "pk",
                            av_s("AUDIT"), "sk", av_s(sk), "entry", av_s(text),
                            "ConditionExpression", "attribute_not_exists(pk)");
    free(text);
    if (ddb(s, "PutItem", req, NULL, NULL, err) < 0)
        return store_error(err, "append to the audit log");
    return 0;
}

static int dy_audit_list(struct store *base, const char *before, int limit, json_t **out,
                         char **next, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    json_t *resp = NULL;
    *next = NULL;
    json_t *req = json_pack("{s:s, s:s, s:{s:o, s:o}, s:b, s:i}", "TableName", s->ent,
                            "KeyConditionExpression", "pk = :p AND sk < :b",
                            "ExpressionAttributeValues", ":p", av_s("AUDIT"), ":b",
                            av_s(before ? before : "~"), "ScanIndexForward", 0, "Limit", limit);
    if (ddb(s, "Query", req, &resp, NULL, err) < 0)
        return store_error(err, "read the audit log");
    json_t *list = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(resp, "Items"), i, it) {
        const char *text = item_str(it, "entry");
        json_t *e = text ? json_loads(text, 0, NULL) : NULL;
        if (!json_is_object(e)) {
            json_decref(e);
            e = json_object();
        }
        json_object_set_new(e, "id", json_string(item_str(it, "sk") ? item_str(it, "sk") : ""));
        json_array_append_new(list, e);
    }
    if (json_object_get(resp, "LastEvaluatedKey") && json_array_size(list) > 0)
        *next = xstrdup(json_string_value(
            json_object_get(json_array_get(list, json_array_size(list) - 1), "id")));
    json_decref(resp);
    *out = list;
    return 0;
}

/* ---------------------------------------------------------------- lifecycle */

/* ---------------------------------------------------------------- counters */

/* A counter is the item pk "COUNTER#<group>", sk <name> with its value in "n" and its expiry in
 * "expiresAt" (epoch seconds, rounded up: the table's TTL attribute). */
static char *counter_pk(const char *group)
{
    return xasprintf("COUNTER#%s", group);
}

/* Returns 1 when a counter item is expired at now_ms (TTL deletes lag behind by up to days). */
static int counter_expired(const json_t *item, long long now_ms)
{
    long long at = item_int(item, "expiresAt");
    return at > 0 && at * 1000 <= now_ms;
}

/* The UpdateItem request (without ReturnValues; new) that adds delta to counter name of group,
 * as counter_add does: for UpdateItem itself and as an Update of a turn's transaction. */
static json_t *counter_update(const struct store_dynamo *s, const char *group, const char *name,
                              long long delta, long long expires_ms)
{
    char *pk = counter_pk(group);
    json_t *values = json_pack("{s:o}", ":d", av_n(delta));
    const char *update = "ADD #n :d";
    if (expires_ms > 0) {
        json_object_set_new(values, ":e", av_n((expires_ms + 999) / 1000));
        update = "ADD #n :d SET expiresAt = :e";
    }
    json_t *req = json_pack("{s:s, s:o, s:s, s:{s:s}, s:o}", "TableName", s->ent, "Key",
                            ent_key(pk, name), "UpdateExpression", update,
                            "ExpressionAttributeNames", "#n", "n", "ExpressionAttributeValues",
                            values);
    free(pk);
    return req;
}

static int dy_counter_add(struct store *base, const char *group, const char *name, long long delta,
                          long long expires_ms, long long *value, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    json_t *resp = NULL;
    json_t *req = counter_update(s, group, name, delta, expires_ms);
    json_object_set_new(req, "ReturnValues", json_string("UPDATED_NEW"));
    if (ddb(s, "UpdateItem", req, &resp, NULL, err) < 0)
        return store_error(err, "add to counter");
    *value = item_int(json_object_get(resp, "Attributes"), "n");
    json_decref(resp);
    return 0;
}

static int dy_counter_get(struct store *base, const char *group, const char *name, long long *value,
                          struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    char *pk = counter_pk(group);
    json_t *item = NULL;
    int rc = get_item(s, s->ent, ent_key(pk, name), &item, err);
    free(pk);
    if (rc < 0)
        return -1;
    *value = item && !counter_expired(item, clock_now_ms()) ? item_int(item, "n") : 0;
    json_decref(item);
    return 0;
}

static int dy_counters_list(struct store *base, const char *group, json_t **out, struct err *err)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    char *pk = counter_pk(group);
    json_t *req = json_pack("{s:s, s:s, s:{s:o}, s:b}", "TableName", s->ent,
                            "KeyConditionExpression", "pk = :p", "ExpressionAttributeValues", ":p",
                            av_s(pk), "ConsistentRead", 1);
    free(pk);
    json_t *items = json_array();
    int rc = query_all(s, "Query", req, 0, items, err);
    json_decref(req);
    if (rc == 0) {
        long long now = clock_now_ms();
        *out = json_object();
        size_t i;
        json_t *it;
        json_array_foreach(items, i, it) {
            const char *name = item_str(it, "sk");
            if (name && !counter_expired(it, now))
                json_object_set_new(*out, name, json_integer(item_int(it, "n")));
        }
    }
    json_decref(items);
    return rc;
}

static void dy_free(struct store *base)
{
    struct store_dynamo *s = (struct store_dynamo *)base;
    aws_client_free(s->aws);
    free(s->conv);
    free(s->ent);
    free(s);
}

static const struct store_ops dynamo_ops = {
    .name = "dynamodb",
    .session_get = dy_session_get,
    .history_recent = dy_history_recent,
    .history_since = dy_history_since,
    .transcript = dy_transcript,
    .turn_save = dy_turn_save,
    .ticket_create = dy_ticket_create,
    .ticket_get = dy_ticket_get,
    .tickets_list = dy_tickets_list,
    .order_get = dy_order_get,
    .session_set_status = dy_session_set_status,
    .sessions_list = dy_sessions_list,
    .action_put = dy_action_put,
    .action_get = dy_action_get,
    .idem_begin = dy_idem_begin,
    .idem_finish = dy_idem_finish,
    .idem_abort = dy_idem_abort,
    .idem_claim = dy_idem_claim,
    .session_erase = dy_session_erase,
    .session_erased = dy_session_erased,
    .counter_add = dy_counter_add,
    .counter_get = dy_counter_get,
    .counters_list = dy_counters_list,
    .audit_append = dy_audit_append,
    .audit_list = dy_audit_list,
    .free = dy_free,
};

/* The demo store's orders, the same as the SQLite adapter's. */
static const char demo_orders[] =
    "[{\"orderId\":\"1042\",\"userId\":\"demo\",\"status\":\"shipped\",\"items\":[{\"sku\":"
    "\"HP-200\",\"name\":\"Wireless headphones\",\"quantity\":1,\"price\":89.99}],\"total\":"
    "89.99,\"shipping\":{\"carrier\":\"UPS\",\"tracking\":\"1Z999AA10123456784\",\"eta\":"
    "\"2026-11-28\"},\"createdAt\":\"2026-11-20T10:15:00Z\"},"
    "{\"orderId\":\"1043\",\"userId\":\"demo\",\"status\":\"processing\",\"items\":[{\"sku\":"
    "\"PC-11\",\"name\":\"Phone case\",\"quantity\":2,\"price\":14.5},{\"sku\":\"CB-3\",\"name\":"
    "\"USB-C cable\",\"quantity\":1,\"price\":9.99}],\"total\":38.99,\"shipping\":{\"carrier\":"
    "null,\"tracking\":null,\"eta\":\"2026-12-02\"},\"createdAt\":\"2026-11-24T08:02:00Z\"},"
    "{\"orderId\":\"1044\",\"userId\":\"demo\",\"status\":\"delivered\",\"items\":[{\"sku\":"
    "\"KB-7\",\"name\":\"Mechanical keyboard\",\"quantity\":1,\"price\":129.0}],\"total\":129.0,"
    "\"shipping\":{\"carrier\":\"DHL\",\"tracking\":\"JD014600006281234567\",\"eta\":"
    "\"2026-11-12\"},\"createdAt\":\"2026-11-08T16:40:00Z\"},"
    "{\"orderId\":\"1045\",\"userId\":\"jane\",\"status\":\"cancelled\",\"items\":[{\"sku\":"
    "\"MN-27\",\"name\":\"27-inch monitor\",\"quantity\":1,\"price\":249.0}],\"total\":249.0,"
    "\"shipping\":{\"carrier\":null,\"tracking\":null,\"eta\":null},\"createdAt\":"
    "\"2026-11-18T12:00:00Z\"},"
    "{\"orderId\":\"1046\",\"userId\":\"jane\",\"status\":\"shipped\",\"items\":[{\"sku\":"
    "\"MS-1\",\"name\":\"Wireless mouse\",\"quantity\":1,\"price\":29.99}],\"total\":29.99,"
    "\"shipping\":{\"carrier\":\"FedEx\",\"tracking\":\"612999AA10NA\",\"eta\":\"2026-11-27\"},"
    "\"createdAt\":\"2026-11-22T09:30:00Z\"}]";

static int seed_orders(struct store_dynamo *s, struct err *err)
{
    json_t *orders = json_loads(demo_orders, 0, NULL);
    size_t i;
    json_t *o;
    int rc = 0;
    json_array_foreach(orders, i, o) {
        char *pk = xasprintf("ORDER#%s", json_string_value(json_object_get(o, "orderId")));
        json_t *req = json_pack("{s:s, s:{s:o, s:o, s:o}, s:s}", "TableName", s->ent, "Item", "pk",
                                av_s(pk), "sk", av_s("#"), "doc", av_of(o), "ConditionExpression",
                                "attribute_not_exists(pk)");
        free(pk);
        if (ddb(s, "PutItem", req, NULL, NULL, err) < 0 &&
            strcmp(err->code, "ConditionalCheckFailedException") != 0) {
            rc = store_error(err, "seed demo orders");
            break;
        }
    }
    json_decref(orders);
    err_clear(err);
    return rc;
}

/* Turns on the table's TTL on "expiresAt", the attribute every expiring item carries
 * (conversation items with ttl_days > 0, idempotency keys always). A service without
 * UpdateTimeToLive (dynalite) gets a warning: items then stay until deleted. */
static int enable_ttl(struct store_dynamo *s, const char *table, struct err *err)
{
    json_t *req = json_pack("{s:s, s:{s:s, s:b}}", "TableName", table, "TimeToLiveSpecification",
                            "AttributeName", "expiresAt", "Enabled", 1);
    if (ddb(s, "UpdateTimeToLive", req, NULL, NULL, err) == 0) {
        log_at(LL_INFO, "store", "enabled TTL on 'expiresAt' of DynamoDB table '%s'", table);
        return 0;
    }
    if (strcmp(err->code, "UnknownOperationException") != 0)
        return store_error(err, "enable TTL");
    log_at(LL_WARN, "store", "cannot enable TTL on table '%s' (%s); expired items stay", table,
           err->message);
    err_clear(err);
    return 0;
}

/* Makes sure table exists (creating it when asked, with TTL on) and is ACTIVE. */
static int ensure_table(struct store_dynamo *s, const char *table, const char *hash,
                        const char *hash_type, const char *range, const char *range_type,
                        int create, struct err *err)
{
    int64_t until = clock_mono_ms() + DDB_TABLE_WAIT_MS;
    int created = 0;
    for (int round = 0;; round++) {
        json_t *resp = NULL;
        if (ddb(s, "DescribeTable", json_pack("{s:s}", "TableName", table), &resp, NULL, err) ==
            0) {
            const char *st = json_string_value(
                json_object_get(json_object_get(resp, "Table"), "TableStatus"));
            int active = st && strcmp(st, "ACTIVE") == 0;
            json_decref(resp);
            if (active)
                return created ? enable_ttl(s, table, err) : 0;
        } else if (strcmp(err->code, "ResourceNotFoundException") == 0 && create && round == 0) {
            json_t *req = json_pack(
                "{s:s, s:[{s:s, s:s}, {s:s, s:s}], s:[{s:s, s:s}, {s:s, s:s}], s:s}", "TableName",
                table, "AttributeDefinitions", "AttributeName", hash, "AttributeType", hash_type,
                "AttributeName", range, "AttributeType", range_type, "KeySchema", "AttributeName",
                hash, "KeyType", "HASH", "AttributeName", range, "KeyType", "RANGE", "BillingMode",
                "PAY_PER_REQUEST");
            created = ddb(s, "CreateTable", req, NULL, NULL, err) == 0;
            if (!created && strcmp(err->code, "ResourceInUseException") != 0)
                return store_error(err, "create table");
            if (created)
                log_at(LL_INFO, "store", "created DynamoDB table '%s'", table);
        } else {
            char code[ERR_CODE_MAX], msg[ERR_MSG_MAX];
            snprintf(code, sizeof code, "%s", err->code);
            snprintf(msg, sizeof msg, "%s", err->message);
            return err_set(err, "StoreError", "DynamoDB table '%.200s' is not usable: %s: %.600s",
                           table, code, msg);
        }
        if (clock_mono_ms() > until)
            return err_set(err, "StoreError", "DynamoDB table '%s' did not become ACTIVE", table);
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

struct store *store_dynamo_new(const struct store_dynamo_config *cfg, struct err *err)
{
    struct store_dynamo *s = xcalloc(1, sizeof *s);
    s->base.ops = &dynamo_ops;
    struct http_client_config hc = {.timeout_ms = 10000, .max_idle_handles = 16};
    s->aws = aws_client_new(cfg->aws, &hc);
    s->conv = xstrdup(cfg->conversations_table ? cfg->conversations_table : "Conversations");
    s->ent = xstrdup(cfg->entities_table ? cfg->entities_table : "ParleyEntities");
    s->ttl_days = cfg->ttl_days > 0 ? cfg->ttl_days : 0;
    if (ensure_table(s, s->conv, "sessionId", "S", "timestamp", "N", cfg->create_tables, err) < 0 ||
        ensure_table(s, s->ent, "pk", "S", "sk", "S", cfg->create_tables, err) < 0 ||
        (cfg->seed_demo_orders && seed_orders(s, err) < 0)) {
        dy_free(&s->base);
        return NULL;
    }
    log_at(LL_DEBUG, "store", "DynamoDB tables '%s' and '%s' ready", s->conv, s->ent);
    return &s->base;
}

int store_dynamo_ttl_days(const struct config *c)
{
    int conv = c->conversation_ttl_days, keep = c->retention_days;
    return keep > 0 && (conv == 0 || keep < conv) ? keep : conv;
}

struct store *store_dynamo_from_config(const struct config *c, struct err *err)
{
    struct aws_config aws;
    if (aws_config_from_env(&aws, err) < 0)
        return NULL;
    struct store_dynamo_config cfg = {
        .aws = &aws,
        .conversations_table = c->dynamo_conversations[0] ? c->dynamo_conversations : NULL,
        .entities_table = c->dynamo_entities[0] ? c->dynamo_entities : NULL,
        .create_tables = c->dynamo_create,
        .seed_demo_orders = c->demo_orders,
        .ttl_days = store_dynamo_ttl_days(c)};
    struct store *s = store_dynamo_new(&cfg, err);
    aws_config_release(&aws);
    return s;
}

struct store *store_dynamo_from_env(struct err *err)
{
    struct config c;
    struct store *s = NULL;
    if (config_load(&c, err) == 0)
        s = store_dynamo_from_config(&c, err);
    config_release(&c);
    return s;
}
