/*
 * model_offline.c - the offline adapter of the model port (model.h): a deterministic
 * intent-and-slot engine that answers in the Anthropic Messages-API shape without any network.
 *
 * The decision comes from offline_policy.c; this file wraps it into a response: a message id and
 * tool_use ids derived from a hash of the request (same request, same response), token counts
 * estimated from the text, and word-by-word streaming of the reply text. Its only mutable state is
 * the pointer to the custom tools (model_offline_train), an immutable reference-counted object
 * swapped under a mutex: a turn takes a reference for its whole decision, so a reload never frees
 * what a running turn reads, and one instance serves any number of threads.
 */
#include <ctype.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/jsonb.h"
#include "base/jsontext.h"
#include "base/ptrmemo.h"
#include "base/rand.h"
#include "base/swar.h"
#include "base/xmalloc.h"
#include "model/model.h"
#include "model/offline_custom.h"
#include "model/offline_policy.h"

#define OFFLINE_MODEL_NAME "parley-offline-1"

struct model_offline {
    struct model base;             /* first, so a struct model * is a struct model_offline * */
    pthread_mutex_t mu;            /* guards custom */
    struct offline_custom *custom; /* custom tools (one reference), or NULL */
    struct ptrmemo *measures;      /* values measured once (owned; below) */
};

/* ------------------------------------------------------------------------------------------------
 * Hashing and token estimates
 * --------------------------------------------------------------------------------------------- */

/* Estimates tokens the way BPE tokenisers roughly behave on English: a run of letters or digits
 * (or UTF-8 bytes) costs one token per four characters (rounded up), every other visible
 * character one token, whitespace nothing. It is an estimate, documented as such in the usage it
 * fills. A run of n costs ceil(n / 4), which is the count of its characters at offsets 0, 4, 8...
 * in it; so the count needs only the run's length modulo 4 (phase) between bytes, runs may span
 * the pieces a JSON value is walked in, and eight bytes are classified a step (count_bytes). */
struct token_count {
    size_t tokens;  /* so far */
    unsigned phase; /* letters or digits in the current run, modulo 4 (0: none or a multiple) */
};

/* For each phase and each set of letter-or-digit positions among eight bytes (bit i: byte i):
 * the tokens those bytes' runs start (low four bits) and the phase after them (high four). */
static uint8_t phase_step[4][256];
static pthread_once_t phase_once = PTHREAD_ONCE_INIT; /* model_offline_new fills phase_step */

static void phase_init(void)
{
    for (unsigned p = 0; p < 4; p++)
        for (unsigned m = 0; m < 256; m++) {
            unsigned ph = p, tokens = 0;
            for (unsigned b = 0; b < 8; b++) {
                if (m >> b & 1) {
                    tokens += ph == 0;
                    ph = (ph + 1) & 3;
                } else {
                    ph = 0;
                }
            }
            phase_step[p][m] = (uint8_t)(tokens | ph << 4);
        }
}

/* The byte classes count_bytes's word tests match, one byte at a time (the tail of a piece). */
static int is_word_byte(unsigned char c)
{
    return (c >= '0' && c <= '9') || ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') || c >= 0x80;
}

static int is_space_byte(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

static void count_bytes(struct token_count *t, const char *s, size_t len)
{
    size_t tokens = t->tokens;
    unsigned phase = t->phase;
    for (; len >= 8; s += 8, len -= 8) {
        uint64_t w = swar_load_le64(s);
        uint64_t high = w & SWAR_HIGH; /* UTF-8 bytes count as letters */
        uint64_t v = w & SWAR_BYTES(0x7F);
        uint64_t word = high | SWAR_IN(v, '0', '9') | SWAR_IN(v | SWAR_BYTES(0x20), 'a', 'z');
        uint64_t space = (SWAR_IN(v, '\t', '\r') | SWAR_IN(v, ' ', ' ')) & ~high;
        tokens += SWAR_SUM(SWAR_HIGH & ~word & ~space); /* symbols */
        unsigned step = phase_step[phase][swar_bits(word)];
        tokens += step & 15;
        phase = step >> 4;
    }
    for (; len; s++, len--) {
        unsigned char c = (unsigned char)*s;
        if (is_word_byte(c)) {
            tokens += phase == 0;
            phase = (phase + 1) & 3;
            continue;
        }
        phase = 0;
        if (!is_space_byte(c))
            tokens++;
    }
    t->tokens = tokens;
    t->phase = phase;
}

/* The count; a run in progress is already counted, so the next byte starts afresh. */
static size_t count_done(struct token_count *t)
{
    t->phase = 0;
    return t->tokens;
}

static size_t estimate_tokens(const char *s)
{
    struct token_count t = {0, 0};
    count_bytes(&t, s, strlen(s));
    return count_done(&t);
}

static int count_chunk(const char *buf, size_t len, void *ud)
{
    count_bytes(ud, buf, len);
    return 0;
}

static size_t estimate_json_tokens(const json_t *j)
{
    if (!j)
        return 0;
    struct token_count t = {0, 0};
    json_dump_callback(j, count_chunk, &t, JSON_COMPACT | JSON_ENCODE_ANY);
    return count_done(&t);
}

/* Hash and token count of a request in one walk over its values: the hash (hash_stream) runs
 * over every byte of the request's compact, key-sorted JSON text (json_dumps with JSON_COMPACT |
 * JSON_SORT_KEYS), the count over the text of the values of "system", "messages" and "tools".
 * The walk emits the bytes jansson would write, straight into the hash and the count, without
 * building the text, sorting through the library or a callback per piece (test_offline_model
 * holds it to json_dumps). */
#define PASS_BUF 4096 /* bytes gathered before the hash and the count take them */

/* The walk's pieces are mostly a few bytes (quotes, commas, keys): they are gathered in buf and
 * handed to the hash and the count in blocks, which take eight bytes a step. */
struct request_pass {
    struct hash_stream hash;   /* of the bytes handed on */
    struct token_count tokens; /* of the counted values */
    struct ptrmemo *measures;  /* where values measured once are kept (NULL: none) */
    int counting;              /* 1 while a counted value is walked */
    size_t bytes;              /* handed on so far */
    size_t n;                  /* bytes in buf */
    char buf[PASS_BUF];
};

/* A new walk (on the heap: not on a turn's fiber stack) keeping its measures in measures (may be
 * NULL), counting from the start or not. */
static struct request_pass *pass_new(struct ptrmemo *measures, int counting)
{
    struct request_pass *rp = xmalloc(sizeof *rp);
    hash_stream_init(&rp->hash);
    rp->tokens = (struct token_count){0, 0};
    rp->measures = measures;
    rp->counting = counting;
    rp->bytes = 0;
    rp->n = 0;
    return rp;
}

static void pass_take(struct request_pass *rp, const char *s, size_t len)
{
    rp->bytes += len;
    hash_stream_feed(&rp->hash, s, len);
    if (rp->counting)
        count_bytes(&rp->tokens, s, len);
}

/* Hands on what buf holds: before counting starts or stops, and at the end. */
static void pass_flush(struct request_pass *rp)
{
    pass_take(rp, rp->buf, rp->n);
    rp->n = 0;
}

static inline void pass_bytes(struct request_pass *rp, const char *s, size_t len)
{
    if (len > PASS_BUF - rp->n) {
        pass_flush(rp);
        if (len > PASS_BUF / 2) { /* a long piece goes on as it is */
            pass_take(rp, s, len);
            return;
        }
    }
    memcpy(rp->buf + rp->n, s, len);
    rp->n += len;
}

static int pass_chunk(const char *buf, size_t len, void *ud)
{
    pass_bytes(ud, buf, len);
    return 0;
}

/* A JSON string as jansson escapes it: quotes, backslash and the C escapes by name, other
 * control characters as \u00XX, everything else (UTF-8 included) as is. */
static void pass_string(struct request_pass *rp, const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    pass_bytes(rp, "\"", 1);
    size_t run = 0;
    for (size_t i = jsontext_plain_prefix(s, len); i < len;
         i += 1 + jsontext_plain_prefix(s + i + 1, len - i - 1)) {
        unsigned char c = (unsigned char)s[i];
        pass_bytes(rp, s + run, i - run);
        run = i + 1;
        char esc[6] = {'\\', 0, '0', '0', hex[c >> 4], hex[c & 15]};
        size_t n = 2;
        switch (c) {
        case '"':
            esc[1] = '"';
            break;
        case '\\':
            esc[1] = '\\';
            break;
        case '\b':
            esc[1] = 'b';
            break;
        case '\f':
            esc[1] = 'f';
            break;
        case '\n':
            esc[1] = 'n';
            break;
        case '\r':
            esc[1] = 'r';
            break;
        case '\t':
            esc[1] = 't';
            break;
        default:
            esc[1] = 'u';
            n = 6;
            break;
        }
        pass_bytes(rp, esc, n);
    }
    pass_bytes(rp, s + run, len - run);
    pass_bytes(rp, "\"", 1);
}

/* Values measured once. A continuing conversation sends the same contents at every model call,
 * and they are the very same values each time: the history cache keeps a session's messages
 * parsed between turns, build_request shares their contents and the tools' definitions are one
 * immutable value. So the model keeps, by address, the measures of each message's "content" and of
 * "tools": their bytes, digest and tokens, in a memo of its own (base/ptrmemo.h: it holds a
 * reference to each value it keeps, so no other value takes that address while the entry lives,
 * and checks the length or member count too; an erasure empties it, model_forget). Other long
 * strings (MODEL_OFFLINE_LONG_STRING bytes or more: the system prompt, rendered at every call) are
 * measured at every call. Like every value of a turn's state, they are never changed once made
 * (agent.h; the ASL engine's size memo counts on the same). In the text the id hashes, such a value
 * of MODEL_OFFLINE_LONG_STRING bytes or more is its digest (model.h), which is what lets the walk
 * skip it; its tokens are those of its JSON text as ever (a string begins and ends with a quote, a
 * container with a bracket, so the runs it counts are its own). */
#define MEASURED_SETS 1024 /* of the memo of values measured once (base/ptrmemo.h) */

/* Where the walk is in the request: which values it may replace by their digests. */
enum place {
    AT_TOP,      /* the request itself */
    AT_MESSAGES, /* its "messages" array */
    AT_MESSAGE,  /* one message */
    AT_ANY,      /* elsewhere: long strings are digested */
    AT_PLAIN,    /* inside a value measured whole: nothing is replaced */
};

static int pass_value(struct request_pass *rp, const json_t *v, int depth, enum place at);

/* What is known of a value measured whole. */
struct measured {
    size_t bytes;    /* of its compact, key-sorted JSON text */
    uint64_t digest; /* hash_stream of its text */
    size_t tokens;   /* the estimate over its JSON text */
};

/* The measures of v (a string or a container): from the memo, or taken now by a walk of its own
 * and, when keep, kept there. -1 past the walk's depth limit. */
static int measure(struct request_pass *rp, const json_t *v, int depth, int keep,
                   struct measured *out)
{
    size_t check = ptrmemo_check_of(v);
    struct ptrmemo_value kept;
    if (keep && ptrmemo_get(rp->measures, v, check, &kept)) {
        *out = (struct measured){kept.b, kept.a, kept.c};
        return 0;
    }
    struct request_pass *own = pass_new(NULL, 1); /* the value's text alone */
    int rc = pass_value(own, v, depth, AT_PLAIN);
    pass_flush(own);
    *out = (struct measured){own->bytes, hash_stream_done(&own->hash), count_done(&own->tokens)};
    free(own);
    if (rc < 0)
        return -1;
    if (keep)
        ptrmemo_put(rp->measures, v, check,
                    &(struct ptrmemo_value){NULL, out->digest, out->bytes, out->tokens});
    return 0;
}

/* A value that may stand as its digest: a long one does ("#" and 16 hex digits, quoted, in the
 * hashed text; its measured tokens in the count), a short one is walked. keep: the value is one
 * the next calls send again (a message's content, the tools), so its measures are kept. */
static int pass_measured(struct request_pass *rp, const json_t *v, int depth, int keep)
{
    int whole = json_is_object(v) || json_is_array(v) ||
                (json_is_string(v) && json_string_length(v) >= MODEL_OFFLINE_LONG_STRING);
    if (!whole)
        return pass_value(rp, v, depth, AT_PLAIN);
    struct measured m;
    if (measure(rp, v, depth, keep, &m) < 0)
        return -1;
    if (m.bytes < MODEL_OFFLINE_LONG_STRING) /* a short container: its text as it is */
        return pass_value(rp, v, depth, AT_PLAIN);
    char text[20] = "\"#"; /* "#" and 16 hex digits, quoted: without a format at each value */
    rand_put_hex(text + 2, m.digest, 16);
    text[18] = '"';
    int n = 19;
    pass_flush(rp); /* what came before is hashed and counted in its order */
    hash_stream_feed(&rp->hash, text, (size_t)n);
    rp->bytes += (size_t)n;
    if (rp->counting) /* the byte before a value (':', ',' or '[') ended any run */
        rp->tokens.tokens += m.tokens;
    return 0;
}

/* An object's member, sorted by key for the walk. */
struct member {
    const char *key;
    json_t *value;
};

static int member_cmp(const void *a, const void *b)
{
    return strcmp(((const struct member *)a)->key, ((const struct member *)b)->key);
}

#define PASS_KEYS_ON_STACK 16
#define PASS_DEPTH_MAX 2048 /* deeper than any request jansson would dump */

/* Walks the member value x of key k in an object at place at. */
static int pass_member(struct request_pass *rp, const char *k, const json_t *x, int depth,
                       enum place at)
{
    switch (at) {
    case AT_TOP:
        if (strcmp(k, "tools") == 0)
            return pass_measured(rp, x, depth, 1);
        return pass_value(rp, x, depth, strcmp(k, "messages") == 0 ? AT_MESSAGES : AT_ANY);
    case AT_MESSAGE:
        if (strcmp(k, "content") == 0)
            return pass_measured(rp, x, depth, 1);
        return pass_value(rp, x, depth, AT_ANY);
    case AT_PLAIN:
        return pass_value(rp, x, depth, AT_PLAIN);
    default:
        return pass_value(rp, x, depth, AT_ANY);
    }
}

/* Walks v at place at; counting applies below the top, where only the three counted values
 * count. Returns 0, or -1 past PASS_DEPTH_MAX. */
static int pass_value(struct request_pass *rp, const json_t *v, int depth, enum place at)
{
    if (depth > PASS_DEPTH_MAX)
        return -1;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        size_t n = json_object_size(v), i = 0;
        struct member stack_members[PASS_KEYS_ON_STACK];
        struct member *ms = n <= PASS_KEYS_ON_STACK ? stack_members : xmalloc(n * sizeof *ms);
        const char *k;
        json_t *x;
        json_object_foreach((json_t *)v, k, x)
            ms[i++] = (struct member){k, x};
        if (ms == stack_members) /* a few keys: an insertion sort, no calls through qsort */
            for (size_t a = 1; a < n; a++)
                for (size_t b = a; b > 0 && strcmp(ms[b - 1].key, ms[b].key) > 0; b--) {
                    struct member t = ms[b];
                    ms[b] = ms[b - 1];
                    ms[b - 1] = t;
                }
        else
            qsort(ms, n, sizeof *ms, member_cmp);
        int rc = 0, top = at == AT_TOP;
        pass_bytes(rp, "{", 1);
        for (i = 0; i < n && rc == 0; i++) {
            if (i)
                pass_bytes(rp, ",", 1);
            pass_string(rp, ms[i].key, strlen(ms[i].key));
            pass_bytes(rp, ":", 1);
            if (top) { /* the request: count the prompt's values, not its envelope */
                pass_flush(rp);
                rp->counting = strcmp(ms[i].key, "system") == 0 ||
                               strcmp(ms[i].key, "messages") == 0 ||
                               strcmp(ms[i].key, "tools") == 0;
            }
            rc = pass_member(rp, ms[i].key, ms[i].value, depth + 1, at);
            if (top) {
                pass_flush(rp);
                count_done(&rp->tokens); /* a counted value's last run ends with it */
                rp->counting = 0;
            }
        }
        pass_bytes(rp, "}", 1);
        if (ms != stack_members)
            free(ms);
        return rc;
    }
    case JSON_ARRAY: {
        size_t i;
        json_t *x;
        enum place inner = at == AT_MESSAGES ? AT_MESSAGE : at == AT_PLAIN ? AT_PLAIN : AT_ANY;
        pass_bytes(rp, "[", 1);
        json_array_foreach(v, i, x) {
            if (i)
                pass_bytes(rp, ",", 1);
            if (pass_value(rp, x, depth + 1, inner) < 0)
                return -1;
        }
        pass_bytes(rp, "]", 1);
        return 0;
    }
    case JSON_STRING:
        if (at != AT_PLAIN && json_string_length(v) >= MODEL_OFFLINE_LONG_STRING)
            return pass_measured(rp, v, depth, 0); /* the system prompt: rendered at each call */
        pass_string(rp, json_string_value(v), json_string_length(v));
        return 0;
    case JSON_INTEGER: {
        char num[32];
        int len = snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        pass_bytes(rp, num, (size_t)len);
        return 0;
    }
    case JSON_TRUE:
        pass_bytes(rp, "true", 4);
        return 0;
    case JSON_FALSE:
        pass_bytes(rp, "false", 5);
        return 0;
    case JSON_NULL:
        pass_bytes(rp, "null", 4);
        return 0;
    case JSON_REAL: /* rare in a request: jansson's own text of the number */
        json_dump_callback(v, pass_chunk, rp, JSON_COMPACT | JSON_ENCODE_ANY);
        return 0;
    }
    return 0;
}

/* Fills *h with hash_stream of the request's compact, key-sorted JSON text with its long values
 * digested (model.h) and returns the estimated input tokens. */
static size_t request_hash_tokens(struct ptrmemo *ms, const json_t *request, uint64_t *h)
{
    struct request_pass *rp = pass_new(ms, 0);
    (void)pass_value(rp, request, 0, AT_TOP);
    pass_flush(rp);
    *h = hash_stream_done(&rp->hash);
    size_t tokens = rp->tokens.tokens;
    free(rp);
    return tokens;
}

/* FNV-1a of s continued from h: a tool call's id from the request's hash. */
static uint64_t fnv1a(const char *s, uint64_t h)
{
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= HASH_FNV_PRIME;
    }
    return h;
}

/* ------------------------------------------------------------------------------------------------
 * Streaming
 * --------------------------------------------------------------------------------------------- */

/* Emits text word by word: each delta is a word plus the whitespace after it, so the deltas
 * concatenate to exactly the text. */
static void stream_words(const char *text, model_delta_fn on_delta, void *ud)
{
    const char *p = text;
    /* leading whitespace, if any, travels with the first word */
    while (*p) {
        const char *start = p;
        while (*p && isspace((unsigned char)*p))
            p++;
        while (*p && !isspace((unsigned char)*p))
            p++;
        while (*p && isspace((unsigned char)*p))
            p++;
        char *piece = xstrndup(start, (size_t)(p - start));
        on_delta(ud, piece);
        free(piece);
    }
}

/* ------------------------------------------------------------------------------------------------
 * The port
 * --------------------------------------------------------------------------------------------- */

static json_t *offline_invoke(struct model *m, const json_t *request, model_delta_fn on_delta,
                              void *ud, struct err *err)
{
    struct model_offline *mo = (struct model_offline *)m;
    json_t *resp = NULL;
    struct offline_reply reply = {0};
    pthread_mutex_lock(&mo->mu);
    struct offline_custom *custom = mo->custom ? offline_custom_ref(mo->custom) : NULL;
    pthread_mutex_unlock(&mo->mu);
    if (!json_is_object(request)) {
        err_set(err, "InvalidRequest", "model request is not a JSON object");
        goto out;
    }
    if (offline_policy_decide(request, custom, &reply, err) != 0)
        goto out;

    uint64_t h;
    size_t in_tokens = request_hash_tokens(mo->measures, request, &h);
    char id[40];
    snprintf(id, sizeof id, "msg_offline_%016" PRIx64, h);

    /* The reply, built member by member (base/jsonb.h, json_pack's rules without its format):
     * the ids are ASCII and a tool's name a jansson string's. A block missing a member (a text
     * that is not UTF-8) is left out, as json_pack had it. */
    json_t *block;
    size_t out_tokens = 0;
    if (reply.tool) {
        char tid[40];
        snprintf(tid, sizeof tid, "toolu_offline_%016" PRIx64, fnv1a(reply.tool, h));
        block = jsonb_object("type", json_string_nocheck("tool_use"), "id",
                             json_string_nocheck(tid), "name", json_string_nocheck(reply.tool),
                             "input", jsonb_ref(reply.input), NULL);
        out_tokens = estimate_tokens(reply.tool) + estimate_json_tokens(reply.input);
    } else {
        block = jsonb_object("type", json_string_nocheck("text"), "text", jsonb_str(reply.text),
                             NULL);
        out_tokens = estimate_tokens(reply.text);
        if (on_delta)
            stream_words(reply.text, on_delta, ud);
    }
    json_t *content = json_array();
    if (block)
        json_array_append_new(content, block);
    resp = jsonb_object("id", json_string_nocheck(id), "type", json_string_nocheck("message"),
                        "role", json_string_nocheck("assistant"), "model",
                        json_string_nocheck(OFFLINE_MODEL_NAME), "content", content, "stop_reason",
                        json_string_nocheck(reply.tool ? "tool_use" : "end_turn"), "stop_sequence",
                        json_null(), "usage",
                        jsonb_object("input_tokens", json_integer((json_int_t)in_tokens),
                                     "output_tokens", json_integer((json_int_t)out_tokens), NULL),
                        NULL);
out:
    offline_reply_release(&reply); /* before the unref: reply.tool may point into custom */
    offline_custom_unref(custom);
    return resp;
}

static void offline_free(struct model *m)
{
    struct model_offline *mo = (struct model_offline *)m;
    offline_custom_unref(mo->custom);
    ptrmemo_free(mo->measures);
    pthread_mutex_destroy(&mo->mu);
    free(mo);
}

static void offline_forget(struct model *m)
{
    ptrmemo_clear(((struct model_offline *)m)->measures);
}

static const struct model_ops offline_ops = {
    .name = "offline",
    .invoke = offline_invoke,
    .free = offline_free,
    .forget = offline_forget,
};

struct model *model_offline_new(void)
{
    struct model_offline *mo = xcalloc(1, sizeof *mo);
    mo->base.ops = &offline_ops;
    pthread_mutex_init(&mo->mu, NULL);
    mo->measures = ptrmemo_new(MEASURED_SETS);
    pthread_once(&phase_once, phase_init); /* the token count's table, before any call */
    return &mo->base;
}

int model_offline_train(struct model *m, const json_t *tool_examples, struct err *err)
{
    int rc = -1;
    struct offline_custom *fresh = NULL, *old = NULL;
    if (!m || m->ops != &offline_ops) {
        err_set(err, "InvalidArgument", "model_offline_train needs the offline model");
        goto out;
    }
    struct model_offline *mo = (struct model_offline *)m;
    /* no custom tool with examples: exactly the built-in classifier */
    int any = 0;
    size_t i;
    const json_t *t;
    json_array_foreach(tool_examples, i, t)
        if (json_array_size(json_object_get(t, "examples")) > 0)
            any = 1;
    if (any || (tool_examples && !json_is_array(tool_examples))) {
        fresh = offline_custom_new(tool_examples, err);
        if (!fresh)
            goto out;
    }
    pthread_mutex_lock(&mo->mu);
    old = mo->custom;
    mo->custom = fresh;
    pthread_mutex_unlock(&mo->mu);
    offline_custom_unref(old);
    rc = 0;
out:
    return rc;
}
