/*
 * model_select.c - the by-name constructor of the model port (see providers.h): maps the
 * settings table to a provider's configuration and opens that adapter. The only file that knows
 * every adapter.
 */
#include "model/providers.h"

#include <stdio.h>
#include <string.h>

#include "base/config.h"

static const char *or_null(const char *s)
{
    return s && *s ? s : NULL;
}

struct model *model_new_from_config(const char *name, const struct config *c, struct err *err)
{
    if (!name || !*name || strcmp(name, "offline") == 0) {
        return model_offline_new();
    }
    struct model_provider_config cfg = {0};
    cfg.model_id = or_null(c->model_id);
    cfg.timeout_ms = c->model_timeout_ms;
    /* -1 (unset) keeps the provider's default; 0 means no retries, which the providers spell -1. */
    cfg.max_retries = c->model_max_retries < 0
                          ? 0
                          : (c->model_max_retries == 0 ? -1 : c->model_max_retries);
    cfg.max_tokens = c->max_tokens;
    if (strcmp(name, "bedrock") == 0)
        return model_bedrock_new(&cfg, err); /* reads the AWS variables itself */
    if (strcmp(name, "anthropic") == 0) {
        cfg.api_key = or_null(c->anthropic_api_key);
        cfg.base_url = or_null(c->anthropic_base_url);
        return model_anthropic_new(&cfg, err);
    }
    if (strcmp(name, "openai") == 0) {
        cfg.api_key = or_null(c->openai_api_key);
        cfg.base_url = or_null(c->openai_base_url);
        return model_openai_new(&cfg, err);
    }
    err_set(err, "ModelConfig", "unknown model provider '%s' (offline|bedrock|anthropic|openai)",
            name);
    return NULL;
}

struct model *model_new_by_name(const char *name, struct err *err)
{
    struct config c;
    struct model *m = NULL;
    if (config_load(&c, err) < 0) {
        char msg[ERR_MSG_MAX];
        snprintf(msg, sizeof msg, "%s", err->message);
        err_set(err, "ModelConfig", "%s", msg);
        goto out;
    }
    m = model_new_from_config(name, &c, err);
out:
    config_release(&c);
    return m;
}
