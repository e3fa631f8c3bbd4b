/*
 * agent_file.h - the agent file: one JSON or YAML file that describes a support agent (its name,
 * instructions, greeting, knowledge, tools, limits and guardrails). docs/agent-file.md documents
 * every key.
 *
 * Loading reads the file (at most AGENT_FILE_MAX_BYTES), converts YAML to JSON (YAML 1.2 core
 * schema for plain scalars, anchors and aliases resolved with a cap, duplicate keys rejected),
 * validates it against the agent file's own JSON Schema and semantic rules, expands ${VAR} from
 * the environment (in instructions, tool urls and headers, MCP env, headers and urls) and
 * resolves relative paths against the file's directory. Every problem is reported, one per line,
 * as `PATH: /json/location: message`. {{...}} templates in the instructions stay in the document
 * and are rendered per turn by agent_file_render_instructions().
 *
 * A loaded agent file is immutable: any number of threads may read it at once.
 */
#ifndef PARLEY_AGENT_FILE_H
#define PARLEY_AGENT_FILE_H

#include <jansson.h>

#include "base/err.h"

#define AGENT_FILE_MAX_BYTES (1024 * 1024) /* larger files are refused */
#define AGENT_FILE_MAX_DEPTH 64            /* nesting of mappings and sequences */
#define AGENT_FILE_MAX_NODES 200000        /* values in the document, aliases expanded */
#define AGENT_FILE_MAX_ALIASES 1000        /* alias uses in one YAML document */
#define AGENT_FILE_DEFAULT "examples/demo-store/agent.yaml" /* the shipped demo agent */

struct agent_file;

/* ---- load ---- */

/* Loads and validates the agent file at path (NULL: the shipped demo agent, found like the other
 * runtime assets). Returns a new agent file owned by the caller, or NULL with err code
 * "InvalidAgentFile" (or "NotFound" / "TooLarge" for an unreadable or oversized file) whose
 * message holds as many problems as fit. */
struct agent_file *agent_file_load(const char *path, struct err *err);

/* The same; on failure *problems (when problems is not NULL) receives every problem, one per
 * line, each line ending in '\n' (owned by the caller, free()). On success *problems is NULL. */
struct agent_file *agent_file_load_report(const char *path, char **problems, struct err *err);

/* The process-wide shipped demo agent, loaded on first use; NULL when it cannot be loaded (the
 * reason is logged once). Never freed. */
const struct agent_file *agent_file_default(void);

/* Converts one YAML document (buf, len bytes) to JSON by the agent file's rules and caps: the
 * YAML 1.2 core schema for plain scalars, anchors and aliases resolved (at most
 * AGENT_FILE_MAX_ALIASES uses, AGENT_FILE_MAX_NODES values), nesting at most AGENT_FILE_MAX_DEPTH,
 * duplicate keys and several documents refused. name prefixes each problem (a file path). Returns
 * a new value, or NULL with err "InvalidYaml" whose message lists the problems as
 * `NAME: LOCATION: message` lines. Also used for OpenAPI specs in YAML (tool_openapi.h). */
json_t *agent_file_parse_yaml(const char *name, const char *buf, size_t len, struct err *err);

/* Frees an agent file; NULL is a no-op. */
void agent_file_free(struct agent_file *f);

/* ---- read ---- */

/* The resolved agent document (borrowed; lives as long as f). */
const json_t *agent_file_doc(const struct agent_file *f);

/* The path the file was loaded from (borrowed). */
const char *agent_file_path(const struct agent_file *f);

/* The instructions with {{today}}, {{weekday}}, {{now}}, {{business_hours}} and {{agent_name}}
 * rendered for the moment now_ms (UTC). Returns a new string owned by the caller (free()). */
char *agent_file_render_instructions(const struct agent_file *f, long long now_ms);

/* limits.<key> of the file when it is set, otherwise def. f may be NULL (returns def). */
long long agent_file_limit(const struct agent_file *f, const char *key, long long def);

/* The canned reply of the first guardrails.denied_topics entry one of whose patterns matches
 * text (POSIX extended, case-insensitive), or NULL. Borrowed from f. f may be NULL. */
const char *agent_file_denied_reply(const struct agent_file *f, const char *text);

/* When the file sets guardrails.redact, stores its kinds (enum guard_kind bits) in *kinds and
 * returns 1; otherwise returns 0 and leaves *kinds alone. */
int agent_file_redact(const struct agent_file *f, unsigned *kinds);

/* The agent as `parley agent show` prints it: {"file", "agent", "tools"} where agent is the
 * resolved document with secrets masked (values expanded from ${VAR} in headers, env and urls,
 * and url userinfo, shown as "***") and tools lists every tool the file declares with kind,
 * name, description and input_schema (built-in ones as builtin_specs gives them: the borrowed
 * tools_specs() array of the built-in registry, or NULL). Returns a new reference. */
json_t *agent_file_show(const struct agent_file *f, const json_t *builtin_specs);

#endif
