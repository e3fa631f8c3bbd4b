/*
 * tool_openapi.h - OpenAPI 3.0/3.1 operations turned into HTTP tool entries (tool_http.h).
 *
 * Each selected operation becomes one tools.http entry: operationId -> name, summary (or
 * description) -> description, method and path template from the document, base_url + path ->
 * url, path and query parameters plus the properties of an application/json object requestBody
 * -> input_schema (query parameters listed in the entry's "query"). Local `$ref`s
 * (#/components/...) are resolved, at most TOOL_OPENAPI_REF_DEPTH deep, so a cyclic schema is an
 * error, not a hang. OpenAPI-only keywords the tool schema validator does not know (nullable,
 * example, readOnly, ...) are dropped. A spec file ending in .yaml or .yml is read as YAML with
 * the agent file's converter (agent_file_parse_yaml), any other as JSON.
 */
#ifndef PARLEY_TOOL_OPENAPI_H
#define PARLEY_TOOL_OPENAPI_H

#include <jansson.h>

#include "base/err.h"

#define TOOL_OPENAPI_REF_DEPTH 16        /* nested $ref resolutions in one schema */
#define TOOL_OPENAPI_FILE_MAX (4u << 20) /* bytes in a spec file */

/* Converts doc (a parsed OpenAPI document, borrowed) for the entry {"base_url", "operations":
 * [operationId...]} (borrowed; "operations" absent = every operation). Returns a new array of
 * tools.http entries, or NULL with err "ToolConfig" naming where and the problem (an unknown
 * operationId, a missing operationId, a $ref that is not local or cycles, ...). */
json_t *tool_openapi_convert(const json_t *doc, const json_t *entry, const char *where,
                             struct err *err);

/* Loads entry["spec"] (a JSON or YAML file path; the agent-file loader has already made it
 * absolute against the agent file's directory, a relative path here is taken from the working
 * directory)
 * and converts it as tool_openapi_convert does. Returns a new array, or NULL with err
 * "ToolConfig". */
json_t *tool_openapi_entries(const json_t *entry, const char *where, struct err *err);

#endif
