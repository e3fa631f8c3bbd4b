/*
 * chat.c - `parley chat`: an interactive terminal conversation with a running server.
 * Each line typed is one POST /chat with `Accept: text/event-stream`: reply text is printed as it
 * arrives, each action as a line ("  [tool status input]"), then what a human operator wrote.
 * Lines starting with '/' are commands (/new, /history, /quit, /help).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/config.h"
#include "base/jsontext.h"
#include "base/xmalloc.h"
#include "cli/cli.h"
#include "http/client.h"

#define CHAT_REPLY_MAX (1u << 22) /* a reply above 4 MiB is not a chat reply */
#define CHAT_EVENT_MAX (1u << 20) /* one SSE event above 1 MiB is not ours */

/* ---- One streamed turn ---------------------------------------------------------------------- */

/* What one POST /chat stream has shown and received. */
struct turn_view {
    struct buf pending; /* bytes not yet split into events */
    int in_text;        /* "agent> " printed and the line not ended */
    int printed_text;   /* any reply text shown */
    json_t *done;       /* the done event's object, or NULL */
    char failure[512];  /* the error event's "code: message", or "" */
};

static void end_text_line(struct turn_view *v)
{
    if (v->in_text) {
        fputc('\n', stdout);
        v->in_text = 0;
    }
}

static void print_action(const json_t *a)
{
    char *input = jsontext_dump(json_object_get(a, "input"));
    const char *tool = json_string_value(json_object_get(a, "tool"));
    const char *status = json_string_value(json_object_get(a, "status"));
    printf("  [%s %s %s]\n", tool ? tool : "?", status ? status : "?", input ? input : "");
    free(input);
}

/* Prints one operator message as "NAME (operator)> text", or "operator> text" without a name. */
static void print_operator(const json_t *m)
{
    const char *name = json_string_value(json_object_get(m, "name"));
    const char *text = json_string_value(json_object_get(m, "content"));
    if (name && *name)
        printf("%s (operator)> %s\n", name, text ? text : "");
    else
        printf("operator> %s\n", text ? text : "");
}

/* Handles one complete event; returns 0, or -1 to stop the transfer. */
static int on_event(struct turn_view *v, const char *event, const char *data)
{
    json_t *j = json_loads(data, 0, NULL);
    if (!json_is_object(j)) {
        json_decref(j);
        snprintf(v->failure, sizeof v->failure, "malformed %s event from the server", event);
        return -1;
    }
    if (strcmp(event, "delta") == 0) {
        const char *t = json_string_value(json_object_get(j, "text"));
        if (t && *t) {
            if (!v->in_text) {
                fputs("agent> ", stdout);
                v->in_text = 1;
            }
            fputs(t, stdout);
            v->printed_text = 1;
        }
    } else if (strcmp(event, "action") == 0) {
        end_text_line(v);
        print_action(j);
    } else if (strcmp(event, "done") == 0) {
        json_decref(v->done);
        v->done = json_incref(j);
    } else if (strcmp(event, "error") == 0) {
        json_t *e = json_object_get(j, "error");
        const char *code = json_string_value(json_object_get(e, "code"));
        const char *msg = json_string_value(json_object_get(e, "message"));
        snprintf(v->failure, sizeof v->failure, "%s: %s", code ? code : "Error",
                 msg ? msg : "no message");
    }
    fflush(stdout);
    json_decref(j);
    return 0;
}

/* Splits one event block into its "event:" name and joined "data:" lines and handles it. */
static int dispatch_block(struct turn_view *v, char *block)
{
    char event[32] = "message";
    struct buf data;
    int rc = 0, has_data = 0;
    char *save = NULL;
    buf_init(&data, strlen(block) + 1);
    for (char *line = strtok_r(block, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (l > 0 && line[l - 1] == '\r')
            line[l - 1] = '\0';
        if (strncmp(line, "event:", 6) == 0) {
            snprintf(event, sizeof event, "%s", line + 6 + (line[6] == ' '));
        } else if (strncmp(line, "data:", 5) == 0) {
            if (has_data)
                buf_add_char(&data, '\n');
            buf_add_str(&data, line + 5 + (line[5] == ' '));
            has_data = 1;
        }
    }
    if (has_data)
        rc = on_event(v, event, buf_str(&data));
    buf_release(&data);
    return rc;
}

/* http_client on_data: feeds stream bytes, handling every complete event. */
static int on_stream_data(void *ud, const char *data, size_t len)
{
    struct turn_view *v = ud;
    if (buf_add(&v->pending, data, len) < 0) {
        snprintf(v->failure, sizeof v->failure, "an event from the server exceeds %u bytes",
                 CHAT_EVENT_MAX);
        return -1;
    }
    for (;;) {
        const char *s = buf_str(&v->pending);
        const char *sep = strstr(s, "\n\n");
        if (!sep)
            return 0;
        size_t used = (size_t)(sep - s) + 2;
        char *block = xasprintf("%.*s", (int)(sep - s), s);
        char *rest = xstrdup(s + used);
        buf_reset(&v->pending);
        buf_add_str(&v->pending, rest);
        free(rest);
        int rc = dispatch_block(v, block);
        free(block);
        if (rc < 0)
            return -1;
    }
}

/* Prints the end of a turn: the reply when nothing was streamed, then operator messages. */
static void print_done(struct turn_view *v)
{
    const json_t *d = v->done;
    if (!v->printed_text) {
        const char *reply = json_string_value(json_object_get(d, "reply"));
        if (reply && *reply)
            printf("agent> %s", reply);
        v->in_text = reply && *reply;
    }
    end_text_line(v);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(d, "operatorMessages"), i, m)
        print_operator(m);
    fflush(stdout);
}

/* Sends one message and shows the turn as it streams. Returns the done object (new ref) or NULL
 * after printing why. A message is not idempotent, so it is sent once, never retried. */
static json_t *send_message(struct http_client *http, const char *url, const char *session,
                            const char *user, const char *text)
{
    static const char *const headers[] = {"Content-Type: application/json",
                                          "Accept: text/event-stream"};
    json_t *req = json_pack("{s:s}", "message", text);
    if (session)
        json_object_set_new(req, "sessionId", json_string(session));
    if (user)
        json_object_set_new(req, "userId", json_string(user));
    char *payload = jsontext_dump(req);
    json_decref(req);
    char *endpoint = xasprintf("%s/chat", url);
    struct turn_view v;
    memset(&v, 0, sizeof v);
    buf_init(&v.pending, CHAT_EVENT_MAX);
    struct http_client_request hreq = {.method = "POST",
                                       .url = endpoint,
                                       .headers = headers,
                                       .n_headers = 2,
                                       .body = payload,
                                       .body_len = strlen(payload),
                                       .max_retries = 0,
                                       .on_data = on_stream_data,
                                       .ud = &v};
    struct http_client_response resp;
    struct err e;
    json_t *done = NULL;
    int rc = http_client_do(http, &hreq, &resp, &e);
    end_text_line(&v);
    if (rc < 0 && !v.failure[0]) {
        fprintf(stderr, "parley chat: cannot reach %s: %s\n", endpoint, e.message);
    } else if (rc == 0 && (resp.status < 200 || resp.status > 299)) {
        json_t *body = resp.body ? json_loads(resp.body, 0, NULL) : NULL;
        const char *msg = json_string_value(
            json_object_get(json_object_get(body, "error"), "message"));
        fprintf(stderr, "parley chat: server answered %ld: %s\n", resp.status,
                msg ? msg : (resp.body ? resp.body : ""));
        json_decref(body);
    } else if (v.failure[0]) {
        fprintf(stderr, "parley chat: the turn failed: %s\n", v.failure);
    } else if (!v.done) {
        fprintf(stderr, "parley chat: the server ended the stream before the reply\n");
    } else {
        print_done(&v);
        done = json_incref(v.done);
    }
    json_decref(v.done);
    buf_release(&v.pending);
    http_client_response_release(&resp);
    free(endpoint);
    free(payload);
    return done;
}

/* ---- Commands ------------------------------------------------------------------------------- */

/* GETs url+path; returns the JSON body of a 200 (new ref) or NULL after printing why. */
static json_t *get_json(struct http_client *http, const char *url, const char *path)
{
    char *endpoint = xasprintf("%s%s", url, path);
    struct http_client_request hreq = {.method = "GET", .url = endpoint, .max_retries = 0};
    struct http_client_response resp;
    struct err e;
    json_t *out = NULL;
    if (http_client_do(http, &hreq, &resp, &e) < 0)
        fprintf(stderr, "parley chat: cannot reach %s: %s\n", url, e.message);
    else if (resp.status != 200)
        fprintf(stderr, "parley chat: server answered %ld to GET %s\n", resp.status, path);
    else
        out = json_loadb(resp.body ? resp.body : "", resp.body_len, 0, NULL);
    http_client_response_release(&resp);
    free(endpoint);
    return out;
}

/* /history: the session's transcript as the server keeps it. */
static void show_history(struct http_client *http, const char *url, const char *session)
{
    if (!session) {
        printf("(no conversation yet)\n");
        return;
    }
    char *path = xasprintf("/sessions/%s", session);
    json_t *doc = get_json(http, url, path);
    free(path);
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(doc, "messages"), i, m) {
        const char *role = json_string_value(json_object_get(m, "role"));
        json_t *c = json_object_get(m, "content");
        char *text = json_is_string(c) ? xstrdup(json_string_value(c)) : jsontext_dump(c);
        role = role ? role : "?";
        if (strcmp(role, "operator") == 0)
            print_operator(m);
        else if (strcmp(role, "tool") == 0)
            printf("  [%s]\n", text ? text : "");
        else if (text && *text)
            printf("%s> %s\n", strcmp(role, "user") == 0 ? "you" : "agent", text);
        free(text);
    }
    json_decref(doc);
}

static void print_usage(const char *url)
{
    printf(
        "usage: parley chat [--url URL] [--session ID] [--user ID]\n\n"
        "Opens an interactive conversation with a running `parley serve`. Type a message and\n"
        "press Enter: the reply is shown as it is written, each action as a line\n"
        "\"  [tool status input]\", and what a human operator wrote as \"NAME (operator)> ...\".\n"
        "An empty line or Ctrl-D ends the chat. Commands:\n"
        "  /new      start a new conversation\n"
        "  /history  show this conversation as the server keeps it\n"
        "  /quit     end the chat\n\n"
        "  --url URL     server URL (PARLEY_URL, default %s)\n"
        "  --session ID  continue an existing session\n"
        "  --user ID     the customer's user id (the demo orders 1042-1044 belong to `demo`)\n",
        url);
}

int cli_chat(int argc, char **argv)
{
    struct config cfg;
    struct err e;
    int rc = 2;
    char *session = NULL;
    struct http_client *http = NULL;
    json_t *health = NULL;
    if (config_load(&cfg, &e) < 0) {
        fprintf(stderr, "parley chat: %s\n", e.message);
        goto out;
    }
    const char *url = cfg.url, *user = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            print_usage(cfg.url);
            rc = 0;
            goto out;
        }
        if (i + 1 >= argc) {
            fprintf(stderr, "parley chat: missing value for '%s'\n", argv[i]);
            goto out;
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
            goto out;
        }
    }
    struct http_client_config hc = {.timeout_ms = 120000,
                                    .max_response_bytes = CHAT_REPLY_MAX,
                                    .max_retries = -1,
                                    .max_idle_handles = 1};
    http = http_client_new(&hc);
    health = get_json(http, url, "/health");
    if (!health) {
        fprintf(stderr,
                "parley chat: no Parley server at %s (start one with `parley serve`, "
                "or pass --url)\n",
                url);
        rc = 1;
        goto out;
    }
    printf("Connected to %s. Type a message; /help lists commands, an empty line ends the chat.\n",
           url);
    char line[8192];
    rc = 0;
    for (;;) {
        printf("you> ");
        fflush(stdout);
        if (!fgets(line, sizeof line, stdin))
            break;
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0] || strcmp(line, "/quit") == 0)
            break;
        if (strcmp(line, "/new") == 0) {
            free(session);
            session = NULL;
            printf("(new conversation)\n");
            continue;
        }
        if (strcmp(line, "/history") == 0) {
            show_history(http, url, session);
            continue;
        }
        if (strcmp(line, "/help") == 0) {
            printf("/new, /history, /quit; anything else is sent to the agent\n");
            continue;
        }
        json_t *reply = send_message(http, url, session, user, line);
        if (!reply) {
            rc = 1;
            continue;
        }
        const char *sid = json_string_value(json_object_get(reply, "sessionId"));
        if (!session && sid) {
            session = xstrdup(sid);
            printf("(session %s)\n", session);
        }
        json_decref(reply);
    }
out:
    json_decref(health);
    http_client_free(http);
    free(session);
    config_release(&cfg);
    return rc;
}
