/*
 * offline_custom.c - custom tools for the offline model: retraining the intent classifier with the
 * tools' examples and filling their slots from input_schema; see offline_custom.h.
 */
#include "model/offline_custom.h"

#include <ctype.h>
#include <regex.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"
#include "model/offline_slots.h"

/* The additive smoothing of the shipped model (tools/intents/train.c). */
#define CUSTOM_ALPHA 0.1
#define MAX_NAME 64
#define MAX_EXAMPLE 1024 /* bytes of one utterance, as for the built-in data */
#define MAX_PATTERN 256
#define MAX_PLAIN 500
#define MAX_FIELDS 12
#define MAX_FIELD_TEXT 200
#define MAX_LISTED 12 /* enum values named in a question */

/* Tools of the built-in demo store; a custom tool may not take their names. */
static const char *const builtin_tools[] = {
    "create_support_ticket", "get_ticket_status", "list_my_tickets",   "lookup_order",
    "search_knowledge_base", "escalate_to_human", "get_action_status", NULL,
};

enum kind { K_ENUM, K_INTEGER, K_NUMBER, K_EMAIL, K_DATE, K_PATTERN, K_STRING };

struct slot {
    const char *name;     /* property name (points into the tool's schema copy) */
    const json_t *schema; /* the property's schema (borrowed from the copy) */
    enum kind kind;
    regex_t re; /* compiled pattern when kind is K_PATTERN */
};

struct tool {
    char *name;     /* owned */
    json_t *schema; /* owned deep copy of input_schema */
    size_t n_slots;
    struct slot slots[OFFLINE_CUSTOM_MAX_REQUIRED]; /* required properties in "required" order */
};

struct offline_custom {
    atomic_int refs;
    struct offline_nb *nb; /* retrained classifier, owned */
    size_t n_tools;
    struct tool *tools; /* [n_tools] */
};

/* ------------------------------------------------------------------------------------------------
 * Building
 * --------------------------------------------------------------------------------------------- */

static int valid_name(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > MAX_NAME)
        return 0;
    for (; *s; s++)
        if (!isalnum((unsigned char)*s) && *s != '_' && *s != '-')
            return 0;
    return 1;
}

static int taken_name(const char *s)
{
    for (int i = 0; builtin_tools[i]; i++)
        if (strcmp(builtin_tools[i], s) == 0)
            return 1;
    /* "unknown" is what the classifier says when it is not sure */
    return strcmp(s, "unknown") == 0 || offline_nb_class_index(&offline_intents_model, s) >= 0;
}

/* Translates a JSON Schema (ECMA-262) pattern into POSIX ERE for searching inside a message:
 * leading ^ and trailing $ are dropped, \d \w \s become classes (inside brackets too), "(?:"
 * becomes "(". Returns 0, or -1 when the pattern uses escapes or groups that have no ERE
 * spelling. */
static int pattern_to_ere(const char *p, char *out, size_t cap)
{
    size_t o = 0;
    size_t len = strlen(p);
    int in_set = 0;
    if (len > 0 && p[0] == '^') {
        p++;
        len--;
    }
    if (len > 0 && p[len - 1] == '$' && (len < 2 || p[len - 2] != '\\'))
        len--;
    for (size_t i = 0; i < len; i++) {
        const char *add = NULL;
        char one[3] = {p[i], 0, 0};
        if (p[i] == '\\' && i + 1 < len) {
            char e = p[++i];
            if (e == 'd')
                add = in_set ? "0-9" : "[0-9]";
            else if (e == 'w')
                add = in_set ? "A-Za-z0-9_" : "[A-Za-z0-9_]";
            else if (e == 's')
                add = in_set ? "[:space:]" : "[[:space:]]";
            else if (isalnum((unsigned char)e))
                return -1;
            else if (in_set)
                one[0] = e; /* no escapes inside an ERE bracket expression */
            else {
                one[0] = '\\';
                one[1] = e;
            }
        } else if (!in_set && p[i] == '(' && i + 2 < len && p[i + 1] == '?') {
            if (p[i + 2] != ':')
                return -1; /* look-arounds and named groups */
            i += 2;
        } else if (p[i] == '[' && !in_set) {
            in_set = 1;
        } else if (p[i] == ']' && in_set) {
            in_set = 0;
        }
        if (!add)
            add = one;
        size_t n = strlen(add);
        if (o + n + 1 > cap)
            return -1;
        memcpy(out + o, add, n);
        o += n;
    }
    out[o] = '\0';
    return 0;
}

static int slot_init(struct slot *s, const char *tool, const char *name, const json_t *schema,
                     struct err *err)
{
    const char *type = json_string_value(json_object_get(schema, "type"));
    const char *format = json_string_value(json_object_get(schema, "format"));
    const char *pattern = json_string_value(json_object_get(schema, "pattern"));
    const json_t *values = json_object_get(schema, "enum");
    s->name = name;
    s->schema = schema;
    if (json_is_array(values) && json_array_size(values) > 0) {
        size_t i;
        const json_t *v;
        json_array_foreach(values, i, v)
            if (!json_is_string(v))
                return err_set(err, "ToolExamplesInvalid",
                               "tool '%s': the enum of property '%s' must hold strings", tool,
                               name);
        s->kind = K_ENUM;
    } else if (type && strcmp(type, "integer") == 0) {
        s->kind = K_INTEGER;
    } else if (type && strcmp(type, "number") == 0) {
        s->kind = K_NUMBER;
    } else if (!type || strcmp(type, "string") == 0) {
        s->kind = K_STRING;
        if (format && strcmp(format, "email") == 0) {
            s->kind = K_EMAIL;
        } else if (format && strcmp(format, "date") == 0) {
            s->kind = K_DATE;
        } else if (pattern) {
            /* a pattern the model cannot read leaves a plain string (see the header) */
            char ere[MAX_PATTERN * 4];
            if (strlen(pattern) <= MAX_PATTERN && pattern_to_ere(pattern, ere, sizeof ere) == 0 &&
                regcomp(&s->re, ere, REG_EXTENDED) == 0)
                s->kind = K_PATTERN;
        }
    } else {
        return err_set(err, "ToolExamplesInvalid",
                       "tool '%s': required property '%s' has type %s, which the offline model "
                       "cannot fill",
                       tool, name, type);
    }
    return 0;
}

static void tool_release(struct tool *t)
{
    for (size_t k = 0; k < t->n_slots; k++)
        if (t->slots[k].kind == K_PATTERN)
            regfree(&t->slots[k].re);
    free(t->name);
    json_decref(t->schema);
}

static int tool_init(struct tool *t, const json_t *entry, struct err *err)
{
    const char *name = json_string_value(json_object_get(entry, "name"));
    const json_t *schema = json_object_get(entry, "input_schema");
    t->name = xstrdup(name);
    t->schema = json_is_object(schema) ? json_deep_copy(schema) : json_object();
    const json_t *props = json_object_get(t->schema, "properties");
    const json_t *req = json_object_get(t->schema, "required");
    size_t i;
    const json_t *r;
    json_array_foreach(req, i, r) {
        const char *pname = json_string_value(r);
        const json_t *ps = json_object_get(props, pname ? pname : "");
        if (!pname || !json_is_object(ps))
            return err_set(err, "ToolExamplesInvalid",
                           "tool '%s': required property %zu is not described in properties", name,
                           i);
        if (t->n_slots >= OFFLINE_CUSTOM_MAX_REQUIRED)
            return err_set(err, "ToolExamplesInvalid",
                           "tool '%s' has more than %d required "
                           "properties",
                           name, OFFLINE_CUSTOM_MAX_REQUIRED);
        /* the key string lives in the copied schema */
        const char *key = NULL;
        const json_t *v;
        json_object_foreach((json_t *)props, key, v)
            if (strcmp(key, pname) == 0)
                break;
        struct slot *s = &t->slots[t->n_slots];
        if (slot_init(s, name, key, ps, err) != 0)
            return -1;
        t->n_slots++;
    }
    return 0;
}

/* Checks one entry's shape. Returns 1 when it carries examples, 0 when it has none, -1 on error. */
static int entry_check(const json_t *entry, size_t i, struct err *err)
{
    const char *name = json_string_value(json_object_get(entry, "name"));
    const json_t *ex = json_object_get(entry, "examples");
    if (!json_is_object(entry) || !name || !valid_name(name))
        return err_set(err, "ToolExamplesInvalid",
                       "tool example %zu: \"name\" must match [A-Za-z0-9_-]{1,64}", i);
    if (ex && !json_is_array(ex))
        return err_set(err, "ToolExamplesInvalid", "tool '%s': \"examples\" must be an array",
                       name);
    if (json_array_size(ex) == 0)
        return 0;
    if (json_array_size(ex) > OFFLINE_CUSTOM_MAX_EXAMPLES)
        return err_set(err, "ToolExamplesInvalid", "tool '%s' has more than %d examples", name,
                       OFFLINE_CUSTOM_MAX_EXAMPLES);
    if (taken_name(name))
        return err_set(err, "ToolExamplesInvalid",
                       "tool '%s' has the name of a built-in intent or tool", name);
    return 1;
}

int offline_custom_data(const json_t *tool_examples, struct offline_nb_data *d, struct err *err)
{
    int rc = -1;
    size_t n_tools = 0;
    memset(d, 0, sizeof *d);
    for (size_t i = 0; i < offline_intents_examples_count; i++)
        if (offline_nb_data_add(d, offline_intents_examples[i].label,
                                offline_intents_examples[i].text, err) != 0)
            goto out;
    if (tool_examples && !json_is_array(tool_examples)) {
        err_set(err, "ToolExamplesInvalid", "tool examples must be an array");
        goto out;
    }
    size_t i;
    const json_t *entry;
    json_array_foreach(tool_examples, i, entry) {
        int has = entry_check(entry, i, err);
        if (has < 0)
            goto out;
        if (has == 0)
            continue;
        const char *name = json_string_value(json_object_get(entry, "name"));
        for (size_t k = 0; k < i; k++)
            if (strcmp(json_string_value(json_object_get(json_array_get(tool_examples, k), "name")),
                       name) == 0) {
                err_set(err, "ToolExamplesInvalid", "tool '%s' appears twice", name);
                goto out;
            }
        if (++n_tools > OFFLINE_CUSTOM_MAX_TOOLS) {
            err_set(err, "ToolExamplesInvalid", "more than %d tools with examples",
                    OFFLINE_CUSTOM_MAX_TOOLS);
            goto out;
        }
        size_t k;
        const json_t *ex;
        json_array_foreach(json_object_get(entry, "examples"), k, ex) {
            const char *text = json_string_value(ex);
            if (!text || !text[0] || strlen(text) > MAX_EXAMPLE) {
                err_set(err, "ToolExamplesInvalid",
                        "tool '%s': example %zu is not a string of "
                        "1 to %d bytes",
                        name, k, MAX_EXAMPLE);
                goto out;
            }
            if (offline_nb_data_add(d, name, text, err) != 0)
                goto out;
        }
    }
    rc = 0;
out:
    if (rc != 0)
        offline_nb_data_release(d);
    return rc;
}

struct offline_custom *offline_custom_new(const json_t *tool_examples, struct err *err)
{
    struct offline_custom *cu = NULL;
    struct offline_nb_data d = {0};
    if (offline_custom_data(tool_examples, &d, err) != 0)
        goto out;
    cu = xcalloc(1, sizeof *cu);
    atomic_init(&cu->refs, 1);
    cu->tools = xcalloc(json_array_size(tool_examples) + 1, sizeof cu->tools[0]);
    size_t i;
    const json_t *entry;
    json_array_foreach(tool_examples, i, entry) {
        if (json_array_size(json_object_get(entry, "examples")) == 0)
            continue;
        /* counted before init so a failed tool is released with the rest */
        if (tool_init(&cu->tools[cu->n_tools++], entry, err) != 0) {
            offline_custom_unref(cu);
            cu = NULL;
            goto out;
        }
    }
    cu->nb = offline_nb_train(&d, NULL, NULL, CUSTOM_ALPHA);
out:
    offline_nb_data_release(&d);
    return cu;
}

struct offline_custom *offline_custom_ref(struct offline_custom *cu)
{
    atomic_fetch_add(&cu->refs, 1);
    return cu;
}

void offline_custom_unref(struct offline_custom *cu)
{
    if (!cu || atomic_fetch_sub(&cu->refs, 1) != 1)
        return;
    for (size_t i = 0; i < cu->n_tools; i++)
        tool_release(&cu->tools[i]);
    free(cu->tools);
    offline_nb_free(cu->nb);
    free(cu);
}

/* ------------------------------------------------------------------------------------------------
 * Queries
 * --------------------------------------------------------------------------------------------- */

const struct offline_nb *offline_custom_nb(const struct offline_custom *cu)
{
    return cu->nb;
}

size_t offline_custom_count(const struct offline_custom *cu)
{
    return cu ? cu->n_tools : 0;
}

const char *offline_custom_name(const struct offline_custom *cu, size_t i)
{
    return cu->tools[i].name;
}

int offline_custom_find(const struct offline_custom *cu, const char *name)
{
    for (size_t i = 0; cu && name && i < cu->n_tools; i++)
        if (strcmp(cu->tools[i].name, name) == 0)
            return (int)i;
    return -1;
}

/* ------------------------------------------------------------------------------------------------
 * Slots
 * --------------------------------------------------------------------------------------------- */

/* Lower-cases s and reads '_' and '-' as spaces, into a new string. */
static char *fold(const char *s, size_t cap)
{
    char *f = xstrndup(s, strnlen(s, cap));
    for (char *p = f; *p; p++)
        *p = (*p == '_' || *p == '-') ? ' ' : (char)tolower((unsigned char)*p);
    return f;
}

/* Returns 1 when word occurs in text on word boundaries (both folded). */
static int has_words(const char *text, const char *word)
{
    size_t n = strlen(word);
    if (n == 0)
        return 0;
    for (const char *p = strstr(text, word); p; p = strstr(p + 1, word)) {
        int before = p == text || !isalnum((unsigned char)p[-1]);
        int after = !isalnum((unsigned char)p[n]);
        if (before && after)
            return 1;
    }
    return 0;
}

static json_t *find_enum(const struct slot *s, const char *text)
{
    char *t = fold(text, OFFLINE_SLOTS_MAX_INPUT);
    const json_t *best = NULL;
    size_t best_len = 0, i;
    const json_t *v;
    json_array_foreach(json_object_get(s->schema, "enum"), i, v) {
        char *w = fold(json_string_value(v), 256);
        size_t len = strlen(w);
        if (len > best_len && has_words(t, w)) {
            best = v;
            best_len = len;
        }
        free(w);
    }
    free(t);
    return best ? json_incref((json_t *)best) : NULL;
}

static int in_bounds(const struct slot *s, double x)
{
    const json_t *lo = json_object_get(s->schema, "minimum");
    const json_t *hi = json_object_get(s->schema, "maximum");
    if (json_is_number(lo) && x < json_number_value(lo))
        return 0;
    if (json_is_number(hi) && x > json_number_value(hi))
        return 0;
    return 1;
}

static json_t *find_number(const struct slot *s, const char *text)
{
    size_t len = strnlen(text, OFFLINE_SLOTS_MAX_INPUT);
    for (size_t i = 0; i < len; i++) {
        size_t start = i;
        if (text[i] == '-' && i + 1 < len && isdigit((unsigned char)text[i + 1]))
            i++;
        if (!isdigit((unsigned char)text[i]))
            continue;
        int glued = start > 0 && (isalnum((unsigned char)text[start - 1]) ||
                                  text[start - 1] == '-' || text[start - 1] == '.');
        size_t e = i;
        while (e < len && isdigit((unsigned char)text[e]))
            e++;
        int frac = e + 1 < len && text[e] == '.' && isdigit((unsigned char)text[e + 1]);
        if (frac) {
            e++;
            while (e < len && isdigit((unsigned char)text[e]))
                e++;
        }
        int glued_after = e < len && (isalpha((unsigned char)text[e]) || text[e] == '-');
        if (glued || glued_after || e - start > 15 || (frac && s->kind == K_INTEGER)) {
            i = e;
            continue;
        }
        char buf[20];
        memcpy(buf, text + start, e - start);
        buf[e - start] = '\0';
        double x = strtod(buf, NULL);
        if (!in_bounds(s, x)) {
            i = e;
            continue;
        }
        return s->kind == K_INTEGER ? json_integer(strtoll(buf, NULL, 10)) : json_real(x);
    }
    return NULL;
}

static json_t *find_pattern(const struct slot *s, const char *text)
{
    size_t len = strnlen(text, OFFLINE_SLOTS_MAX_INPUT);
    char *t = xstrndup(text, len);
    json_t *found = NULL;
    size_t off = 0;
    while (off < len) {
        regmatch_t m;
        if (regexec(&s->re, t + off, 1, &m, off > 0 ? REG_NOTBOL : 0) != 0)
            break;
        size_t b = off + (size_t)m.rm_so, e = off + (size_t)m.rm_eo;
        int ok = e > b && (b == 0 || !isalnum((unsigned char)t[b - 1])) &&
                 !isalnum((unsigned char)t[e]);
        if (ok) {
            found = json_stringn(t + b, e - b);
            break;
        }
        off = b + 1;
    }
    free(t);
    return found;
}

static json_t *find_quoted(const char *text)
{
    const char *a = strchr(text, '"');
    const char *b = a ? strchr(a + 1, '"') : NULL;
    if (!b || b - a - 1 <= 0 || b - a - 1 > MAX_PLAIN)
        return NULL;
    return json_stringn(a + 1, (size_t)(b - a - 1));
}

/* The whole answer, trimmed of spaces and final punctuation, when it fits maxLength. */
static json_t *whole_answer(const struct slot *s, const char *text)
{
    const char *b = text;
    while (isspace((unsigned char)*b))
        b++;
    size_t n = strnlen(b, OFFLINE_SLOTS_MAX_INPUT);
    while (n > 0 && (isspace((unsigned char)b[n - 1]) || strchr(".!?", b[n - 1])))
        n--;
    const json_t *maxlen = json_object_get(s->schema, "maxLength");
    size_t cap = json_is_integer(maxlen) && json_integer_value(maxlen) > 0 &&
                         json_integer_value(maxlen) < MAX_PLAIN
                     ? (size_t)json_integer_value(maxlen)
                     : MAX_PLAIN;
    if (n == 0 || n > cap)
        return NULL;
    return json_stringn(b, n);
}

static json_t *slot_find(const struct slot *s, const char *text, int answers)
{
    struct offline_slots sl;
    switch (s->kind) {
    case K_ENUM:
        return find_enum(s, text);
    case K_INTEGER:
    case K_NUMBER:
        return find_number(s, text);
    case K_EMAIL:
    case K_DATE:
        offline_slots_extract(text, &sl);
        if (s->kind == K_EMAIL)
            return sl.email[0] ? json_string(sl.email) : NULL;
        return sl.date[0] ? json_string(sl.date) : NULL;
    case K_PATTERN:
        return find_pattern(s, text);
    case K_STRING:
        break;
    }
    json_t *q = find_quoted(text);
    if (!q && answers)
        q = whole_answer(s, text);
    return q;
}

int offline_custom_fill(const struct offline_custom *cu, size_t i, const char *text,
                        const char *asked, json_t *input)
{
    const struct tool *t = &cu->tools[i];
    int set_asked = 0;
    for (size_t k = 0; k < t->n_slots; k++) {
        const struct slot *s = &t->slots[k];
        int answers = asked && strcmp(asked, s->name) == 0;
        /* a plain string is taken from a message that answers another question only if quoted */
        json_t *v = slot_find(s, text, answers);
        if (!v)
            continue;
        json_object_set_new(input, s->name, v);
        if (answers)
            set_asked = 1;
    }
    return set_asked;
}

void offline_custom_fill_carried(const struct offline_custom *cu, size_t i, const char *text,
                                 json_t *input)
{
    const struct tool *t = &cu->tools[i];
    for (size_t k = 0; k < t->n_slots; k++) {
        const struct slot *s = &t->slots[k];
        if (s->kind != K_EMAIL && s->kind != K_PATTERN)
            continue;
        json_t *v = slot_find(s, text, 0);
        if (v)
            json_object_set_new(input, s->name, v);
    }
}

const char *offline_custom_missing(const struct offline_custom *cu, size_t i, const json_t *input)
{
    const struct tool *t = &cu->tools[i];
    for (size_t k = 0; k < t->n_slots; k++)
        if (!json_object_get(input, t->slots[k].name))
            return t->slots[k].name;
    return NULL;
}

static const struct slot *slot_of(const struct tool *t, const char *prop)
{
    for (size_t k = 0; k < t->n_slots; k++)
        if (strcmp(t->slots[k].name, prop) == 0)
            return &t->slots[k];
    return NULL;
}

char *offline_custom_ask(const struct offline_custom *cu, size_t i, const char *prop)
{
    const struct slot *s = slot_of(&cu->tools[i], prop);
    const char *desc = s ? json_string_value(json_object_get(s->schema, "description")) : NULL;
    char *q;
    if (desc && desc[0] && desc[strlen(desc) - 1] == '?') {
        q = xstrdup(desc);
    } else if (desc && desc[0]) {
        char *d = xstrndup(desc, strnlen(desc, 300));
        size_t n = strlen(d);
        while (n > 0 && (d[n - 1] == '.' || isspace((unsigned char)d[n - 1])))
            d[--n] = '\0';
        /* "The serial number" -> "the serial number", but "VIN" stays */
        if (isupper((unsigned char)d[0]) && !isupper((unsigned char)d[1]))
            d[0] = (char)tolower((unsigned char)d[0]);
        q = xasprintf("What's %s?", d);
        free(d);
    } else {
        char *d = xstrdup(prop);
        for (char *p = d; *p; p++)
            if (*p == '_' || *p == '-')
                *p = ' ';
        q = xasprintf("What's the %s?", d);
        free(d);
    }
    if (s && s->kind == K_ENUM) {
        char *list = xstrdup("");
        size_t k;
        const json_t *v;
        json_array_foreach(json_object_get(s->schema, "enum"), k, v) {
            if (k == MAX_LISTED) {
                char *more = xasprintf("%s and others", list);
                free(list);
                list = more;
                break;
            }
            char *nl = xasprintf("%s%s%.*s", list, k ? ", " : "", MAX_FIELD_TEXT,
                                 json_string_value(v));
            free(list);
            list = nl;
        }
        char *nq = xasprintf("%s (One of: %s.)", q, list);
        free(list);
        free(q);
        q = nq;
    }
    return q;
}

const char *offline_custom_asked(const struct offline_custom *cu, size_t i, const char *text)
{
    const struct tool *t = &cu->tools[i];
    const char *found = NULL;
    for (size_t k = 0; k < t->n_slots && !found; k++) {
        char *q = offline_custom_ask(cu, i, t->slots[k].name);
        if (strstr(text, q))
            found = t->slots[k].name;
        free(q);
    }
    return found;
}

/* ------------------------------------------------------------------------------------------------
 * Results
 * --------------------------------------------------------------------------------------------- */

/* "expires_on" / "expiresOn" -> "expires on". Owned. */
static char *label_of(const char *key)
{
    size_t n = strnlen(key, 64);
    char *l = xcalloc(2 * n + 1, 1);
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '_' || c == '-') {
            l[o++] = ' ';
        } else if (isupper(c) && i > 0 && islower((unsigned char)key[i - 1])) {
            l[o++] = ' ';
            l[o++] = (char)tolower(c);
        } else {
            l[o++] = (char)tolower(c);
        }
    }
    return l;
}

/* The value as text, or NULL for values a sentence cannot carry. Owned. */
static char *value_text(const json_t *v)
{
    if (json_is_string(v)) {
        const char *s = json_string_value(v);
        size_t n = strnlen(s, MAX_FIELD_TEXT + 1);
        return n > MAX_FIELD_TEXT ? xasprintf("%.*s...", MAX_FIELD_TEXT, s) : xstrdup(s);
    }
    if (json_is_integer(v))
        return xasprintf("%" JSON_INTEGER_FORMAT, json_integer_value(v));
    if (json_is_real(v))
        return xasprintf("%g", json_real_value(v));
    if (json_is_boolean(v))
        return xstrdup(json_is_true(v) ? "yes" : "no");
    if (json_is_array(v))
        return xasprintf("%zu item%s", json_array_size(v), json_array_size(v) == 1 ? "" : "s");
    return NULL;
}

char *offline_custom_phrase(const json_t *parsed, const char *text)
{
    char *body = NULL;
    if (json_is_object(parsed)) {
        size_t shown = 0;
        const char *key;
        const json_t *v;
        json_object_foreach((json_t *)parsed, key, v) {
            if (shown >= MAX_FIELDS)
                break;
            char *vt = value_text(v);
            if (!vt)
                continue;
            char *label = label_of(key);
            char *nb = xasprintf("%s%s%s: %s", body ? body : "", body ? "; " : "", label, vt);
            free(body);
            body = nb;
            free(label);
            free(vt);
            shown++;
        }
    } else if (parsed) {
        body = value_text(parsed);
    } else if (text && text[0]) {
        body = xasprintf("%.*s", MAX_FIELD_TEXT, text);
    }
    char *s = body ? xasprintf("Here's what I found: %s. Is there anything else I can help you "
                               "with?",
                               body)
                   : xstrdup("Done. Is there anything else I can help you with?");
    free(body);
    return s;
}
