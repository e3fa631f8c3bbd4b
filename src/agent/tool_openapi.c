/*
 * tool_openapi.c - OpenAPI operations to HTTP tool entries (see tool_openapi.h).
 */
#include "agent/tool_openapi.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "agent/agent_file.h"
#include "base/xmalloc.h"

static const char *const op_methods[] = {"get", "put", "post", "delete", "patch"};

/* Keywords of OpenAPI's schema dialect that the tool validator does not know; they only annotate.
 */
static const char *const dropped[] = {"example",      "readOnly",   "writeOnly",     "xml",
                                      "externalDocs", "deprecated", "discriminator", "nullable"};

/* Entry keys copied onto every generated tool. */
static const char *const shared_keys[] = {"headers", "timeout_ms", "retries", "confirm", "async"};

/* ---------------------------------------------------------------- $ref resolution */

/* Follows a local reference "#/a/b~1c" in doc. Borrowed result or NULL. */
static const json_t *follow(const json_t *doc, const char *ref)
{
    if (strncmp(ref, "#/", 2) != 0)
        return NULL;
    const json_t *node = doc;
    const char *p = ref + 2;
    while (node && *p) {
        char seg[256];
        size_t n = 0;
        for (; *p && *p != '/' && n + 1 < sizeof seg; p++) {
            if (p[0] == '~' && p[1] == '1') {
                seg[n++] = '/';
                p++;
            } else if (p[0] == '~' && p[1] == '0') {
                seg[n++] = '~';
                p++;
            } else {
                seg[n++] = *p;
            }
        }
        seg[n] = '\0';
        if (*p == '/')
            p++;
        node = json_object_get(node, seg);
    }
    return node;
}

static int is_dropped(const char *key)
{
    if (strncmp(key, "x-", 2) == 0)
        return 1;
    for (size_t i = 0; i < sizeof dropped / sizeof dropped[0]; i++)
        if (strcmp(dropped[i], key) == 0)
            return 1;
    return 0;
}

/* Returns a copy of the schema node with local $refs replaced by what they name and OpenAPI-only
 * keywords dropped ("nullable": true widens "type" with "null"). NULL with err on a bad ref. */
static json_t *resolve(const json_t *doc, const json_t *node, int depth, const char *where,
                       struct err *err)
{
    if (json_is_array(node)) {
        json_t *out = json_array();
        size_t i;
        json_t *v;
        json_array_foreach(node, i, v) {
            json_t *r = resolve(doc, v, depth, where, err);
            if (!r) {
                json_decref(out);
                return NULL;
            }
            json_array_append_new(out, r);
        }
        return out;
    }
    if (!json_is_object(node))
        return json_deep_copy(node);
    const char *ref = json_string_value(json_object_get(node, "$ref"));
    if (ref) {
        const json_t *target = follow(doc, ref);
        if (!target) {
            err_set(err, "ToolConfig", "%s: $ref '%s' is not a local reference that exists", where,
                    ref);
            return NULL;
        }
        if (depth >= TOOL_OPENAPI_REF_DEPTH) {
            err_set(err, "ToolConfig", "%s: $ref '%s' nests more than %d deep (a cycle?)", where,
                    ref, TOOL_OPENAPI_REF_DEPTH);
            return NULL;
        }
        return resolve(doc, target, depth + 1, where, err);
    }
    json_t *out = json_object();
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)node, k, v) {
        if (is_dropped(k))
            continue;
        json_t *r;
        if (strcmp(k, "enum") == 0 || strcmp(k, "const") == 0 || strcmp(k, "default") == 0 ||
            strcmp(k, "examples") == 0) {
            r = json_deep_copy(v); /* values, not schemas */
        } else if (strcmp(k, "properties") == 0 && json_is_object(v)) {
            r = json_object();
            const char *pk;
            json_t *pv;
            json_object_foreach(v, pk, pv) {
                json_t *pr = resolve(doc, pv, depth, where, err);
                if (!pr) {
                    json_decref(r);
                    r = NULL;
                    break;
                }
                json_object_set_new(r, pk, pr);
            }
        } else {
            r = resolve(doc, v, depth, where, err);
        }
        if (!r) {
            json_decref(out);
            return NULL;
        }
        json_object_set_new(out, k, r);
    }
    json_t *type = json_object_get(out, "type");
    if (json_is_true(json_object_get(node, "nullable")) && json_is_string(type))
        json_object_set_new(out, "type", json_pack("[O, s]", type, "null"));
    return out;
}

/* ---------------------------------------------------------------- one operation */

/* Adds one parameter to props/required/query. Returns 0, or -1 with err. */
static int add_param(const json_t *doc, const json_t *param, json_t *props, json_t *required,
                     json_t *query, const char *where, struct err *err)
{
    json_t *p = resolve(doc, param, 0, where, err);
    if (!p)
        return -1;
    int rc = -1;
    const char *in = json_string_value(json_object_get(p, "in"));
    const char *name = json_string_value(json_object_get(p, "name"));
    if (!in || !name) {
        err_set(err, "ToolConfig", "%s: a parameter needs \"name\" and \"in\"", where);
        goto out;
    }
    if (strcmp(in, "path") != 0 && strcmp(in, "query") != 0) {
        rc = 0; /* header and cookie parameters are the entry's "headers" business */
        goto out;
    }
    json_t *schema = json_object_get(p, "schema");
    json_t *prop = json_is_object(schema) ? json_deep_copy(schema) : json_object();
    const char *desc = json_string_value(json_object_get(p, "description"));
    if (desc && !json_object_get(prop, "description"))
        json_object_set_new(prop, "description", json_string(desc));
    json_object_set_new(props, name, prop);
    if (strcmp(in, "path") == 0 || json_is_true(json_object_get(p, "required")))
        json_array_append_new(required, json_string(name));
    if (strcmp(in, "query") == 0)
        json_array_append_new(query, json_string(name));
    rc = 0;
out:
    json_decref(p);
    return rc;
}

/* Merges an application/json object requestBody into props/required; *closed = 1 when the body
 * allows no other properties. */
static int add_body(const json_t *doc, const json_t *body, json_t *props, json_t *required,
                    int *closed, const char *where, struct err *err)
{
    json_t *b = resolve(doc, body, 0, where, err);
    if (!b)
        return -1;
    int rc = -1;
    json_t *schema = json_object_get(json_object_get(json_object_get(b, "content"),
                                                     "application/json"),
                                     "schema");
    if (!schema) {
        err_set(err, "ToolConfig", "%s: the requestBody has no application/json schema", where);
        goto out;
    }
    json_t *bprops = json_object_get(schema, "properties");
    const char *type = json_string_value(json_object_get(schema, "type"));
    if (!json_is_object(bprops) && !(type && strcmp(type, "object") == 0)) {
        err_set(err, "ToolConfig", "%s: only JSON object request bodies become tool inputs", where);
        goto out;
    }
    const char *k;
    json_t *v;
    json_object_foreach(bprops, k, v) {
        if (json_object_get(props, k)) {
            err_set(err, "ToolConfig", "%s: body property '%s' has a parameter's name", where, k);
            goto out;
        }
        json_object_set(props, k, v);
    }
    size_t i;
    json_array_foreach(json_object_get(schema, "required"), i, v)
        json_array_append(required, v);
    *closed = json_is_false(json_object_get(schema, "additionalProperties"));
    rc = 0;
out:
    json_decref(b);
    return rc;
}

static json_t *convert_op(const json_t *doc, const char *path, const char *method,
                          const json_t *path_item, const json_t *op, const char *base,
                          const json_t *entry, const char *where, struct err *err)
{
    const char *id = json_string_value(json_object_get(op, "operationId"));
    json_t *props = json_object(), *required = json_array(), *query = json_array();
    json_t *out = NULL;
    char at[512];
    snprintf(at, sizeof at, "%s: operation %s %s", where, method, path);
    const json_t *lists[] = {json_object_get(path_item, "parameters"),
                             json_object_get(op, "parameters")};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *p;
        json_array_foreach(lists[l], i, p) {
            if (add_param(doc, p, props, required, query, at, err) < 0)
                goto fail;
        }
    }
    json_t *body = json_object_get(op, "requestBody");
    int closed = 0;
    if (body && add_body(doc, body, props, required, &closed, at, err) < 0)
        goto fail;
    const char *summary = json_string_value(json_object_get(op, "summary"));
    if (!summary)
        summary = json_string_value(json_object_get(op, "description"));
    char *upper = xstrdup(method);
    for (char *c = upper; *c; c++)
        *c = (char)toupper((unsigned char)*c);
    char *fallback = xasprintf("%s %s", upper, path);
    char *url = xasprintf("%s%s", base, path);
    /* A closed body (additionalProperties: false) closes the whole input: parameters are
     * listed properties too. */
    json_t *schema = json_pack("{s:s, s:o}", "type", "object", "properties", props);
    props = NULL;
    if (closed)
        json_object_set_new(schema, "additionalProperties", json_false());
    if (json_array_size(required))
        json_object_set(schema, "required", required);
    out = json_pack("{s:s, s:s, s:o, s:s, s:s, s:O}", "name", id, "description",
                    summary ? summary : fallback, "input_schema", schema, "url", url, "method",
                    upper, "query", query);
    for (size_t k = 0; k < sizeof shared_keys / sizeof shared_keys[0]; k++)
        if (json_object_get(entry, shared_keys[k]))
            json_object_set(out, shared_keys[k], json_object_get(entry, shared_keys[k]));
    free(upper);
    free(fallback);
    free(url);
fail:
    json_decref(props);
    json_decref(required);
    json_decref(query);
    return out;
}

/* ---------------------------------------------------------------- the document */

json_t *tool_openapi_convert(const json_t *doc, const json_t *entry, const char *where,
                             struct err *err)
{
    const char *version = json_string_value(json_object_get(doc, "openapi"));
    json_t *wanted = json_object_get(entry, "operations");
    const char *base = json_string_value(json_object_get(entry, "base_url"));
    if (!base)
        base = json_string_value(
            json_object_get(json_array_get(json_object_get(doc, "servers"), 0), "url"));
    if (!version || strncmp(version, "3.", 2) != 0) {
        err_set(err, "ToolConfig", "%s/spec: not an OpenAPI 3 document (no \"openapi\": \"3.x\")",
                where);
        return NULL;
    }
    if (!base || (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0)) {
        err_set(err, "ToolConfig", "%s/base_url: needs an http(s) url (or servers[0].url)", where);
        return NULL;
    }
    if (wanted && !json_is_array(wanted)) {
        err_set(err, "ToolConfig", "%s/operations: must be an array of operationIds", where);
        return NULL;
    }
    char *trimmed = xstrdup(base);
    size_t bl = strlen(trimmed);
    while (bl > 0 && trimmed[bl - 1] == '/')
        trimmed[--bl] = '\0';
    json_t *out = json_array();
    json_t *found = json_object(); /* operationIds converted */
    const char *path;
    json_t *item;
    json_object_foreach(json_object_get(doc, "paths"), path, item) {
        for (size_t m = 0; m < sizeof op_methods / sizeof op_methods[0]; m++) {
            json_t *op = json_object_get(item, op_methods[m]);
            if (!json_is_object(op))
                continue;
            const char *id = json_string_value(json_object_get(op, "operationId"));
            if (!id) {
                if (!wanted) {
                    err_set(err, "ToolConfig", "%s: operation %s %s has no operationId", where,
                            op_methods[m], path);
                    goto fail;
                }
                continue;
            }
            size_t i;
            json_t *w;
            int selected = !wanted;
            json_array_foreach(wanted, i, w)
                selected |= json_is_string(w) && strcmp(json_string_value(w), id) == 0;
            if (!selected)
                continue;
            json_t *tool = convert_op(doc, path, op_methods[m], item, op, trimmed, entry, where,
                                      err);
            if (!tool)
                goto fail;
            json_array_append_new(out, tool);
            json_object_set_new(found, id, json_true());
        }
    }
    size_t i;
    json_t *w;
    json_array_foreach(wanted, i, w) {
        if (!json_is_string(w) || !json_object_get(found, json_string_value(w))) {
            err_set(err, "ToolConfig", "%s/operations/%zu: no operation with that operationId",
                    where, i);
            goto fail;
        }
    }
    json_decref(found);
    free(trimmed);
    return out;
fail:
    json_decref(found);
    json_decref(out);
    free(trimmed);
    return NULL;
}

/* Reads a YAML spec (at most TOOL_OPENAPI_FILE_MAX bytes) and converts it with the agent file's
 * YAML rules. Returns a new document, or NULL with err "ToolConfig". */
static json_t *load_yaml(const char *spec, const char *where, struct err *err)
{
    json_t *doc = NULL;
    char *buf = xmalloc(TOOL_OPENAPI_FILE_MAX + 1);
    FILE *f = fopen(spec, "rb");
    size_t len = f ? fread(buf, 1, TOOL_OPENAPI_FILE_MAX + 1, f) : 0;
    if (!f || ferror(f) || len > TOOL_OPENAPI_FILE_MAX) {
        err_set(err, "ToolConfig", "%s/spec: cannot read '%s' (missing or over %u bytes)", where,
                spec, TOOL_OPENAPI_FILE_MAX);
        goto out;
    }
    struct err yerr;
    err_clear(&yerr);
    if (!(doc = agent_file_parse_yaml(spec, buf, len, &yerr)))
        err_set(err, "ToolConfig", "%s/spec: %s", where, yerr.message);
out:
    if (f)
        fclose(f);
    free(buf);
    return doc;
}

json_t *tool_openapi_entries(const json_t *entry, const char *where, struct err *err)
{
    const char *spec = json_string_value(json_object_get(entry, "spec"));
    if (!spec) {
        err_set(err, "ToolConfig", "%s/spec: missing (the OpenAPI document's path)", where);
        return NULL;
    }
    size_t n = strlen(spec);
    int yaml = (n > 5 && strcmp(spec + n - 5, ".yaml") == 0) ||
               (n > 4 && strcmp(spec + n - 4, ".yml") == 0);
    struct stat st;
    if (stat(spec, &st) != 0 || (size_t)st.st_size > TOOL_OPENAPI_FILE_MAX) {
        err_set(err, "ToolConfig", "%s/spec: cannot read '%s' (missing or over %u bytes)", where,
                spec, TOOL_OPENAPI_FILE_MAX);
        return NULL;
    }
    json_t *doc = yaml ? load_yaml(spec, where, err) : NULL;
    if (yaml && !doc)
        return NULL;
    json_error_t jerr;
    if (!yaml && !(doc = json_load_file(spec, 0, &jerr))) {
        err_set(err, "ToolConfig", "%s/spec: '%s' line %d: %s", where, spec, jerr.line, jerr.text);
        return NULL;
    }
    json_t *out = tool_openapi_convert(doc, entry, where, err);
    json_decref(doc);
    return out;
}
