/*
 * agent_file.c - loads, converts (YAML to JSON), validates and resolves the agent file, and
 * renders its per-turn templates. See agent_file.h for the contract and docs/agent-file.md for
 * the keys.
 */
#include "agent/agent_file.h"

#include <ctype.h>
#include <errno.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <yaml.h>

#include "base/buf.h"
#include "base/guard.h"
#include "agent/schema.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "base/asset.h"
#include "base/text.h"

/* One denied topic, its patterns compiled once. */
struct topic {
    struct text_re **re; /* compiled patterns (a copy per concurrent turn each) */
    size_t nre;          /* how many */
    const char *reply;   /* canned reply (borrowed from doc) */
};

struct agent_file {
    char *path;           /* as loaded */
    json_t *doc;          /* the resolved document */
    json_t *shown;        /* the same with secrets masked */
    struct topic *topics; /* guardrails.denied_topics */
    size_t ntopics;       /* how many */
    unsigned redact;      /* guardrails.redact kinds */
    int has_redact;       /* 1 when guardrails.redact is set */
};

/* The built-in tools of the registry (src/agent/tools.c), by name. */
static const char *const builtin_names[] = {
    "create_support_ticket", "get_ticket_status", "list_my_tickets",   "lookup_order",
    "search_knowledge_base", "escalate_to_human", "get_action_status",
};
#define NBUILTIN (sizeof builtin_names / sizeof builtin_names[0])

/* The template values agent_file_render_instructions fills in. */
static const char *const template_names[] = {"today", "weekday", "now", "business_hours",
                                             "agent_name"};
#define NTEMPLATES (sizeof template_names / sizeof template_names[0])

/* ------------------------------------------------------------------------------------------------
 * The agent file's JSON Schema (documented key by key in docs/agent-file.md)
 * ---------------------------------------------------------------------------------------------- */

#define STR "{\"type\":\"string\"}"
#define STRMAP "{\"type\":\"object\",\"additionalProperties\":{\"type\":\"string\"}}"
#define EXAMPLES                                                                                   \
    "{\"type\":\"array\",\"maxItems\":200,\"items\":{\"type\":\"string\",\"minLength\":1,"         \
    "\"maxLength\":500}}"
#define POLICY "\"confirm\":{\"type\":\"boolean\"},\"async\":{\"type\":\"boolean\"},"
#define TOOLNAME "{\"type\":\"string\",\"minLength\":1,\"maxLength\":64}"
#define DESCRIPTION "{\"type\":\"string\",\"minLength\":1,\"maxLength\":4000}"
#define TIMEOUT "{\"type\":\"integer\",\"minimum\":100,\"maximum\":300000}"

static const char agent_schema[] =
    "{\"type\":\"object\",\"additionalProperties\":false,\"required\":[\"name\",\"instructions\"],"
    "\"properties\":{"
    "\"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100},"
    "\"instructions\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":32000},"
    "\"greeting\":{\"type\":\"string\",\"maxLength\":2000},"
    "\"brand\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "  \"name\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100},"
    "  \"color\":{\"type\":\"string\",\"pattern\":\"^#[0-9A-Fa-f]{6}$\"}}},"
    "\"business_hours\":{\"type\":\"string\",\"maxLength\":200},"
    "\"knowledge\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "  \"dirs\":{\"type\":\"array\",\"maxItems\":32,"
    "  \"items\":{\"type\":\"string\",\"minLength\":1}}}},"
    "\"tools\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "  \"builtin\":{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"enum\":["
    "    \"create_support_ticket\",\"get_ticket_status\",\"list_my_tickets\",\"lookup_order\","
    "    \"search_knowledge_base\",\"escalate_to_human\",\"get_action_status\"]}},"
    "  \"http\":{\"type\":\"array\",\"maxItems\":128,\"items\":{\"type\":\"object\","
    "    \"additionalProperties\":false,"
    "    \"required\":[\"name\",\"description\",\"input_schema\",\"url\"],\"properties\":{"
    "    \"name\":" TOOLNAME ",\"description\":" DESCRIPTION ","
    "    \"input_schema\":{\"type\":\"object\"},"
    "    \"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048},"
    "    \"method\":{\"enum\":[\"GET\",\"POST\",\"PUT\",\"PATCH\",\"DELETE\"]},"
    "    \"headers\":" STRMAP ",\"timeout_ms\":" TIMEOUT ","
    "    \"retries\":{\"type\":\"integer\",\"minimum\":0,\"maximum\":10}," POLICY
    "    \"examples\":" EXAMPLES "}}},"
    "  \"mcp\":{\"type\":\"array\",\"maxItems\":32,\"items\":{\"type\":\"object\","
    "    \"additionalProperties\":false,\"required\":[\"name\"],\"properties\":{"
    "    \"name\":" TOOLNAME ",\"command\":{\"type\":\"array\",\"minItems\":1,\"items\":" STR "},"
    "    \"env\":" STRMAP ",\"url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048},"
    "    \"headers\":" STRMAP ",\"timeout_ms\":" TIMEOUT "," POLICY
    "    \"optional\":{\"type\":\"boolean\"},"
    "    \"tools\":{\"type\":\"object\",\"additionalProperties\":{\"type\":\"object\","
    "      \"additionalProperties\":false,\"properties\":{" POLICY "\"examples\":" EXAMPLES "}}},"
    "    \"examples\":{\"type\":\"object\",\"additionalProperties\":" EXAMPLES "}}}},"
    "  \"lambda\":{\"type\":\"array\",\"maxItems\":128,\"items\":{\"type\":\"object\","
    "    \"additionalProperties\":false,"
    "    \"required\":[\"name\",\"description\",\"input_schema\",\"function_arn\"],\"properties\":{"
    "    \"name\":" TOOLNAME ",\"description\":" DESCRIPTION ","
    "    \"input_schema\":{\"type\":\"object\"},"
    "    \"function_arn\":{\"type\":\"string\",\"pattern\":\"^arn:aws[a-z-]*:lambda:"
    "[a-z0-9-]+:[0-9]{12}:function:[A-Za-z0-9_-]+(:[A-Za-z0-9_$-]+)?$\"},"
    "    \"timeout_ms\":" TIMEOUT "," POLICY "\"examples\":" EXAMPLES "}}},"
    "  \"openapi\":{\"type\":\"array\",\"maxItems\":32,\"items\":{\"type\":\"object\","
    "    \"additionalProperties\":false,\"required\":[\"spec\"],\"properties\":{"
    "    \"spec\":{\"type\":\"string\",\"minLength\":1},"
    "    \"base_url\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2048},"
    "    \"operations\":{\"type\":\"array\",\"uniqueItems\":true,\"items\":" TOOLNAME "},"
    "    \"headers\":" STRMAP ",\"timeout_ms\":" TIMEOUT "," POLICY
    "    \"examples\":{\"type\":\"object\",\"additionalProperties\":" EXAMPLES "}}}}}},"
    "\"handoff\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "  \"enabled\":{\"type\":\"boolean\"},\"message\":{\"type\":\"string\",\"minLength\":1,"
    "  \"maxLength\":2000}}},"
    "\"limits\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "  \"tool_iterations\":{\"type\":\"integer\",\"minimum\":1,\"maximum\":50},"
    "  \"turn_tokens\":{\"type\":\"integer\",\"minimum\":100,\"maximum\":10000000},"
    "  \"reply_tokens\":{\"type\":\"integer\",\"minimum\":64,\"maximum\":8192}}},"
    "\"guardrails\":{\"type\":\"object\",\"additionalProperties\":false,\"properties\":{"
    "  \"redact\":{\"type\":\"array\",\"uniqueItems\":true,\"items\":{\"enum\":"
    "    [\"email\",\"phone\",\"card\"]}},"
    "  \"denied_topics\":{\"type\":\"array\",\"maxItems\":64,\"items\":{\"type\":\"object\","
    "    \"additionalProperties\":false,\"required\":[\"topic\",\"patterns\",\"reply\"],"
    "    \"properties\":{\"topic\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":100},"
    "    \"patterns\":{\"type\":\"array\",\"minItems\":1,\"maxItems\":64,\"items\":{"
    "      \"type\":\"string\",\"minLength\":1,\"maxLength\":500}},"
    "    \"reply\":{\"type\":\"string\",\"minLength\":1,\"maxLength\":2000}}}}}}"
    "}}";

/* ------------------------------------------------------------------------------------------------
 * Problems: every one is kept, as `PATH: LOCATION: message\n`
 * ---------------------------------------------------------------------------------------------- */

struct probs {
    const char *file; /* the agent file's path, prefix of every line */
    FILE *out;        /* memstream of the report */
    char *buf;        /* its buffer */
    size_t len;       /* its length */
    int count;        /* problems so far */
};

static void prob(struct probs *p, const char *loc, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void prob(struct probs *p, const char *loc, const char *fmt, ...)
{
    p->count++;
    fprintf(p->out, "%s: %s: ", p->file, loc && loc[0] ? loc : "(root)");
    va_list ap;
    va_start(ap, fmt);
    vfprintf(p->out, fmt, ap);
    va_end(ap);
    fputc('\n', p->out);
}

/* Appends "/token" (RFC 6901 escaped) to the pointer in buf; returns the old length. */
static size_t ptr_push(char *buf, size_t cap, const char *token)
{
    size_t old = strlen(buf), at = old;
    if (at + 2 >= cap)
        return old;
    buf[at++] = '/';
    for (const char *t = token; *t && at + 3 < cap; t++) {
        if (*t == '~' || *t == '/') {
            buf[at++] = '~';
            buf[at++] = *t == '~' ? '0' : '1';
        } else {
            buf[at++] = *t;
        }
    }
    buf[at] = '\0';
    return old;
}

/* ------------------------------------------------------------------------------------------------
 * YAML to JSON
 * ---------------------------------------------------------------------------------------------- */

struct yctx {
    yaml_parser_t parser; /* libyaml's event parser */
    json_t *anchors;      /* anchor name -> value */
    int aliases;          /* alias uses so far */
    long nodes;           /* values built so far, aliases expanded */
    struct probs *p;      /* where problems go */
    char ptr[1024];       /* JSON Pointer of the value being built */
};

static long count_nodes(const json_t *v)
{
    long n = 1;
    size_t i;
    const char *k;
    json_t *c;
    if (json_is_array(v))
        json_array_foreach(v, i, c)
            n += count_nodes(c);
    else if (json_is_object(v))
        json_object_foreach((json_t *)v, k, c)
            n += count_nodes(c);
    return n;
}

/* Fetches the next event; on a parser error reports it with its line:column and returns -1. */
static int y_next(struct yctx *y, yaml_event_t *ev)
{
    if (yaml_parser_parse(&y->parser, ev))
        return 0;
    char loc[64];
    snprintf(loc, sizeof loc, "line %zu:%zu", y->parser.problem_mark.line + 1,
             y->parser.problem_mark.column + 1);
    prob(y->p, loc, "%s%s%s", y->parser.problem ? y->parser.problem : "malformed YAML",
         y->parser.context ? " " : "", y->parser.context ? y->parser.context : "");
    return -1;
}

static int all_in(const char *s, size_t from, const char *set)
{
    if (!s[from])
        return 0;
    for (size_t i = from; s[i]; i++)
        if (!strchr(set, s[i]))
            return 0;
    return 1;
}

/* YAML 1.2 core-schema float syntax: [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static int is_core_float(const char *s)
{
    size_t i = (*s == '-' || *s == '+') ? 1 : 0, digits = 0;
    while (isdigit((unsigned char)s[i]))
        i++, digits++;
    if (s[i] == '.') {
        i++;
        while (isdigit((unsigned char)s[i]))
            i++, digits++;
    }
    if (!digits)
        return 0;
    if (s[i] == 'e' || s[i] == 'E') {
        i++;
        if (s[i] == '-' || s[i] == '+')
            i++;
        if (!isdigit((unsigned char)s[i]))
            return 0;
        while (isdigit((unsigned char)s[i]))
            i++;
    }
    return s[i] == '\0';
}

/* Resolves a plain scalar by the YAML 1.2 core schema. Returns a new value, or NULL after
 * reporting a value JSON cannot hold. */
static json_t *y_plain(struct yctx *y, const char *s)
{
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    static const char *const trues[] = {"true", "True", "TRUE"};
    static const char *const falses[] = {"false", "False", "FALSE"};
    for (size_t i = 0; i < 5; i++)
        if (strcmp(s, nulls[i]) == 0)
            return json_null();
    for (size_t i = 0; i < 3; i++) {
        if (strcmp(s, trues[i]) == 0)
            return json_true();
        if (strcmp(s, falses[i]) == 0)
            return json_false();
    }
    size_t sign = (*s == '-' || *s == '+') ? 1 : 0;
    int base = 0;
    const char *digits = NULL;
    if (all_in(s, sign, "0123456789"))
        base = 10, digits = s;
    else if (strncmp(s, "0o", 2) == 0 && all_in(s, 2, "01234567"))
        base = 8, digits = s + 2;
    else if (strncmp(s, "0x", 2) == 0 && all_in(s, 2, "0123456789abcdefABCDEF"))
        base = 16, digits = s + 2;
    if (base) {
        errno = 0;
        long long v = strtoll(digits, NULL, base);
        if (errno == ERANGE) {
            prob(y->p, y->ptr, "integer %s is out of range", s);
            return NULL;
        }
        return json_integer(v);
    }
    if (is_core_float(s))
        return json_real(strtod(s, NULL));
    const char *t = s + sign;
    if ((strcmp(t, ".inf") == 0 || strcmp(t, ".Inf") == 0 || strcmp(t, ".INF") == 0) ||
        (!sign && (strcmp(s, ".nan") == 0 || strcmp(s, ".NaN") == 0 || strcmp(s, ".NAN") == 0))) {
        prob(y->p, y->ptr, "%s cannot be represented in JSON", s);
        return NULL;
    }
    return json_string(s);
}

static json_t *y_scalar(struct yctx *y, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    const char *tag = (const char *)ev->data.scalar.tag;
    if (strlen(s) != ev->data.scalar.length) {
        prob(y->p, y->ptr, "strings may not contain NUL characters");
        return NULL;
    }
    if (tag && strcmp(tag, YAML_STR_TAG) == 0)
        return json_string(s);
    if (tag && strcmp(tag, "!") != 0 && strncmp(tag, "tag:yaml.org,2002:", 18) != 0) {
        prob(y->p, y->ptr, "unsupported tag %s", tag);
        return NULL;
    }
    if (ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE || (tag && strcmp(tag, "!") == 0))
        return json_string(s);
    return y_plain(y, s);
}

static json_t *y_node(struct yctx *y, yaml_event_t *ev, int depth);

/* Builds the rest of a sequence whose start event was consumed. */
static json_t *y_sequence(struct yctx *y, int depth)
{
    json_t *arr = json_array();
    for (size_t i = 0;; i++) {
        yaml_event_t ev;
        if (y_next(y, &ev) < 0)
            goto fail;
        if (ev.type == YAML_SEQUENCE_END_EVENT) {
            yaml_event_delete(&ev);
            return arr;
        }
        char idx[24];
        snprintf(idx, sizeof idx, "%zu", i);
        size_t old = ptr_push(y->ptr, sizeof y->ptr, idx);
        json_t *v = y_node(y, &ev, depth + 1);
        y->ptr[old] = '\0';
        if (!v)
            goto fail;
        json_array_append_new(arr, v);
    }
fail:
    json_decref(arr);
    return NULL;
}

/* Builds the rest of a mapping whose start event was consumed. Keys must be scalars, unique. */
static json_t *y_mapping(struct yctx *y, int depth)
{
    json_t *obj = json_object();
    for (;;) {
        yaml_event_t kev;
        if (y_next(y, &kev) < 0)
            goto fail;
        if (kev.type == YAML_MAPPING_END_EVENT) {
            yaml_event_delete(&kev);
            return obj;
        }
        char where[64];
        snprintf(where, sizeof where, "line %zu:%zu", kev.start_mark.line + 1,
                 kev.start_mark.column + 1);
        if (kev.type != YAML_SCALAR_EVENT ||
            strlen((const char *)kev.data.scalar.value) != kev.data.scalar.length) {
            prob(y->p, y->ptr, "keys must be plain strings (%s)", where);
            yaml_event_delete(&kev);
            goto fail;
        }
        char *key = xstrdup((const char *)kev.data.scalar.value);
        yaml_event_delete(&kev);
        if (json_object_get(obj, key)) {
            prob(y->p, y->ptr, "duplicate key \"%s\" (%s)", key, where);
            free(key);
            goto fail;
        }
        yaml_event_t vev;
        if (y_next(y, &vev) < 0) {
            free(key);
            goto fail;
        }
        size_t old = ptr_push(y->ptr, sizeof y->ptr, key);
        json_t *v = y_node(y, &vev, depth + 1);
        y->ptr[old] = '\0';
        if (!v) {
            free(key);
            goto fail;
        }
        json_object_set_new(obj, key, v);
        free(key);
    }
fail:
    json_decref(obj);
    return NULL;
}

/* Builds the node that starts with ev (consumed). Returns a new value, or NULL after reporting. */
static json_t *y_node(struct yctx *y, yaml_event_t *ev, int depth)
{
    json_t *v = NULL;
    char *anchor = NULL;
    if (depth > AGENT_FILE_MAX_DEPTH) {
        prob(y->p, y->ptr, "nesting is deeper than %d levels", AGENT_FILE_MAX_DEPTH);
        goto out;
    }
    switch (ev->type) {
    case YAML_ALIAS_EVENT: {
        const char *name = (const char *)ev->data.alias.anchor;
        json_t *target = json_object_get(y->anchors, name);
        if (!target) {
            prob(y->p, y->ptr, "alias *%s names no complete anchor before it", name);
            goto out;
        }
        y->nodes += count_nodes(target);
        if (++y->aliases > AGENT_FILE_MAX_ALIASES || y->nodes > AGENT_FILE_MAX_NODES) {
            prob(y->p, y->ptr, "too many aliases (at most %d uses, %d values in all)",
                 AGENT_FILE_MAX_ALIASES, AGENT_FILE_MAX_NODES);
            goto out;
        }
        v = json_deep_copy(target);
        goto out;
    }
    case YAML_SCALAR_EVENT:
        if (ev->data.scalar.anchor)
            anchor = xstrdup((const char *)ev->data.scalar.anchor);
        v = y_scalar(y, ev);
        break;
    case YAML_SEQUENCE_START_EVENT:
        if (ev->data.sequence_start.anchor)
            anchor = xstrdup((const char *)ev->data.sequence_start.anchor);
        v = y_sequence(y, depth);
        break;
    case YAML_MAPPING_START_EVENT:
        if (ev->data.mapping_start.anchor)
            anchor = xstrdup((const char *)ev->data.mapping_start.anchor);
        v = y_mapping(y, depth);
        break;
    default:
        prob(y->p, y->ptr, "unexpected YAML event");
        goto out;
    }
    if (v && ++y->nodes > AGENT_FILE_MAX_NODES) {
        prob(y->p, y->ptr, "more than %d values", AGENT_FILE_MAX_NODES);
        json_decref(v);
        v = NULL;
    }
    if (v && anchor)
        json_object_set(y->anchors, anchor, v);
out:
    free(anchor);
    yaml_event_delete(ev);
    return v;
}

/* Converts one YAML document (exactly one) to JSON. Returns a new value or NULL (reported). */
static json_t *yaml_to_json(const char *buf, size_t len, struct probs *p)
{
    struct yctx y = {.anchors = json_object(), .p = p, .ptr = ""};
    json_t *doc = NULL;
    yaml_event_t ev;
    int started = 0;
    yaml_parser_initialize(&y.parser);
    yaml_parser_set_input_string(&y.parser, (const unsigned char *)buf, len);
    started = 1;
    for (;;) {
        if (y_next(&y, &ev) < 0)
            goto fail;
        yaml_event_type_t t = ev.type;
        if (t == YAML_STREAM_END_EVENT) {
            yaml_event_delete(&ev);
            break;
        }
        if (t == YAML_DOCUMENT_START_EVENT && doc) {
            char loc[64];
            snprintf(loc, sizeof loc, "line %zu:%zu", ev.start_mark.line + 1,
                     ev.start_mark.column + 1);
            yaml_event_delete(&ev);
            prob(p, loc, "an agent file holds one YAML document");
            goto fail;
        }
        if (t == YAML_SCALAR_EVENT || t == YAML_SEQUENCE_START_EVENT ||
            t == YAML_MAPPING_START_EVENT || t == YAML_ALIAS_EVENT) {
            if (!(doc = y_node(&y, &ev, 0)))
                goto fail;
            continue;
        }
        yaml_event_delete(&ev);
    }
    if (!doc)
        prob(p, "", "the file is empty");
    goto out;
fail:
    json_decref(doc);
    doc = NULL;
out:
    if (started)
        yaml_parser_delete(&y.parser);
    json_decref(y.anchors);
    return doc;
}

json_t *agent_file_parse_yaml(const char *name, const char *buf, size_t len, struct err *err)
{
    struct probs p = {.file = name};
    p.out = open_memstream(&p.buf, &p.len);
    json_t *doc = yaml_to_json(buf, len, &p);
    fclose(p.out);
    if (!doc) {
        size_t n = p.len;
        while (n && p.buf[n - 1] == '\n')
            n--; /* the message is one line or several, without a trailing newline */
        err_set(err, "InvalidYaml", "%.*s", (int)n, p.buf);
    }
    free(p.buf);
    return doc;
}

/* ------------------------------------------------------------------------------------------------
 * Reading and parsing
 * ---------------------------------------------------------------------------------------------- */

/* Reads at most AGENT_FILE_MAX_BYTES of path into a new NUL-terminated buffer. */
static char *read_capped(const char *path, size_t *len, struct err *err)
{
    char *buf = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) {
        err_set(err, "NotFound", "cannot open agent file '%s': %s", path, strerror(errno));
        goto out;
    }
    buf = xmalloc(AGENT_FILE_MAX_BYTES + 2);
    *len = fread(buf, 1, AGENT_FILE_MAX_BYTES + 1, f);
    if (ferror(f)) {
        err_set(err, "NotFound", "cannot read agent file '%s'", path);
        free(buf);
        buf = NULL;
    } else if (*len > AGENT_FILE_MAX_BYTES) {
        err_set(err, "TooLarge", "agent file '%s' is larger than %d bytes", path,
                AGENT_FILE_MAX_BYTES);
        free(buf);
        buf = NULL;
    } else {
        buf[*len] = '\0';
    }
    fclose(f);
out:
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Reports values nested deeper than the cap (JSON files; YAML is capped while it is built). */
static int depth_ok(const json_t *v, int depth, char *ptr, size_t cap, struct probs *p)
{
    if (depth > AGENT_FILE_MAX_DEPTH) {
        prob(p, ptr, "nesting is deeper than %d levels", AGENT_FILE_MAX_DEPTH);
        return 0;
    }
    int ok = 1;
    size_t i;
    const char *k;
    json_t *c;
    char idx[24];
    if (json_is_array(v)) {
        json_array_foreach(v, i, c) {
            snprintf(idx, sizeof idx, "%zu", i);
            size_t old = ptr_push(ptr, cap, idx);
            ok = ok && depth_ok(c, depth + 1, ptr, cap, p);
            ptr[old] = '\0';
        }
    } else if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, c) {
            size_t old = ptr_push(ptr, cap, k);
            ok = ok && depth_ok(c, depth + 1, ptr, cap, p);
            ptr[old] = '\0';
        }
    }
    return ok;
}

static json_t *parse_doc(const char *path, const char *buf, size_t len, struct probs *p)
{
    json_t *doc = NULL;
    if (ends_with(path, ".yaml") || ends_with(path, ".yml")) {
        doc = yaml_to_json(buf, len, p);
    } else if (ends_with(path, ".json")) {
        json_error_t je;
        doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
        if (!doc) {
            char loc[64];
            snprintf(loc, sizeof loc, "line %d:%d", je.line, je.column);
            prob(p, loc, "%s", je.text);
        } else {
            char ptr[1024] = "";
            if (!depth_ok(doc, 0, ptr, sizeof ptr, p)) {
                json_decref(doc);
                doc = NULL;
            }
        }
    } else {
        prob(p, "", "unknown extension: an agent file is .json, .yaml or .yml");
    }
    return doc;
}

/* ------------------------------------------------------------------------------------------------
 * Schema problems, rewritten where the schema compiler words them for tool inputs
 * ---------------------------------------------------------------------------------------------- */

/* Adds one violation `PTR: message` of the schema report to the problems. */
static void schema_problem(struct probs *p, const char *v, size_t n)
{
    char *one = xstrndup(v, n);
    char *colon = strstr(one, ": ");
    if (!colon) {
        prob(p, "", "%s", one);
        goto out;
    }
    *colon = '\0';
    const char *loc = strcmp(one, "(root)") == 0 ? "" : one;
    const char *msg = colon + 2;
    if (strncmp(msg, "required property missing", 25) == 0) {
        char *slash = strrchr(one, '/');
        if (slash) {
            *slash = '\0';
            prob(p, one, "missing required key \"%s\"", slash + 1);
            goto out;
        }
    }
    if (strncmp(msg, "unexpected property", 19) == 0) {
        char *slash = strrchr(one, '/');
        if (slash) {
            *slash = '\0';
            prob(p, one, "unknown key \"%s\"%s", slash + 1, msg + 19);
            goto out;
        }
    }
    prob(p, loc, "%s", msg);
out:
    free(one);
}

static void check_schema(const json_t *doc, struct probs *p)
{
    json_error_t je;
    json_t *sj = json_loads(agent_schema, 0, &je);
    struct err e;
    struct schema *s = sj ? schema_compile(sj, &e) : NULL;
    char *report = NULL;
    if (!s) {
        prob(p, "", "internal error: the agent file schema does not compile");
        goto out;
    }
    if (schema_check(s, doc, &report) == 0)
        goto out;
    /* Violations are joined by "; " and each starts with a pointer or "(root)". */
    const char *at = report;
    while (*at) {
        const char *next = at;
        const char *end = NULL;
        while ((next = strstr(next, "; "))) {
            if (next[2] == '/' || strncmp(next + 2, "(root)", 6) == 0 ||
                strncmp(next + 2, "and ", 4) == 0) {
                end = next;
                break;
            }
            next += 2;
        }
        size_t n = end ? (size_t)(end - at) : strlen(at);
        schema_problem(p, at, n);
        at += n;
        if (*at)
            at += 2;
    }
out:
    free(report);
    schema_free(s);
    json_decref(sj);
}

/* ------------------------------------------------------------------------------------------------
 * Semantic checks and resolution
 * ---------------------------------------------------------------------------------------------- */

struct load {
    struct probs *p; /* problems */
    json_t *doc;     /* the document being resolved */
    json_t *shown;   /* its masked twin */
    const char *dir; /* the agent file's directory */
    json_t *names;   /* tool name -> location, across kinds */
};

/* Expands ${VAR} in the string dpar[key] (reported at loc), and writes the masked twin into
 * spar[key]: there each expansion becomes "***" when secret. `$${` stays a literal `${`. */
static void expand(struct load *L, json_t *dpar, json_t *spar, const char *key, const char *loc,
                   int secret)
{
    json_t *sv = json_object_get(dpar, key);
    if (!json_is_string(sv))
        return;
    const char *s = json_string_value(sv);
    char *full = NULL, *masked = NULL;
    size_t flen = 0, mlen = 0;
    FILE *fo = open_memstream(&full, &flen), *mo = open_memstream(&masked, &mlen);
    for (size_t i = 0; s[i];) {
        if (s[i] == '$' && s[i + 1] == '$' && s[i + 2] == '{') {
            fputs("${", fo), fputs("${", mo);
            i += 3;
            continue;
        }
        if (s[i] != '$' || s[i + 1] != '{') {
            fputc(s[i], fo), fputc(s[i], mo);
            i++;
            continue;
        }
        size_t j = i + 2;
        while (isalnum((unsigned char)s[j]) || s[j] == '_')
            j++;
        if (s[j] != '}' || j == i + 2 || isdigit((unsigned char)s[i + 2])) {
            prob(L->p, loc, "malformed ${...} reference (a name is [A-Za-z_][A-Za-z0-9_]*)");
            fputs("${", fo), fputs("${", mo);
            i += 2;
            continue;
        }
        char *name = xstrndup(s + i + 2, j - i - 2);
        const char *val = getenv(name);
        if (!val)
            prob(L->p, loc, "environment variable \"%s\" is not set", name);
        fputs(val ? val : "", fo);
        fputs(secret ? "***" : (val ? val : ""), mo);
        free(name);
        i = j + 1;
    }
    fclose(fo);
    fclose(mo);
    json_object_set_new(dpar, key, json_string(full));
    json_object_set_new(spar, key, json_string(masked));
    free(full);
    free(masked);
}

/* Replaces the userinfo of the url at loc in the masked twin with "***". */
static void mask_userinfo(json_t *shown_parent, const char *key)
{
    const char *u = json_string_value(json_object_get(shown_parent, key));
    const char *scheme = u ? strstr(u, "://") : NULL;
    if (!scheme)
        return;
    const char *auth = scheme + 3;
    size_t alen = strcspn(auth, "/?#");
    const char *at = memchr(auth, '@', alen);
    if (!at)
        return;
    const char *last_at = at;
    while ((at = memchr(last_at + 1, '@', alen - (size_t)(last_at + 1 - auth))))
        last_at = at;
    char *m = xasprintf("%.*s***%s", (int)(auth - u), u, last_at);
    json_object_set_new(shown_parent, key, json_string(m));
    free(m);
}

/* Returns NULL when u is an absolute http(s) URL with a host, else why not. */
static const char *url_problem(const char *u)
{
    for (const char *c = u; *c; c++)
        if ((unsigned char)*c <= ' ' || *c == 0x7f)
            return "must not contain spaces or control characters";
    const char *auth;
    if (strncmp(u, "https://", 8) == 0)
        auth = u + 8;
    else if (strncmp(u, "http://", 7) == 0)
        auth = u + 7;
    else
        return "must be an http:// or https:// URL";
    size_t alen = strcspn(auth, "/?#");
    const char *host = auth;
    for (const char *a = auth; a < auth + alen; a++)
        if (*a == '@')
            host = a + 1;
    size_t hlen = (size_t)(auth + alen - host);
    if (hlen && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        if (!close)
            return "has an unterminated [IPv6] host";
        hlen = (size_t)(close + 1 - host) + strspn(close + 1, ":0123456789");
        if (host + hlen != auth + alen)
            return "has a malformed host";
        return NULL;
    }
    const char *colon = memchr(host, ':', hlen);
    size_t name_len = colon ? (size_t)(colon - host) : hlen;
    if (!name_len)
        return "has no host";
    for (size_t i = 0; i < name_len; i++)
        if (!isalnum((unsigned char)host[i]) && host[i] != '-' && host[i] != '.' && host[i] != '_')
            return "has a malformed host";
    if (colon) {
        size_t plen = hlen - name_len - 1;
        long port = 0;
        if (!plen || plen > 5)
            return "has a malformed port";
        for (size_t i = 1; i <= plen; i++) {
            if (!isdigit((unsigned char)colon[i]))
                return "has a malformed port";
            port = port * 10 + (colon[i] - '0');
        }
        if (port < 1 || port > 65535)
            return "has a port outside 1..65535";
    }
    return NULL;
}

static int name_ok(const char *n)
{
    size_t len = strlen(n);
    if (len < 1 || len > 64)
        return 0;
    for (size_t i = 0; i < len; i++)
        if (!isalnum((unsigned char)n[i]) && n[i] != '_' && n[i] != '-')
            return 0;
    return 1;
}

/* Registers a tool name at loc: it must be well formed and unique across kinds. */
static void claim_name(struct load *L, const char *name, const char *loc)
{
    if (!name_ok(name)) {
        prob(L->p, loc, "tool name \"%s\" must match [A-Za-z0-9_-]{1,64}", name);
        return;
    }
    json_t *before = json_object_get(L->names, name);
    if (before)
        prob(L->p, loc, "tool name \"%s\" is already used at %s", name, json_string_value(before));
    else
        json_object_set_new(L->names, name, json_string(loc));
}

/* Checks that every {field} in the url's path is a property of input_schema. ${VAR} is skipped. */
static void check_placeholders(struct load *L, const char *url, const json_t *schema,
                               const char *loc)
{
    const json_t *props = json_object_get(schema, "properties");
    for (const char *c = url; *c; c++) {
        if (*c == '}') {
            prob(L->p, loc, "unmatched '}' in the url");
            continue;
        }
        if (*c != '{')
            continue;
        int is_env = c > url && c[-1] == '$';
        const char *close = strchr(c, '}');
        if (!close) {
            prob(L->p, loc, "unterminated '{' in the url");
            return;
        }
        char *field = xstrndup(c + 1, (size_t)(close - c - 1));
        if (!is_env && !json_object_get(props, field))
            prob(L->p, loc, "url placeholder {%s} is not a property of input_schema", field);
        free(field);
        c = close;
    }
}

/* Compiles a tool's input_schema; it must describe an object (what models accept). */
static void check_input_schema(struct load *L, const json_t *schema, const char *loc)
{
    if (!json_is_object(schema))
        return;
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!type || strcmp(type, "object") != 0)
        prob(L->p, loc, "input_schema must have \"type\": \"object\"");
    struct err e;
    struct schema *s = schema_compile(schema, &e);
    if (!s)
        prob(L->p, loc, "%s", e.message);
    schema_free(s);
}

/* Resolves a path relative to the agent file's directory, in both documents. */
static char *resolve_path(struct load *L, json_t *dpar, json_t *spar, const char *key, size_t idx)
{
    json_t *v = key ? json_object_get(dpar, key) : json_array_get(dpar, idx);
    const char *rel = json_string_value(v);
    if (!rel)
        return NULL;
    char *abs = rel[0] == '/' ? xstrdup(rel) : xasprintf("%s/%s", L->dir, rel);
    if (key) {
        json_object_set_new(dpar, key, json_string(abs));
        json_object_set_new(spar, key, json_string(abs));
    } else {
        json_array_set_new(dpar, idx, json_string(abs));
        json_array_set_new(spar, idx, json_string(abs));
    }
    return abs;
}

static void check_templates(struct load *L, const char *text, const char *loc)
{
    for (const char *c = strstr(text, "{{"); c; c = strstr(c, "{{")) {
        const char *close = strstr(c + 2, "}}");
        if (!close) {
            prob(L->p, loc, "unterminated {{ template");
            return;
        }
        size_t n = (size_t)(close - c - 2);
        int known = 0;
        for (size_t i = 0; i < NTEMPLATES; i++)
            if (strlen(template_names[i]) == n && strncmp(c + 2, template_names[i], n) == 0)
                known = 1;
        if (!known)
            prob(L->p, loc,
                 "unknown template {{%.*s}} (known: today, weekday, now, "
                 "business_hours, agent_name)",
                 (int)n, c + 2);
        c = close + 2;
    }
}

/* The keys of each kind whose strings get ${VAR} expansion: url-like ones and maps of secrets. */
static void resolve_tools(struct load *L)
{
    json_t *tools = json_object_get(L->doc, "tools");
    json_t *stools = json_object_get(L->shown, "tools");
    if (!json_is_object(tools))
        return;
    json_t *builtin = json_object_get(tools, "builtin");
    size_t i, j;
    json_t *t;
    char loc[256];
    if (json_is_array(builtin)) {
        json_array_foreach(builtin, i, t) {
            snprintf(loc, sizeof loc, "/tools/builtin/%zu", i);
            if (json_is_string(t))
                claim_name(L, json_string_value(t), loc);
        }
    } else {
        for (i = 0; i < NBUILTIN; i++)
            claim_name(L, builtin_names[i], "/tools/builtin (default: all)");
    }
    static const char *const kinds[] = {"http", "lambda", "mcp", "openapi"};
    for (size_t k = 0; k < 4; k++) {
        json_t *list = json_object_get(tools, kinds[k]);
        json_t *slist = json_object_get(stools, kinds[k]);
        if (!json_is_array(list))
            continue;
        json_array_foreach(list, i, t) {
            if (!json_is_object(t))
                continue;
            json_t *st = json_array_get(slist, i);
            char base[128];
            snprintf(base, sizeof base, "/tools/%s/%zu", kinds[k], i);
            const char *name = json_string_value(json_object_get(t, "name"));
            if (name && k != 2) {
                snprintf(loc, sizeof loc, "%s/name", base);
                claim_name(L, name, loc);
            }
            if (json_is_object(json_object_get(t, "input_schema"))) {
                snprintf(loc, sizeof loc, "%s/input_schema", base);
                check_input_schema(L, json_object_get(t, "input_schema"), loc);
            }
            const char *urlkey = k == 3 ? "base_url" : "url";
            const char *raw = json_string_value(json_object_get(t, urlkey));
            if (raw) {
                snprintf(loc, sizeof loc, "%s/%s", base, urlkey);
                if (k == 0)
                    check_placeholders(L, raw, json_object_get(t, "input_schema"), loc);
                int before = L->p->count;
                expand(L, t, st, urlkey, loc, 1);
                const char *u = json_string_value(json_object_get(t, urlkey));
                const char *why = L->p->count == before && u ? url_problem(u) : NULL;
                if (why)
                    prob(L->p, loc, "url %s", why);
                mask_userinfo(st, urlkey);
            }
            static const char *const maps[] = {"headers", "env"};
            for (size_t m = 0; m < 2; m++) {
                const char *hk;
                json_t *hv;
                json_t *dmap = json_object_get(t, maps[m]);
                json_t *smap = json_object_get(st, maps[m]);
                json_object_foreach(dmap, hk, hv) {
                    snprintf(loc, sizeof loc, "%s/%s", base, maps[m]);
                    ptr_push(loc, sizeof loc, hk);
                    expand(L, dmap, smap, hk, loc, 1);
                }
            }
            if (k == 2) { /* mcp: a server is reached one way */
                snprintf(loc, sizeof loc, "%s/name", base);
                if (name && !name_ok(name))
                    prob(L->p, loc, "server name \"%s\" must match [A-Za-z0-9_-]{1,64}", name);
                for (j = 0; name && j < i; j++)
                    if (json_equal(json_object_get(json_array_get(list, j), "name"),
                                   json_object_get(t, "name")))
                        prob(L->p, loc, "server name \"%s\" is already used at /tools/mcp/%zu",
                             name, j);
                json_t *cmd = json_object_get(t, "command"), *arg;
                json_array_foreach(cmd, j, arg) { /* ./x and ../x: next to the agent file */
                    const char *a = json_string_value(arg);
                    if (a && (strncmp(a, "./", 2) == 0 || strncmp(a, "../", 3) == 0))
                        free(resolve_path(L, cmd, json_object_get(st, "command"), NULL, j));
                }
                int has_cmd = json_object_get(t, "command") != NULL;
                int has_url = json_object_get(t, "url") != NULL;
                if (has_cmd == has_url)
                    prob(L->p, base,
                         "an MCP server needs exactly one of \"command\" (stdio) or "
                         "\"url\" (Streamable HTTP)");
            }
            if (k == 3) { /* openapi: operations become tools; the spec is a file */
                json_t *op;
                json_array_foreach(json_object_get(t, "operations"), j, op) {
                    snprintf(loc, sizeof loc, "%s/operations/%zu", base, j);
                    if (json_is_string(op))
                        claim_name(L, json_string_value(op), loc);
                }
                char *spec = resolve_path(L, t, st, "spec", 0);
                snprintf(loc, sizeof loc, "%s/spec", base);
                if (spec && access(spec, R_OK) != 0)
                    prob(L->p, loc, "cannot read OpenAPI spec '%s'", spec);
                free(spec);
            }
        }
    }
}

static void resolve_doc(struct load *L)
{
    if (!json_is_object(L->doc))
        return;
    const char *instr = json_string_value(json_object_get(L->doc, "instructions"));
    if (instr) {
        check_templates(L, instr, "/instructions");
        expand(L, L->doc, L->shown, "instructions", "/instructions", 0);
    }
    json_t *dirs = json_object_get(json_object_get(L->doc, "knowledge"), "dirs");
    json_t *sdirs = json_object_get(json_object_get(L->shown, "knowledge"), "dirs");
    size_t i;
    json_t *d;
    json_array_foreach(dirs, i, d) {
        char *abs = resolve_path(L, dirs, sdirs, NULL, i);
        struct stat st;
        if (abs && (stat(abs, &st) != 0 || !S_ISDIR(st.st_mode))) {
            char loc[64];
            snprintf(loc, sizeof loc, "/knowledge/dirs/%zu", i);
            prob(L->p, loc, "'%s' is not a directory", abs);
        }
        free(abs);
    }
    resolve_tools(L);
}

/* Compiles guardrails.denied_topics patterns and reads guardrails.redact into f. */
static void compile_guardrails(struct agent_file *f, struct probs *p)
{
    json_t *g = json_object_get(f->doc, "guardrails");
    json_t *topics = json_object_get(g, "denied_topics");
    size_t i, j;
    json_t *t, *pat;
    f->topics = xcalloc(json_array_size(topics) + 1, sizeof *f->topics);
    json_array_foreach(topics, i, t) {
        json_t *pats = json_object_get(t, "patterns");
        struct topic *tp = &f->topics[f->ntopics++];
        tp->reply = json_string_value(json_object_get(t, "reply"));
        tp->re = xcalloc(json_array_size(pats) + 1, sizeof *tp->re);
        json_array_foreach(pats, j, pat) {
            if (!json_is_string(pat))
                continue;
            char why[128] = "";
            tp->re[tp->nre] = text_re_new(json_string_value(pat),
                                          REG_EXTENDED | REG_ICASE | REG_NOSUB, why, sizeof why);
            if (!tp->re[tp->nre]) {
                char loc[96];
                snprintf(loc, sizeof loc, "/guardrails/denied_topics/%zu/patterns/%zu", i, j);
                prob(p, loc, "pattern does not compile: %s", why);
                continue;
            }
            tp->nre++;
        }
    }
    json_t *redact = json_object_get(g, "redact");
    if (json_is_array(redact)) {
        static const struct {
            const char *name;
            unsigned kind;
        } kinds[] = {{"email", GUARD_EMAIL}, {"phone", GUARD_PHONE}, {"card", GUARD_CARD}};
        f->has_redact = 1;
        json_array_foreach(redact, i, t)
            for (j = 0; j < 3; j++)
                if (json_is_string(t) && strcmp(json_string_value(t), kinds[j].name) == 0)
                    f->redact |= kinds[j].kind;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Public API
 * ---------------------------------------------------------------------------------------------- */

struct agent_file *agent_file_load_report(const char *path, char **problems, struct err *err)
{
    struct agent_file *f = NULL;
    char *owned_path = path ? xstrdup(path) : asset_path(AGENT_FILE_DEFAULT);
    struct probs p = {.file = owned_path};
    p.out = open_memstream(&p.buf, &p.len);
    size_t len = 0;
    char *buf = NULL, *dir = NULL;
    struct load L = {.p = &p};
    if (problems)
        *problems = NULL;
    if (!(buf = read_capped(owned_path, &len, err))) {
        prob(&p, "", "%s", err->message);
        fclose(p.out);
        p.out = NULL;
        goto out;
    }
    f = xcalloc(1, sizeof *f);
    f->path = owned_path;
    owned_path = NULL;
    if (!(f->doc = parse_doc(f->path, buf, len, &p)))
        goto invalid;
    check_schema(f->doc, &p);
    const char *slash = strrchr(f->path, '/');
    dir = slash ? xstrndup(f->path, (size_t)(slash - f->path)) : xstrdup(".");
    if (slash == f->path) {
        free(dir);
        dir = xstrdup("/");
    }
    f->shown = json_deep_copy(f->doc);
    L = (struct load){
        .p = &p, .doc = f->doc, .shown = f->shown, .dir = dir, .names = json_object()};
    resolve_doc(&L);
    json_decref(L.names);
    compile_guardrails(f, &p);
    if (p.count == 0)
        goto out;
invalid:
    err_set(err, "InvalidAgentFile", "agent file '%s' is invalid", f->path);
    agent_file_free(f);
    f = NULL;
out:
    if (p.out)
        fclose(p.out);
    if (!f && p.count) {
        if (strcmp(err->code, "InvalidAgentFile") == 0)
            err_set(err, "InvalidAgentFile", "%s", p.buf);
        if (problems) {
            *problems = p.buf;
            p.buf = NULL;
        }
    }
    free(p.buf);
    free(buf);
    free(dir);
    free(owned_path);
    return f;
}

struct agent_file *agent_file_load(const char *path, struct err *err)
{
    return agent_file_load_report(path, NULL, err);
}

static struct agent_file *default_file;
static pthread_once_t default_once = PTHREAD_ONCE_INIT;

static void load_default(void)
{
    struct err e;
    err_clear(&e);
    default_file = agent_file_load(NULL, &e);
    if (!default_file)
        log_at(LL_ERROR, "agent_file", "cannot load the shipped demo agent: %s", e.message);
}

const struct agent_file *agent_file_default(void)
{
    pthread_once(&default_once, load_default);
    return default_file;
}

void agent_file_free(struct agent_file *f)
{
    if (!f)
        return;
    for (size_t i = 0; i < f->ntopics; i++) {
        for (size_t j = 0; j < f->topics[i].nre; j++)
            text_re_free(f->topics[i].re[j]);
        free(f->topics[i].re);
    }
    free(f->topics);
    json_decref(f->doc);
    json_decref(f->shown);
    free(f->path);
    free(f);
}

const json_t *agent_file_doc(const struct agent_file *f)
{
    return f->doc;
}

const char *agent_file_path(const struct agent_file *f)
{
    return f->path;
}

char *agent_file_render_instructions(const struct agent_file *f, long long now_ms)
{
    static const char *const days[] = {"Sunday",   "Monday", "Tuesday", "Wednesday",
                                       "Thursday", "Friday", "Saturday"};
    const char *text = json_string_value(json_object_get(f->doc, "instructions"));
    const char *hours = json_string_value(json_object_get(f->doc, "business_hours"));
    const char *name = json_string_value(json_object_get(f->doc, "name"));
    time_t secs = (time_t)(now_ms / 1000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    char today[32], now[32];
    strftime(today, sizeof today, "%Y-%m-%d", &tm);
    strftime(now, sizeof now, "%H:%M UTC", &tm);
    const char *values[NTEMPLATES] = {today, days[tm.tm_wday % 7], now,
                                      hours ? hours : "not published", name ? name : ""};
    /* Plain runs are copied whole (a character at a time through a memory stream was 3% of a
     * new-session turn's CPU); the instructions are capped by the schema, so no cap is met. */
    struct buf out;
    buf_init(&out, SIZE_MAX);
    const char *c = text ? text : "";
    for (const char *open; (open = strstr(c, "{{"));) {
        size_t k = 0, n = 0;
        for (; k < NTEMPLATES; k++) {
            n = strlen(template_names[k]);
            if (strncmp(open + 2, template_names[k], n) == 0 && strncmp(open + 2 + n, "}}", 2) == 0)
                break;
        }
        buf_add(&out, c, (size_t)(open - c) + (k < NTEMPLATES ? 0 : 1));
        if (k < NTEMPLATES)
            buf_add_str(&out, values[k]);
        c = k < NTEMPLATES ? open + n + 4 : open + 1;
    }
    buf_add_str(&out, c);
    return buf_take(&out, NULL);
}

long long agent_file_limit(const struct agent_file *f, const char *key, long long def)
{
    json_t *v = f ? json_object_get(json_object_get(f->doc, "limits"), key) : NULL;
    return json_is_integer(v) ? (long long)json_integer_value(v) : def;
}

const char *agent_file_denied_reply(const struct agent_file *f, const char *text)
{
    for (size_t i = 0; f && text && i < f->ntopics; i++)
        for (size_t j = 0; j < f->topics[i].nre; j++)
            if (text_re_exec(f->topics[i].re[j], text, 0, NULL, 0) == 0)
                return f->topics[i].reply;
    return NULL;
}

int agent_file_redact(const struct agent_file *f, unsigned *kinds)
{
    if (!f || !f->has_redact)
        return 0;
    *kinds = f->redact;
    return 1;
}

/* Appends {kind, name, description, input_schema} entries of one custom kind. */
static void show_kind(json_t *out, const json_t *list, const char *kind)
{
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t) {
        json_t *e = json_pack("{s:s}", "kind", kind);
        const char *keys[] = {"name", "description", "input_schema", "url",     "command",
                              "spec", "operations",  "function_arn", "confirm", "async"};
        for (size_t k = 0; k < sizeof keys / sizeof keys[0]; k++)
            if (json_object_get(t, keys[k]))
                json_object_set(e, keys[k], json_object_get(t, keys[k]));
        json_array_append_new(out, e);
    }
}

json_t *agent_file_show(const struct agent_file *f, const json_t *builtin_specs)
{
    json_t *tools = json_array();
    json_t *section = json_object_get(f->shown, "tools");
    json_t *only = json_object_get(section, "builtin");
    size_t i, j;
    json_t *spec, *n;
    json_array_foreach(builtin_specs, i, spec) {
        int on = !json_is_array(only);
        json_array_foreach(only, j, n)
            on = on || json_equal(n, json_object_get(spec, "name"));
        if (!on)
            continue;
        json_t *e = json_deep_copy(spec);
        json_object_set_new(e, "kind", json_string("builtin"));
        json_array_append_new(tools, e);
    }
    show_kind(tools, json_object_get(section, "http"), "http");
    show_kind(tools, json_object_get(section, "lambda"), "lambda");
    show_kind(tools, json_object_get(section, "mcp"), "mcp");
    show_kind(tools, json_object_get(section, "openapi"), "openapi");
    return json_pack("{s:s, s:O, s:o}", "file", f->path, "agent", f->shown, "tools", tools);
}
