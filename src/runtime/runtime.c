/*
 * runtime.c - builds the runtime from the settings; see runtime.h.
 */
#include "runtime/runtime.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "agent/guard.h"
#include "agent/kb.h"
#include "agent/tools.h"
#include "base/clock.h"
#include "base/log.h"
#include "base/xmalloc.h"
#include "bus/bus.h"
#include "model/providers.h"
#include "runtime/analytics.h"
#include "runtime/workflow_local.h"
#include "store/store.h"

char *runtime_asset_path(const char *path)
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

static int make_dir(const char *path, struct err *err)
{
    if (mkdir(path, 0755) == 0 || errno == EEXIST)
        return 0;
    return err_set(err, "InvalidConfig", "cannot create data directory '%s': %s", path,
                   strerror(errno));
}

int runtime_open(struct runtime *rt, struct config *cfg, struct err *err)
{
    memset(rt, 0, sizeof *rt);
    rt->cfg = cfg;
    rt->started_ms = clock_now_ms();
    if (make_dir(cfg->data, err) < 0)
        goto fail;
    char *db_path = xasprintf("%s/parley.db", cfg->data);
    rt->store = store_sqlite_new(db_path, cfg->store_pool, err);
    free(db_path);
    if (!rt->store)
        goto fail;
    char *kb_dir = runtime_asset_path(cfg->kb_dir);
    rt->kb = kb_load(kb_dir, err);
    if (!rt->kb)
        log_at(LL_WARN, "runtime", "knowledge base unavailable (search_knowledge_base is off): %s",
               err->message);
    free(kb_dir);
    err_clear(err);
    if (!(rt->tools = tools_new(rt->kb, err)))
        goto fail;
    rt->model = model_new_by_name(cfg->model, err);
    if (!rt->model) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        err_set(err, "InvalidConfig", "cannot start model '%s': %s", cfg->model, msg);
        goto fail;
    }
    unsigned redact = 0;
    if (guard_kinds_parse(cfg->redact, &redact) < 0) {
        err_set(err, "InvalidConfig", "PARLEY_REDACT must be all, none or a list of email,phone,card"
                " (got '%s')", cfg->redact);
        goto fail;
    }
    struct bus_local_config bcfg = {.data_dir = cfg->data,
                                    .rules_path = cfg->event_rules[0] ? cfg->event_rules : NULL};
    if (!(rt->bus = bus_local_new(&bcfg, err)))
        goto fail;
    rt->analytics = analytics_new();
    bus_set_analytics_sink(rt->bus, analytics_sink, rt->analytics);
    rt->agent = (struct agent){.cfg = cfg, .store = rt->store, .model = rt->model,
                               .tools = rt->tools, .kb = rt->kb, .bus = rt->bus,
                               .redact = redact};
    char *asl = runtime_asset_path(cfg->statemachine);
    rt->workflow = workflow_local_new(&rt->agent, asl, err);
    free(asl);
    if (!rt->workflow)
        goto fail;
    workflow_local_attach(rt->workflow, &rt->agent);
    rt->web_dir = runtime_asset_path("web");
    return 0;
fail:
    runtime_close(rt);
    return -1;
}

void runtime_close(struct runtime *rt)
{
    workflow_local_free(rt->workflow);
    bus_free(rt->bus); /* delivers every accepted event first */
    analytics_free(rt->analytics);
    model_free(rt->model);
    tools_free(rt->tools);
    kb_free(rt->kb);
    store_free(rt->store);
    free(rt->web_dir);
    struct config *cfg = rt->cfg;
    memset(rt, 0, sizeof *rt);
    rt->cfg = cfg;
}
