/*
 * serve.c - `parley serve`: the local runtime. Opens the store, the model and the HTTP API, then
 * waits for SIGINT/SIGTERM and shuts down cleanly (in-flight requests finish first).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/agent.h"
#include "agent/kb.h"
#include "agent/tools.h"
#include "base/config.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "cli/cli.h"
#include "http/server.h"
#include "model/model.h"
#include "model/providers.h"
#include "runtime/api.h"
#include "runtime/chat_stream.h"
#include "runtime/workflow_local.h"
#include "store/store.h"

void cli_print_settings(FILE *out)
{
    config_print_help(out);
}

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: parley serve [--port N] [--bind ADDR] [--data DIR]\n\n"
                 "Serves the HTTP API (POST /chat, GET /sessions/{id}, GET /tickets/{id},\n"
                 "GET /health) on the embedded defaults: SQLite in DIR/parley.db and the\n"
                 "offline model. Flags override the environment variables below.\n\n"
                 "  --port N      PARLEY_PORT\n  --bind ADDR   PARLEY_BIND\n"
                 "  --data DIR    PARLEY_DATA\n\n");
    config_print_help(out);
}

/* Applies --flag VALUE pairs to cfg. Returns 0, 1 after printing help, or -1 on a bad flag. */
static int parse_flags(int argc, char **argv, struct config *cfg)
{
    static const struct {
        const char *flag, *setting;
    } flags[] = {{"--port", "PARLEY_PORT"}, {"--bind", "PARLEY_BIND"}, {"--data", "PARLEY_DATA"}};
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            serve_usage(stdout);
            return 1;
        }
        size_t k;
        for (k = 0; k < sizeof flags / sizeof flags[0]; k++)
            if (strcmp(argv[i], flags[k].flag) == 0)
                break;
        if (k == sizeof flags / sizeof flags[0] || i + 1 >= argc) {
            fprintf(stderr, "parley serve: %s '%s'\n",
                    k == sizeof flags / sizeof flags[0] ? "unknown option" : "missing value for",
                    argv[i]);
            return -1;
        }
        struct err e;
        if (config_set(cfg, flags[k].setting, argv[++i], &e) < 0) {
            fprintf(stderr, "parley serve: %s\n", e.message);
            return -1;
        }
    }
    return 0;
}

/* Finds a bundled file or directory (the state machine, the knowledge base): as given, else
 * relative to the repository the binary was built in (build/parley or build/san/parley).
 * Returns a new string. */
static char *resolve_asset(const char *path)
{
    if (path[0] == '/' || access(path, R_OK) == 0)
        return xstrdup(path);
    char exe[4096];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = '\0';
        for (int up = 0; up < 3; up++) {
            char *slash = strrchr(exe, '/');
            if (!slash)
                break;
            *slash = '\0';
            char *candidate = xasprintf("%s/%s", exe, path);
            if (access(candidate, R_OK) == 0)
                return candidate;
            free(candidate);
        }
    }
    return xstrdup(path);
}

static int make_dir(const char *path)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return -1;
}

int cli_serve(int argc, char **argv)
{
    struct config cfg;
    struct err e;
    err_clear(&e);
    int rc = 1;
    struct store *store = NULL;
    struct model *model = NULL;
    struct http_server *server = NULL;
    struct workflow_local *workflow = NULL;
    struct kb *kb = NULL;
    struct tools *tools = NULL;
    if (config_load(&cfg, &e) < 0) {
        fprintf(stderr, "parley serve: %s\n", e.message);
        config_release(&cfg);
        return 2;
    }
    int f = parse_flags(argc, argv, &cfg);
    if (f != 0) {
        rc = f > 0 ? 0 : 2;
        goto out;
    }
    enum log_level lvl;
    if (log_level_parse(cfg.log_level, &lvl) == 0)
        log_threshold = lvl;
    if (make_dir(cfg.data) < 0) {
        log_at(LL_ERROR, "serve", "cannot create data directory '%s': %s", cfg.data,
               strerror(errno));
        goto out;
    }
    char *db_path = xasprintf("%s/parley.db", cfg.data);
    store = store_sqlite_new(db_path, cfg.store_pool, &e);
    free(db_path);
    if (!store) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }
    char *kb_dir = resolve_asset(cfg.kb_dir);
    kb = kb_load(kb_dir, &e);
    free(kb_dir);
    if (!kb)
        log_at(LL_WARN, "serve", "knowledge base unavailable (search_knowledge_base is off): %s",
               e.message);
    tools = tools_new(kb, &e);
    if (!tools) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }
    model = model_new_by_name(cfg.model, &e);
    if (!model) {
        log_at(LL_ERROR, "serve", "cannot start model '%s': %s", cfg.model, e.message);
        goto out;
    }
    struct agent agent = {.cfg = &cfg, .store = store, .model = model, .tools = tools, .kb = kb};
    char *asl = resolve_asset(cfg.statemachine);
    workflow = workflow_local_new(&agent, asl, &e);
    free(asl);
    if (!workflow) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }
    workflow_local_attach(workflow, &agent);

    /* Block the stop signals before any thread starts, so only sigwait below receives them. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);

    server = http_server_start(cfg.bind, cfg.port, cfg.max_connections, API_MAX_BODY, api_handle,
                               &agent, &e);
    if (!server) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }
    log_at(LL_INFO, "serve", "listening on http://%s:%d (data '%s', store %s, model %s)",
           cfg.bind, http_server_port(server), cfg.data, store->ops->name, model->ops->name);
    int sig = 0;
    sigwait(&stop, &sig);
    log_at(LL_INFO, "serve", "received %s, shutting down", sig == SIGINT ? "SIGINT" : "SIGTERM");
    rc = 0;
out:
    http_server_stop(server);
    chat_stream_drain();
    workflow_local_free(workflow);
    model_free(model);
    tools_free(tools);
    kb_free(kb);
    store_free(store);
    config_release(&cfg);
    if (rc == 0 && server)
        log_at(LL_INFO, "serve", "stopped cleanly");
    return rc;
}

int cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("parley %s\n", PARLEY_VERSION);
    return 0;
}
