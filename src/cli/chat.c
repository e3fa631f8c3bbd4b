/*
 * chat.c - `parley chat`: an interactive terminal conversation with a running server.
 * Each line typed is one POST /chat; the reply and any actions are printed.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/xmalloc.h"
#include "cli/cli.h"
#include "http/client.h"

#define CHAT_REPLY_MAX (1u << 22) /* a reply above 4 MiB is not a chat reply */

/* Sends one message; returns the parsed reply (new ref) or NULL after printing why. A message is
 * not idempotent, so it is sent once, never retried. */
static json_t *send_message(struct http_client *http, const char *url, const char *session,
                            const char *user, const char *text)
{
    static const char *const headers[] = {"Content-Type: application/json"};
    json_t *req = json_pack("{s:s}", "message", text);
    if (session)
        json_object_set_new(req, "sessionId", json_string(session));
    if (user)
        json_object_set_new(req, "userId", json_string(user));
    char *payload = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *endpoint = xasprintf("%s/chat", url);
    struct http_client_request hreq = {.method = "POST",
                                       .url = endpoint,
                                       .headers = headers,
                                       .n_headers = 1,
                                       .body = payload,
                                       .body_len = strlen(payload),
                                       .max_retries = 0};
    struct http_client_response resp;
    struct err e;
    json_t *reply = NULL;
    if (http_client_do(http, &hreq, &resp, &e) < 0) {
        fprintf(stderr, "parley chat: cannot reach %s: %s\n", endpoint, e.message);
    } else {
        reply = resp.body ? json_loads(resp.body, 0, NULL) : NULL;
        if (resp.status != 200) {
            json_t *errobj = json_object_get(reply, "error");
            fprintf(stderr, "parley chat: server answered %ld: %s\n", resp.status,
                    errobj ? json_string_value(json_object_get(errobj, "message"))
                           : (resp.body ? resp.body : ""));
            json_decref(reply);
            reply = NULL;
        }
    }
    http_client_response_release(&resp);
    free(endpoint);
    free(payload);
    return reply;
}

static void print_reply(const json_t *reply)
{
    size_t i;
    json_t *a;
    json_array_foreach(json_object_get(reply, "actions"), i, a) {
        char *input = json_dumps(json_object_get(a, "input"), JSON_COMPACT);
        printf("  [%s %s %s]\n", json_string_value(json_object_get(a, "tool")),
               json_string_value(json_object_get(a, "status")), input ? input : "");
        free(input);
    }
    printf("agent> %s\n", json_string_value(json_object_get(reply, "reply")));
    fflush(stdout);
}

int cli_chat(int argc, char **argv)
{
    struct config cfg;
    struct err e;
    if (config_load(&cfg, &e) < 0) {
        fprintf(stderr, "parley chat: %s\n", e.message);
        config_release(&cfg);
        return 2;
    }
    const char *url = cfg.url, *user = NULL;
    char *session = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            printf("usage: parley chat [--url URL] [--session ID] [--user ID]\n\n"
                   "Opens an interactive conversation with a running `parley serve`.\n"
                   "Type a message and press Enter; an empty line or Ctrl-D ends the chat.\n\n"
                   "  --url URL     server URL (PARLEY_URL, default %s)\n"
                   "  --session ID  continue an existing session\n"
                   "  --user ID     the customer's user id\n",
                   cfg.url);
            config_release(&cfg);
            return 0;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "parley chat: missing value for '%s'\n", argv[i]);
            config_release(&cfg);
            free(session);
            return 2;
        }
        if (strcmp(argv[i], "--url") == 0) {
            url = argv[++i];
        } else if (strcmp(argv[i], "--session") == 0) {
            free(session);
            session = xstrdup(argv[++i]);
        } else if (strcmp(argv[i], "--user") == 0) {
            user = argv[++i];
        } else {
            fprintf(stderr, "parley chat: unknown option '%s'\n", argv[i]);
            config_release(&cfg);
            free(session);
            return 2;
        }
    }
    struct http_client_config hc = {.timeout_ms = 120000,
                                    .max_response_bytes = CHAT_REPLY_MAX,
                                    .max_retries = -1,
                                    .max_idle_handles = 1};
    struct http_client *http = http_client_new(&hc);
    char line[8192];
    int rc = 0;
    printf("Connected to %s. Type a message; an empty line ends the chat.\n", url);
    for (;;) {
        printf("you> ");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            break;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            break;
        json_t *reply = send_message(http, url, session, user, line);
        if (!reply) {
            rc = 1;
            continue;
        }
        if (!session) {
            session = xstrdup(json_string_value(json_object_get(reply, "sessionId")));
            printf("(session %s)\n", session);
        }
        print_reply(reply);
        json_decref(reply);
    }
    http_client_free(http);
    free(session);
    config_release(&cfg);
    return rc;
}
