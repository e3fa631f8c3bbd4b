/*
 * serve.c - `parley serve`: the local runtime. Opens the store, the model, the turn scheduler and
 * the HTTP API, then waits for signals on the main thread (sigwait: no handler runs anything):
 * SIGHUP reloads the agent file (app_reload_agent), SIGINT/SIGTERM shut down gracefully: new
 * turns get 503 while in-flight turns finish, for at most PARLEY_SHUTDOWN_GRACE_MS.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/sched.h"
#include "base/log.h"
#include "base/logfile.h"
#include "cli/cli.h"
#include "http/client.h"
#include "http/server.h"
#include "runtime/api.h"
#include "runtime/chat_stream.h"
#include "runtime/app.h"

void cli_print_settings(FILE *out)
{
    config_print_help(out);
}

static void serve_usage(FILE *out)
{
    fprintf(out, "usage: parley serve [--port N] [--bind ADDR] [--data DIR] [--agent FILE]\n\n"
                 "Serves the HTTP API (POST /chat, GET /sessions/{id}, GET /tickets/{id},\n"
                 "GET /health) on the embedded defaults: SQLite in DIR/parley.db and the\n"
                 "offline model. Flags override the environment variables below.\n\n"
                 "  --port N      PARLEY_PORT\n  --bind ADDR   PARLEY_BIND\n"
                 "  --data DIR    PARLEY_DATA\n"
                 "  --agent FILE  PARLEY_AGENT\n\n"
                 "SIGHUP reloads the agent file without dropping conversations: a valid new\n"
                 "file is used from the next turn on; an invalid one is logged and refused,\n"
                 "and the running agent stays.\n\n"); /* issue 11 */
    config_print_help(out);
}

/* Applies --flag VALUE pairs to cfg. Returns 0, 1 after printing help, or -1 on a bad flag. */
static int parse_flags(int argc, char **argv, struct config *cfg)
{
    static const struct {
        const char *flag, *setting;
    } flags[] = {{"--port", "PARLEY_PORT"},
                 {"--bind", "PARLEY_BIND"},
                 {"--data", "PARLEY_DATA"},
                 {"--agent", "PARLEY_AGENT"} /* issue 11 */};
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

/* 1 when bind is an IPv4 loopback address (127.0.0.0/8). */
static int bind_is_loopback(const char *bind)
{
    struct in_addr a;
    return inet_pton(AF_INET, bind, &a) == 1 && (ntohl(a.s_addr) >> 24) == 127;
}

int cli_serve(int argc, char **argv)
{
    struct config cfg;
    struct err e;
    err_clear(&e);
    int rc = 1;
    struct app rt = {0};
    struct http_server *server = NULL;
    struct api *api = NULL;
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
    /* Block the stop and reload signals before any thread starts, so only sigwait below
     * receives them, on this ordinary thread. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (app_open(&rt, &cfg, APP_SERVE, &e) < 0 || app_start_workers(&rt, cfg.workers, &e) < 0) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }

    api = api_new(&rt, &e);
    if (!api) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }
    /* Demo mode trusts the userId a client sends: fine on a laptop, not on a network. */
    if (api_demo_mode(api)) {
        if (!bind_is_loopback(cfg.bind) && !cfg.insecure_demo) {
            log_at(LL_ERROR, "serve",
                   "refusing to listen on '%s' in demo mode: set PARLEY_USER_JWT_SECRET or "
                   "PARLEY_USER_JWT_PUBLIC_KEY (docs/identity.md), or PARLEY_INSECURE_DEMO=1",
                   cfg.bind);
            goto out;
        }
        log_at(LL_WARN, "serve",
               "demo mode: customers are not verified (a body userId is "
               "trusted); set PARLEY_USER_JWT_SECRET before facing users");
    }
    http_raise_nofile();
    http_client_set_fds_aside(cfg.max_connections); /* logs the cap */
    rt.sched = sched_start(cfg.sched_threads, 0, &e);
    if (!rt.sched) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }
    struct http_server_options opts = {
        .bind = cfg.bind,
        .port = cfg.port,
        .threads = cfg.http_threads,
        .max_connections = cfg.max_connections,
        .max_per_ip = cfg.max_connections_per_ip,
        .max_body = API_MAX_BODY,
        .request_timeout_s = cfg.request_timeout_s,
        .idle_timeout_s = cfg.idle_timeout_s,
        .handler = api_handle,
        .ud = api,
        .defer = api_would_wait,
        .sched = rt.sched,
    };
    server = http_server_start(&opts, &e);
    if (!server) {
        log_at(LL_ERROR, "serve", "%s", e.message);
        goto out;
    }
    log_at(LL_INFO, "serve", "listening on http://%s:%d (data '%s', store %s, model %s)", cfg.bind,
           http_server_port(server), cfg.data, store_name(rt.store), model_name(rt.model));
    int sig = 0;
    while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) {
        log_at(LL_INFO, "serve",
               "received SIGHUP, reopening the log files and reloading the agent file");
        logfile_reopen_all(); /* after an external logrotate moved them */
        err_clear(&e);
        app_reload_agent(&rt, &e); /* logs its outcome; a failure keeps the running agent */
    }
    log_at(LL_INFO, "serve", "received %s, shutting down (%d turns in flight)",
           sig == SIGINT ? "SIGINT" : "SIGTERM", sched_pending(rt.sched));
    rc = 0;
out:
    if (server)
        http_server_quiesce(server);
    if (rt.sched) {
        int left = sched_stop(rt.sched, cfg.shutdown_grace_ms);
        if (left > 0) {
            /* Their tasks still use the app: freeing it under them would crash. Their turns were
             * not acknowledged (each is one store transaction), so exiting loses nothing. */
            log_at(LL_ERROR, "serve",
                   "%d turns still running after PARLEY_SHUTDOWN_GRACE_MS=%d; exiting without them",
                   left, cfg.shutdown_grace_ms);
            _exit(1);
        }
        rt.sched = NULL;
    }
    http_server_stop(server);
    chat_stream_drain();
    api_free(api);
    app_close(&rt);
    config_release(&cfg);
    if (rc == 0 && server)
        log_at(LL_INFO, "serve", "stopped cleanly");
    return rc;
}

static void worker_usage(FILE *out)
{
    fprintf(out,
            "usage: parley worker [--data DIR] [--threads N]\n\n"
            "Drains the AgentActions queue of the data directory DIR (shared with a running\n"
            "`parley serve`, which may run with PARLEY_WORKERS=0): each queued tool call runs\n"
            "once and its result is stored for the waiting turn. SIGHUP reloads the agent\n"
            "file (its tools); SIGINT/SIGTERM stop.\n");
}

int cli_worker(int argc, char **argv)
{
    struct config cfg;
    struct err e;
    err_clear(&e);
    if (config_load(&cfg, &e) < 0) {
        fprintf(stderr, "parley worker: %s\n", e.message);
        config_release(&cfg);
        return 2;
    }
    int threads = cfg.workers > 0 ? cfg.workers : 1;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            worker_usage(stdout);
            config_release(&cfg);
            return 0;
        }
        if (i + 1 < argc && strcmp(argv[i], "--data") == 0 &&
            config_set(&cfg, "PARLEY_DATA", argv[i + 1], &e) == 0) {
            i++;
        } else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0 && atoi(argv[i + 1]) > 0 &&
                   atoi(argv[i + 1]) <= 64) {
            threads = atoi(argv[++i]);
        } else if (strcmp(argv[i], "--threads") == 0) {
            fprintf(stderr,
                    "parley worker: --threads must be a number of threads from 1 to 64 "
                    "(got '%s')\n",
                    i + 1 < argc ? argv[i + 1] : "nothing");
            config_release(&cfg);
            return 2;
        } else {
            fprintf(stderr, "parley worker: bad option '%s'\n", argv[i]);
            worker_usage(stderr);
            config_release(&cfg);
            return 2;
        }
    }
    enum log_level lvl;
    if (log_level_parse(cfg.log_level, &lvl) == 0)
        log_threshold = lvl;
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    struct app rt = {0};
    int rc = 1;
    if (app_open(&rt, &cfg, APP_WORKER, &e) == 0 && app_start_workers(&rt, threads, &e) == 0) {
        char *backend = app_port_backend(&cfg, APP_PORT_QUEUE);
        log_at(LL_INFO, "worker", "draining AgentActions on %s with %d threads", backend, threads);
        free(backend);
        int sig = 0;
        while (sigwait(&stop, &sig) == 0 && sig == SIGHUP) {
            logfile_reopen_all();
            err_clear(&e); /* the tools of a reloaded agent, as `parley serve` does */
            app_reload_agent(&rt, &e);
        }
        rc = 0;
    } else {
        log_at(LL_ERROR, "worker", "%s", e.message);
    }
    app_close(&rt);
    config_release(&cfg);
    if (rc == 0)
        log_at(LL_INFO, "worker", "stopped cleanly");
    return rc;
}

int cli_version(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    printf("parley %s\n", PARLEY_VERSION);
    return 0;
}
