/*
 * chat.c - `parley chat`: an interactive terminal conversation with a running server.
 * Each line typed is one POST /chat; the reply and any actions are printed.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/xmalloc.h"
#include "cli/cli.h"

struct body {
    char *data; /* response bytes */
    size_t len; /* bytes in data */
};

static size_t on_data(char *p, size_t size, size_t n, void *ud)
{
    struct body *b = ud;
    size_t add = size * n;
    if (b->len + add > (1u << 22))
        return 0; /* a reply above 4 MiB is not a chat reply */
    b->data = xrealloc(b->data, b->len + add + 1);
    memcpy(b->data + b->len, p, add);
    b->len += add;
    b->data[b->len] = '\0';
    return add;
}

/* Sends one message; returns the parsed reply (new ref) or NULL after printing why. */
static json_t *send_message(CURL *curl, const char *url, const char *session, const char *user,
                            const char *text)
{
    json_t *req = json_pack("{s:s}", "message", text);
    if (session)
        json_object_set_new(req, "sessionId", json_string(session));
    if (user)
        json_object_set_new(req, "userId", json_string(user));
    char *payload = json_dumps(req, JSON_COMPACT);
    json_decref(req);
    char *endpoint = xasprintf("%s/chat", url);
    struct body b = {NULL, 0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(curl, CURLOPT_URL, endpoint);
    curl_easy_setopt(curl, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(curl, CURLOPT_POSTFIELDS, payload);
    curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(curl, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(curl, CURLOPT_TIMEOUT, 120L);
    CURLcode cc = curl_easy_perform(curl);
    long status = 0;
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &status);
    json_t *reply = NULL;
    if (cc != CURLE_OK) {
        fprintf(stderr, "parley chat: cannot reach %s: %s\n", endpoint, curl_easy_strerror(cc));
    } else {
        reply = b.data ? json_loads(b.data, 0, NULL) : NULL;
        if (status != 200) {
            json_t *errobj = json_object_get(reply, "error");
            fprintf(stderr, "parley chat: server answered %ld: %s\n", status,
                    errobj ? json_string_value(json_object_get(errobj, "message"))
                           : (b.data ? b.data : ""));
            json_decref(reply);
            reply = NULL;
        }
    }
    curl_slist_free_all(hdrs);
    free(b.data);
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
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *curl = curl_easy_init();
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
        json_t *reply = send_message(curl, url, session, user, line);
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
    curl_easy_cleanup(curl);
    curl_global_cleanup();
    free(session);
    config_release(&cfg);
    return rc;
}
