/*
 * offline_policy.c - the offline model's dialogue policy; see offline_policy.h for the flows and
 * the stateless design. Sections: request reading, tools, ticket flow, intent dispatch, tool result
 * summaries, entry point.
 */
#include "model/offline_policy.h"

#include <ctype.h>
#include <pthread.h>
#include <regex.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/buf.h"
#include "base/text.h"
#include "base/xmalloc.h"
#include "model/offline_custom.h"
#include "model/offline_intents.h"
#include "model/offline_slots.h"

/* Longest customer quote copied into a ticket or a search query. */
#define MAX_QUOTE 1000
#define MAX_QUERY 300
/* Longest knowledge-base passage quoted in an answer. */
#define MAX_PASSAGE 700
/* Tool result text parsed as JSON up to this size. */
#define MAX_RESULT 65536
/* Tickets listed by name in a list_my_tickets summary. */
#define MAX_LISTED 10

#define SUPPORT_CONTACT                                                                            \
    "support@parleydemo.example or +31 10 000 0000 (Monday to Friday 8:00-20:00, Saturday "        \
    "10:00-16:00 CET)"

/* ------------------------------------------------------------------------------------------------
 * Tools (a closed set, STYLE rule 16)
 * --------------------------------------------------------------------------------------------- */

enum tool {
    T_CREATE_TICKET,
    T_TICKET_STATUS,
    T_LIST_TICKETS,
    T_LOOKUP_ORDER,
    T_SEARCH_KB,
    T_ESCALATE,
    T_COUNT
};

static const struct {
    const char *name;
    const char *cannot; /* what we say when the tool is not on offer */
} tools[T_COUNT] = {
    [T_CREATE_TICKET] = {"create_support_ticket", "open support tickets"},
    [T_TICKET_STATUS] = {"get_ticket_status", "check ticket status"},
    [T_LIST_TICKETS] = {"list_my_tickets", "list your tickets"},
    [T_LOOKUP_ORDER] = {"lookup_order", "look up orders"},
    [T_SEARCH_KB] = {"search_knowledge_base", "search our help articles"},
    [T_ESCALATE] = {"escalate_to_human", "hand the conversation to a person"},
};

/* ------------------------------------------------------------------------------------------------
 * Context: what the request tells us
 * --------------------------------------------------------------------------------------------- */

struct ctx {
    const json_t *msgs; /* the request's messages array (borrowed) */
    size_t start, n;    /* the window: msgs[start..n) */
    unsigned offered;   /* bit per enum tool listed in the request's tools */
    size_t user_idx;    /* index of the last user message */
    char *user;         /* its text (owned) */
    char *prev;         /* text of the assistant message before it (owned, "" if none) */
    struct offline_intent intent;
    struct offline_slots slots;
    const struct offline_custom *custom; /* custom tools and their classifier, or NULL */
    const json_t *tools;                 /* the request's tools array (borrowed) */
};

static int offered(const struct ctx *c, enum tool t)
{
    return (c->offered >> t) & 1u;
}

/* Classifies text with the custom tools' classifier when there is one, else the built-in one. */
static void classify(const struct ctx *c, const char *text, struct offline_intent *out)
{
    offline_intents_classify_with(c->custom ? offline_custom_nb(c->custom) : NULL, text, out);
}

/* Index of the custom tool named name that the request offers, or -1. */
static int custom_offered(const struct ctx *c, const char *name)
{
    size_t i;
    const json_t *t;
    if (offline_custom_find(c->custom, name) < 0)
        return -1;
    json_array_foreach(c->tools, i, t) {
        const char *n = json_string_value(json_object_get(t, "name"));
        if (n && strcmp(n, name) == 0)
            return offline_custom_find(c->custom, name);
    }
    return -1;
}

static const char *role_of(const json_t *msg)
{
    const char *r = json_string_value(json_object_get(msg, "role"));
    return r ? r : "";
}

/* Appends to b as much of text as keeps b's text (not counting the '\n' joining parts) within
 * cap bytes: a long message is cut, by design. b's own cap is cap + 1, which this never passes. */
static void append_capped(struct buf *b, const char *text, size_t cap)
{
    size_t add = strnlen(text, cap);
    if (b->len + add > cap)
        add = cap > b->len ? cap - b->len : 0;
    if (b->len > 0 && add > 0)
        buf_add_char(b, '\n');
    buf_add(b, text, add);
}

/* Returns the text of a message (string content or its text blocks), owned, capped. */
static char *message_text(const json_t *msg)
{
    struct buf b;
    buf_init(&b, OFFLINE_POLICY_MAX_TEXT + 1);
    const json_t *content = json_object_get(msg, "content");
    if (json_is_string(content)) {
        append_capped(&b, json_string_value(content), OFFLINE_POLICY_MAX_TEXT);
    } else if (json_is_array(content)) {
        size_t i;
        const json_t *blk;
        json_array_foreach(content, i, blk) {
            const char *type = json_string_value(json_object_get(blk, "type"));
            const char *t = json_string_value(json_object_get(blk, "text"));
            if (type && strcmp(type, "text") == 0 && t)
                append_capped(&b, t, OFFLINE_POLICY_MAX_TEXT);
        }
    }
    return buf_take(&b, NULL);
}

static int has_block(const json_t *msg, const char *type)
{
    const json_t *content = json_object_get(msg, "content");
    size_t i;
    const json_t *b;
    if (!json_is_array(content))
        return 0;
    json_array_foreach(content, i, b) {
        const char *t = json_string_value(json_object_get(b, "type"));
        if (t && strcmp(t, type) == 0)
            return 1;
    }
    return 0;
}

/* Index of the last message before `before` with this role that carries text, or SIZE_MAX. */
static size_t find_back(const struct ctx *c, size_t before, const char *role)
{
    for (size_t i = before; i > c->start; i--) {
        const json_t *m = json_array_get(c->msgs, i - 1);
        if (strcmp(role_of(m), role) != 0)
            continue;
        if (has_block(m, "tool_result"))
            continue;
        char *t = message_text(m);
        int has_text = t[0] != '\0';
        free(t);
        if (has_text)
            return i - 1;
    }
    return SIZE_MAX;
}

/* Counts the assistant's consecutive unresolved replies (fallbacks and re-asks) before the last
 * user message. */
static int unresolved_streak(const struct ctx *c)
{
    int streak = 0;
    for (size_t i = c->user_idx; i > c->start; i--) {
        const json_t *m = json_array_get(c->msgs, i - 1);
        if (strcmp(role_of(m), "assistant") != 0)
            continue;
        if (has_block(m, "tool_use"))
            break;
        char *t = message_text(m);
        int unresolved = strstr(t, OFFLINE_MARK_FALLBACK) || strstr(t, OFFLINE_MARK_REASK);
        free(t);
        if (!unresolved)
            break;
        streak++;
    }
    return streak;
}

/* Finds an e-mail address the customer gave earlier in the window. */
static void earlier_email(const struct ctx *c, char *out, size_t cap)
{
    for (size_t i = c->user_idx; i > c->start; i--) {
        const json_t *m = json_array_get(c->msgs, i - 1);
        if (strcmp(role_of(m), "user") != 0)
            continue;
        char *t = message_text(m);
        struct offline_slots s;
        offline_slots_extract(t, &s);
        free(t);
        if (s.email[0]) {
            snprintf(out, cap, "%s", s.email);
            return;
        }
    }
}

/* Returns 1 when intent names a problem worth a ticket. */
static int is_issue_intent(const char *intent)
{
    static const char *const issues[] = {"login_problem",
                                         "account_locked",
                                         "account_compromised",
                                         "two_factor",
                                         "password_reset",
                                         "report_problem",
                                         "complaint",
                                         "billing_question",
                                         "order_status",
                                         "refund_request",
                                         "return_item",
                                         "update_payment",
                                         "change_email",
                                         "delete_account",
                                         "product_question",
                                         "shipping_info",
                                         "cancel_subscription",
                                         "unknown",
                                         NULL};
    for (int i = 0; issues[i]; i++)
        if (strcmp(intent, issues[i]) == 0)
            return 1;
    return 0;
}

/* Finds the customer's problem report: the nearest user message before `before` whose intent is a
 * problem (skipping "yes", e-mail answers and the like). Returns its text (owned) or NULL. */
static char *find_report(const struct ctx *c, size_t before, struct offline_intent *intent)
{
    for (size_t i = before; i > c->start; i--) {
        const json_t *m = json_array_get(c->msgs, i - 1);
        if (strcmp(role_of(m), "user") != 0 || has_block(m, "tool_result"))
            continue;
        char *t = message_text(m);
        struct offline_intent it;
        classify(c, t, &it);
        struct offline_slots s;
        offline_slots_extract(t, &s);
        /* an answer that is only an address or a number is not the report */
        int only_slot = strcmp(it.name, "provide_info") == 0 ||
                        (strcmp(it.name, "unknown") == 0 && (s.email[0] || s.order_id[0]));
        if (t[0] && !only_slot && is_issue_intent(it.name)) {
            if (intent)
                *intent = it;
            return t;
        }
        free(t);
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------------
 * Phrases the policy reads itself (the classifier has no intent for them)
 * --------------------------------------------------------------------------------------------- */

enum phrase {
    P_CANNOT_SAY,  /* the customer cannot give what was asked: "I don't remember it", "dunno" */
    P_ALL_TICKETS, /* "my tickets", "all of them": a list, not one ticket */
    P_DONE,        /* "that's all", "nothing else": the conversation is over */
    P_COUNT
};

static const char *const phrase_patterns[P_COUNT] = {
    [P_CANNOT_SAY] = "(^|[^a-z])((do ?n[o']?t|can[o']?t|cannot|could ?n[o']?t|did ?n[o']?t) "
                     "(remember|recall|know|find|say|see|have (it|one|that|the|access))|"
                     "forg[eo]t|no idea|dunno|no clue|not sure|lost (it|access)|no longer have|"
                     "no access|no way to (find|know|get))([^a-z]|$)",
    [P_ALL_TICKETS] = "(^|[^a-z])(tickets|all of them|(list|show)( me)? (them|all)|every ticket|"
                      "each (one|ticket))([^a-z]|$)",
    [P_DONE] = "(^|[^a-z])(that'?s (all|it|everything)|that('?ll| will) be all|nothing (else|more)|"
               "all (good|sorted|set|done)|i'?m (good|fine|done|all set))([^a-z]|$)",
};

/* Compiled once, matched by every request thread at once (text_re keeps a copy per thread). */
static struct text_re *phrase_re[P_COUNT];
static pthread_once_t phrase_once = PTHREAD_ONCE_INIT;

static void phrase_compile(void)
{
    for (int i = 0; i < P_COUNT; i++) {
        phrase_re[i] = text_re_new(phrase_patterns[i], REG_EXTENDED | REG_ICASE | REG_NOSUB, NULL,
                                   0);
        if (!phrase_re[i])
            abort(); /* a pattern of ours that does not compile is our bug */
    }
}

/* 1 when text says phrase p; a typographic apostrophe counts as a plain one. */
static int says(const char *text, enum phrase p)
{
    pthread_once(&phrase_once, phrase_compile);
    char *plain = xmalloc(strlen(text) + 1);
    size_t o = 0;
    for (const char *q = text; *q; q++) {
        if (strncmp(q, "\xe2\x80\x99", 3) == 0) { /* U+2019 */
            plain[o++] = '\'';
            q += 2;
        } else {
            plain[o++] = *q;
        }
    }
    plain[o] = '\0';
    int hit = text_re_exec(phrase_re[p], plain, 0, NULL, 0) == 0;
    free(plain);
    return hit;
}

/* 1 when the customer says they cannot give the detail asked for. "I forgot my password" is a
 * password question, not an answer to "what's your email". */
static int cannot_say(const struct ctx *c)
{
    return says(c->user, P_CANNOT_SAY) && !strcasestr(c->user, "password") &&
           !strcasestr(c->user, "code");
}

/* ------------------------------------------------------------------------------------------------
 * Reply helpers
 * --------------------------------------------------------------------------------------------- */

static void say(struct offline_reply *out, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void say(struct offline_reply *out, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    free(out->text);
    out->text = xvasprintf(fmt, ap);
    va_end(ap);
}

static void call(struct offline_reply *out, enum tool t, json_t *input)
{
    out->tool = tools[t].name;
    out->input = input;
}

static void cannot(struct offline_reply *out, enum tool t)
{
    say(out,
        "I'm sorry, I can't %s in this setup, because that tool isn't available to me. You can "
        "reach our support team at " SUPPORT_CONTACT ".",
        tools[t].cannot);
}

/* Copies at most cap bytes of s, cut at a word boundary with "..." when shortened. */
static char *clip(const char *s, size_t cap)
{
    size_t len = strlen(s);
    if (len <= cap)
        return xstrdup(s);
    size_t cut = cap;
    while (cut > cap / 2 && !isspace((unsigned char)s[cut]))
        cut--;
    /* do not split a UTF-8 sequence */
    while (cut > 0 && ((unsigned char)s[cut] & 0xc0) == 0x80)
        cut--;
    char *r = xmalloc(cut + 4);
    memcpy(r, s, cut);
    memcpy(r + cut, "...", 4);
    return r;
}

/* Collapses runs of whitespace into single spaces and trims. Returns owned text. */
static char *squash(const char *s)
{
    char *r = xmalloc(strlen(s) + 1);
    size_t o = 0;
    int space = 0;
    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            space = o > 0;
            continue;
        }
        if (space)
            r[o++] = ' ';
        space = 0;
        r[o++] = *s;
    }
    r[o] = '\0';
    return r;
}

/* ------------------------------------------------------------------------------------------------
 * Ticket flow
 * --------------------------------------------------------------------------------------------- */

static int is_access_intent(const char *intent)
{
    return strcmp(intent, "login_problem") == 0 || strcmp(intent, "account_locked") == 0 ||
           strcmp(intent, "account_compromised") == 0 || strcmp(intent, "two_factor") == 0 ||
           strcmp(intent, "password_reset") == 0;
}

static char *ticket_title(const char *intent, const char *report)
{
    if (strcmp(intent, "login_problem") == 0)
        return xstrdup("Unable to log in to account");
    if (strcmp(intent, "account_locked") == 0)
        return xstrdup("Account locked");
    if (strcmp(intent, "account_compromised") == 0)
        return xstrdup("Account compromised: possible takeover");
    if (strcmp(intent, "two_factor") == 0)
        return xstrdup("Two-factor authentication problem");
    if (strcmp(intent, "password_reset") == 0)
        return xstrdup("Password reset problem");
    char *flat = squash(report);
    char *cut = clip(flat, 60);
    char *title = xasprintf("Customer report: %s", cut[0] ? cut : "support request");
    free(flat);
    free(cut);
    return title;
}

/* Picks the priority: what the customer said anywhere from the report on, else high for access
 * problems, else medium. */
static const char *ticket_priority(const struct ctx *c, const char *intent, size_t report_idx)
{
    static const char *const levels[] = {"low", "medium", "high", "urgent"};
    const char *said = NULL;
    if (strcmp(intent, "account_compromised") == 0)
        return "urgent"; /* someone else holds the account: never wait in a queue */
    for (size_t i = report_idx; i < c->n; i++) {
        const json_t *m = json_array_get(c->msgs, i);
        if (strcmp(role_of(m), "user") != 0)
            continue;
        char *t = message_text(m);
        struct offline_slots s;
        offline_slots_extract(t, &s);
        free(t);
        for (int l = 0; l < 4; l++)
            if (strcmp(s.priority, levels[l]) == 0)
                said = levels[l];
    }
    if (said)
        return said;
    return is_access_intent(intent) ? "high" : "medium";
}

/* Index of the user message whose text is report (searching back from before), for priority. */
static size_t report_index(const struct ctx *c, size_t before, const char *report)
{
    for (size_t i = before; i > c->start; i--) {
        const json_t *m = json_array_get(c->msgs, i - 1);
        if (strcmp(role_of(m), "user") != 0)
            continue;
        char *t = message_text(m);
        int same = strcmp(t, report) == 0;
        free(t);
        if (same)
            return i - 1;
    }
    return c->user_idx;
}

/* Emits create_support_ticket for report (intent it) with email. */
static void create_ticket(struct ctx *c, struct offline_reply *out, const char *report,
                          const char *intent, const char *email)
{
    if (!offered(c, T_CREATE_TICKET)) {
        cannot(out, T_CREATE_TICKET);
        return;
    }
    size_t ri = report_index(c, c->user_idx + 1, report);
    char *flat = squash(report);
    char *quote = clip(flat, MAX_QUOTE);
    struct offline_slots s;
    offline_slots_extract(report, &s);
    char *desc = s.date[0]
                     ? xasprintf("Customer reported: \"%s\" (date mentioned: %s). Contact "
                                 "email: %s.",
                                 quote, s.date, email)
                     : xasprintf("Customer reported: \"%s\". Contact email: %s.", quote, email);
    char *title = ticket_title(intent, report);
    json_t *input = json_pack("{s:s, s:s, s:s, s:s}", "title", title, "description", desc,
                              "priority", ticket_priority(c, intent, ri), "email", email);
    call(out, T_CREATE_TICKET, input);
    free(flat);
    free(quote);
    free(desc);
    free(title);
}

static void ask_email(struct offline_reply *out, const char *intent)
{
    if (strcmp(intent, "account_compromised") == 0)
        say(out, "I'm sorry, that's serious. I'll open an urgent ticket so our security team can "
                 "secure your account right away. To do that, " OFFLINE_ASK_EMAIL "?");
    else if (strcmp(intent, "login_problem") == 0 || strcmp(intent, "account_locked") == 0)
        say(out, "I'm sorry you're having trouble getting into your account. I can open a support "
                 "ticket so our team can sort it out. To do that, " OFFLINE_ASK_EMAIL "?");
    else
        say(out, "I'm sorry about that. I can open a support ticket so our team can look into "
                 "it. To do that, " OFFLINE_ASK_EMAIL "?");
}

/* Starts or completes the ticket flow for a report: creates the ticket when an e-mail address is
 * known, asks for it otherwise. */
static void ticket_flow(struct ctx *c, struct offline_reply *out, const char *report,
                        const char *intent)
{
    char email[256] = "";
    snprintf(email, sizeof email, "%s", c->slots.email);
    if (!email[0])
        earlier_email(c, email, sizeof email);
    if (!offered(c, T_CREATE_TICKET)) {
        cannot(out, T_CREATE_TICKET);
        return;
    }
    if (email[0])
        create_ticket(c, out, report, intent, email);
    else
        ask_email(out, intent);
}

/* ------------------------------------------------------------------------------------------------
 * Single-step tools
 * --------------------------------------------------------------------------------------------- */

static void ticket_status(struct ctx *c, struct offline_reply *out, const char *ticket_id)
{
    if (!offered(c, T_TICKET_STATUS)) {
        cannot(out, T_TICKET_STATUS);
        return;
    }
    if (!ticket_id[0]) {
        say(out, "Sure, I can check that. Which ticket should I check? Ticket numbers look like "
                 "TKT-000042.");
        return;
    }
    call(out, T_TICKET_STATUS, json_pack("{s:s}", "ticket_id", ticket_id));
}

static void order_lookup(struct ctx *c, struct offline_reply *out, const char *order_id)
{
    if (!offered(c, T_LOOKUP_ORDER)) {
        cannot(out, T_LOOKUP_ORDER);
        return;
    }
    if (!order_id[0]) {
        say(out, "I can look that up for you. What's your order number? You'll find it in your "
                 "order confirmation email (for example 1042).");
        return;
    }
    call(out, T_LOOKUP_ORDER, json_pack("{s:s}", "order_id", order_id));
}

static void kb_search(struct ctx *c, struct offline_reply *out, const char *query)
{
    if (!offered(c, T_SEARCH_KB)) {
        cannot(out, T_SEARCH_KB);
        return;
    }
    char *flat = squash(query);
    char *q = clip(flat, MAX_QUERY);
    call(out, T_SEARCH_KB, json_pack("{s:s}", "query", q));
    free(flat);
    free(q);
}

static void escalate(struct ctx *c, struct offline_reply *out, const char *why)
{
    if (!offered(c, T_ESCALATE)) {
        say(out, "I can't hand this conversation to a person from here, but our support team "
                 "can help: " SUPPORT_CONTACT ".");
        return;
    }
    char *flat = squash(why);
    char *reason = clip(flat, 500);
    call(out, T_ESCALATE, json_pack("{s:s}", "reason", reason));
    free(flat);
    free(reason);
}

static void escalate_quoting(struct ctx *c, struct offline_reply *out, const char *prefix)
{
    char *flat = squash(c->user);
    char *quote = clip(flat, 300);
    char *why = xasprintf("%s: \"%s\"", prefix, quote);
    escalate(c, out, why);
    free(flat);
    free(quote);
    free(why);
}

static void fallback(struct ctx *c, struct offline_reply *out)
{
    if (unresolved_streak(c) + 1 >= OFFLINE_UNRESOLVED_BEFORE_HANDOFF && offered(c, T_ESCALATE)) {
        escalate_quoting(c, out,
                         "The assistant could not resolve two consecutive messages; the last was");
        return;
    }
    say(out, OFFLINE_MARK_FALLBACK
        ", so I only understand a limited set of requests. I can help "
        "with sign-in problems and support tickets, ticket status, order tracking, and "
        "questions about passwords, refunds, returns, shipping, billing and subscriptions. "
        "I can also connect you with a person. Could you rephrase your question?");
}

/* ------------------------------------------------------------------------------------------------
 * Intent dispatch
 * --------------------------------------------------------------------------------------------- */

static const char *const kb_intents[] = {
    "password_reset",
    "two_factor",
    "shipping_info",
    "refund_request",
    "return_item",
    "billing_question",
    "cancel_subscription",
    "update_payment",
    "change_email",
    "delete_account",
    "product_question",
    "contact_hours",
    NULL,
};

static int in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (strcmp(s, *list) == 0)
            return 1;
    return 0;
}

#define ANYTHING_ELSE "Is there anything else I can help you with"
#define GOODBYE "Goodbye, and thanks for contacting Parley Demo Store. Have a great day!"
/* Said when the customer cannot give the detail asked for; the customer may still give it. */
#define EMAIL_LATER "tell me the address and I'll open the ticket"
#define ORDER_LATER "tell me the order number and I'll look it up"

static const char CAPABILITIES[] =
    "I can open a support ticket (for example when you can't sign in), tell you the status of a "
    "ticket or list your tickets, track an order, answer questions about passwords, two-factor "
    "authentication, refunds, returns, shipping, billing and subscriptions from our help "
    "articles, and connect you with a person.";

static void custom_start(struct ctx *c, struct offline_reply *out, const char *name);

static void by_intent(struct ctx *c, struct offline_reply *out)
{
    const char *in = c->intent.name;
    const struct offline_slots *s = &c->slots;

    if (offline_custom_find(c->custom, in) >= 0) {
        custom_start(c, out, in);
    } else if (strcmp(in, "greeting") == 0) {
        say(out, "Hello! I'm the Parley Demo Store support assistant. %s What can I do for you?",
            CAPABILITIES);
    } else if (strcmp(in, "goodbye") == 0) {
        say(out, GOODBYE);
    } else if (strcmp(in, "thanks") == 0) {
        say(out, "You're welcome! Is there anything else I can help you with?");
    } else if (strcmp(in, "bot_identity") == 0) {
        say(out,
            "I'm the Parley Demo Store's offline assistant: a deterministic intent-and-slot "
            "engine, not a language model and not a person. %s",
            CAPABILITIES);
    } else if (strcmp(in, "capabilities") == 0) {
        say(out, "%s What would you like to do?", CAPABILITIES);
    } else if (strcmp(in, "login_problem") == 0 || strcmp(in, "account_locked") == 0 ||
               strcmp(in, "account_compromised") == 0 || strcmp(in, "report_problem") == 0) {
        ticket_flow(c, out, c->user, in);
    } else if (strcmp(in, "create_ticket") == 0) {
        /* a bare "open a ticket": use the problem described just before, or ask for it */
        size_t prev_user = find_back(c, c->user_idx, "user");
        char *report = prev_user != SIZE_MAX ? find_report(c, prev_user + 1, NULL) : NULL;
        struct offline_intent it;
        if (report) {
            classify(c, report, &it);
            ticket_flow(c, out, report, it.name);
        } else if (!offered(c, T_CREATE_TICKET)) {
            cannot(out, T_CREATE_TICKET);
        } else {
            say(out, "Of course. Please " OFFLINE_ASK_DESCRIPTION ", and I'll open a ticket.");
        }
        free(report);
    } else if (strcmp(in, "ticket_status") == 0) {
        ticket_status(c, out, s->ticket_id);
    } else if (strcmp(in, "list_tickets") == 0) {
        if (offered(c, T_LIST_TICKETS))
            call(out, T_LIST_TICKETS, json_object());
        else
            cannot(out, T_LIST_TICKETS);
    } else if (strcmp(in, "order_status") == 0) {
        order_lookup(c, out, s->order_id);
    } else if (in_list(in, kb_intents)) {
        kb_search(c, out, c->user);
    } else if (strcmp(in, "human_agent") == 0) {
        escalate_quoting(c, out, "Customer asked to talk to a person");
    } else if (strcmp(in, "complaint") == 0) {
        escalate_quoting(c, out, "Customer complaint");
    } else if (strcmp(in, "affirm") == 0) {
        if (strcasestr(c->prev, OFFLINE_OFFER_HUMAN)) {
            escalate(c, out, "Customer accepted the offer to talk to a person");
        } else if (strcasestr(c->prev, OFFLINE_OFFER_TICKET)) {
            struct offline_intent it;
            char *report = find_report(c, c->user_idx, &it);
            if (report)
                ticket_flow(c, out, report, it.name);
            else
                say(out, "Of course. Please " OFFLINE_ASK_DESCRIPTION ", and I'll open a ticket.");
            free(report);
        } else if (strstr(c->prev, OFFLINE_MARK_FALLBACK) || strstr(c->prev, OFFLINE_MARK_REASK)) {
            /* a "yes" to "could you rephrase that?" leaves the question unresolved */
            fallback(c, out);
        } else if (strcasestr(c->prev, ANYTHING_ELSE)) {
            say(out, "Sure. What else can I help you with?");
        } else {
            say(out, "Great! " ANYTHING_ELSE "?");
        }
    } else if ((strcmp(in, "deny") == 0 || strcmp(in, "thanks") == 0 ||
                strcmp(in, "unknown") == 0) &&
               (says(c->user, P_DONE) ||
                (strcmp(in, "deny") == 0 && strcasestr(c->prev, ANYTHING_ELSE)))) {
        /* "cheers, that's all", or "no" to "anything else?" */
        say(out, GOODBYE);
    } else if (strcmp(in, "deny") == 0) {
        say(out, "No problem. " ANYTHING_ELSE "?");
    } else if (s->ticket_id[0]) {
        ticket_status(c, out, s->ticket_id);
    } else if (s->order_id[0]) {
        order_lookup(c, out, s->order_id);
    } else if (strcmp(in, "provide_info") == 0 && s->email[0]) {
        say(out, "Thanks, I've noted %s. What can I help you with?", s->email);
    } else {
        fallback(c, out);
    }
}

/* Intents strong enough to abandon a question the assistant just asked. */
static int overrides_pending(const struct ctx *c, const struct offline_intent *it)
{
    if (offline_custom_find(c->custom, it->name) >= 0)
        return 1;
    static const char *const strong[] = {"human_agent",  "goodbye",
                                         "greeting",     "ticket_status",
                                         "list_tickets", "order_status",
                                         "complaint",    "bot_identity",
                                         "capabilities", NULL};
    return in_list(it->name, strong) || in_list(it->name, kb_intents);
}

/* Index of the first assistant message of the current run of questions for marker: when the
 * customer's earlier answers did not satisfy it and it was asked again, the report precedes the
 * first time it was asked. */
static size_t first_ask_from(const struct ctx *c, size_t asked, const char *marker)
{
    while (asked != SIZE_MAX) {
        size_t u = find_back(c, asked, "user");
        size_t a = u != SIZE_MAX ? find_back(c, u, "assistant") : SIZE_MAX;
        if (a == SIZE_MAX)
            break;
        char *t = message_text(json_array_get(c->msgs, a));
        int same = strcasestr(t, marker) != NULL;
        free(t);
        if (!same)
            break;
        asked = a;
    }
    return asked;
}

static size_t first_ask(const struct ctx *c, const char *marker)
{
    return first_ask_from(c, find_back(c, c->user_idx, "assistant"), marker);
}

/* The report behind an e-mail question asked before the assistant's last reply (the customer
 * could not give the address then and gives it now). Returns it owned, or NULL. */
static char *report_before_last(const struct ctx *c, struct offline_intent *it)
{
    size_t p = find_back(c, c->user_idx, "assistant");
    size_t u = p != SIZE_MAX ? find_back(c, p, "user") : SIZE_MAX;
    size_t a = u != SIZE_MAX ? find_back(c, u, "assistant") : SIZE_MAX;
    if (a == SIZE_MAX)
        return NULL;
    char *t = message_text(json_array_get(c->msgs, a));
    int asked = strcasestr(t, OFFLINE_ASK_EMAIL) != NULL;
    free(t);
    return asked ? find_report(c, first_ask_from(c, a, OFFLINE_ASK_EMAIL), it) : NULL;
}

static void cannot_give_email(struct offline_reply *out)
{
    say(out, "That's all right. I need the email address on your account to open a ticket, so "
             "here is how to find it (from our help article \"Account access and signing in\"): "
             "search every inbox you use for emails from Parley Demo Store, such as an order "
             "confirmation; the address they were sent to is the one on your account. You can "
             "also try the password reset with each address you use, because only an address "
             "with an account receives the reset email. When you find it, just " EMAIL_LATER
             ". (Source: account-access.md) If none of that works, a support agent can find "
             "your account after checking your identity. " OFFLINE_OFFER_HUMAN "?");
}

static void cannot_give_order(struct offline_reply *out)
{
    say(out, "No problem. I can only look an order up by its number, but you can see all your "
             "orders and their status under Account, then Orders, on our website, and every "
             "order confirmation email has the number. When you find it, just " ORDER_LATER
             ". If you can't find it, a support agent can look for the order another "
             "way. " OFFLINE_OFFER_HUMAN "?");
}

/* ------------------------------------------------------------------------------------------------
 * Custom tools (offline_custom.h): ask for missing required properties one at a time, carry what
 * the customer gave across turns by re-reading the run of questions in the history, then call.
 * --------------------------------------------------------------------------------------------- */

/* The property of an offered custom tool that text asks for, setting *tool; NULL when none. */
static const char *custom_asked(const struct ctx *c, const char *text, int *tool)
{
    for (size_t i = 0; i < offline_custom_count(c->custom); i++) {
        if (custom_offered(c, offline_custom_name(c->custom, i)) < 0)
            continue;
        const char *p = offline_custom_asked(c->custom, i, text);
        if (p) {
            *tool = (int)i;
            return p;
        }
    }
    return NULL;
}

/* Gathers the tool's slots from the customer's messages since its flow began: walking back from
 * the last user message while the assistant's message before each one asked for a property of
 * this tool, then filling forwards so later answers win, after the distinctive values of the
 * customer's earlier messages. *answered tells whether the last message
 * filled the property it was asked for. Returns the input object (owned). */
static json_t *custom_gather(const struct ctx *c, int tool, int *answered)
{
    size_t users[OFFLINE_POLICY_WINDOW];
    const char *asks[OFFLINE_POLICY_WINDOW];
    size_t n = 0, u = c->user_idx;
    while (u != SIZE_MAX && n < OFFLINE_POLICY_WINDOW) {
        size_t a = find_back(c, u, "assistant");
        const char *p = NULL;
        if (a != SIZE_MAX) {
            char *t = message_text(json_array_get(c->msgs, a));
            p = offline_custom_asked(c->custom, (size_t)tool, t);
            free(t);
        }
        users[n] = u;
        asks[n] = p;
        n++;
        if (!p)
            break;
        u = find_back(c, a, "user");
    }
    json_t *input = json_object();
    *answered = 0;
    /* distinctive values said before the run began, oldest first so the latest wins */
    for (size_t i = c->start; i < users[n - 1]; i++) {
        const json_t *m = json_array_get(c->msgs, i);
        if (strcmp(role_of(m), "user") != 0 || has_block(m, "tool_result"))
            continue;
        char *t = message_text(m);
        offline_custom_fill_carried(c->custom, (size_t)tool, t, input);
        free(t);
    }
    for (size_t k = n; k > 0; k--) {
        char *t = message_text(json_array_get(c->msgs, users[k - 1]));
        int got = offline_custom_fill(c->custom, (size_t)tool, t, asks[k - 1], input);
        if (k == 1)
            *answered = got;
        free(t);
    }
    return input;
}

/* Asks for the first missing property, or calls the tool with input (taken). */
static void custom_next(struct ctx *c, struct offline_reply *out, int tool, json_t *input,
                        const char *reask)
{
    const char *missing = offline_custom_missing(c->custom, (size_t)tool, input);
    if (missing) {
        char *q = offline_custom_ask(c->custom, (size_t)tool, missing);
        say(out, "%s%s", reask ? reask : "", q);
        free(q);
        json_decref(input);
        return;
    }
    out->tool = offline_custom_name(c->custom, (size_t)tool);
    out->input = input;
}

/* A message whose intent is the custom tool `name`. */
static void custom_start(struct ctx *c, struct offline_reply *out, const char *name)
{
    int tool = custom_offered(c, name);
    int answered;
    if (tool < 0) {
        say(out, "I'm sorry, I can't do that in this setup, because the tool for it isn't "
                 "available to me. You can reach our support team at " SUPPORT_CONTACT ".");
        return;
    }
    custom_next(c, out, tool, custom_gather(c, tool, &answered), NULL);
}

/* Handles an answer to the question for a custom tool's property. Returns 1 when handled. */
static int custom_pending(struct ctx *c, struct offline_reply *out)
{
    int tool = -1, answered = 0;
    const char *asked = custom_asked(c, c->prev, &tool);
    if (!asked)
        return 0;
    if (strcmp(c->intent.name, "deny") == 0) {
        say(out, "No problem. Is there anything else I can help you with?");
        return 1;
    }
    /* Another strong intent abandons the question unless the message plainly holds the value. A
     * free-text answer (any text fills a plain string) is abandoned only for a person, a goodbye
     * or another custom tool. */
    json_t *probe = json_object();
    offline_custom_fill(c->custom, (size_t)tool, c->user, NULL, probe);
    int typed = json_object_get(probe, asked) != NULL;
    int free_text = !typed && offline_custom_fill(c->custom, (size_t)tool, c->user, asked, probe);
    json_decref(probe);
    const char *in = c->intent.name;
    int other = strcmp(in, offline_custom_name(c->custom, (size_t)tool)) != 0;
    int leaves = free_text ? strcmp(in, "human_agent") == 0 || strcmp(in, "goodbye") == 0 ||
                                 offline_custom_find(c->custom, in) >= 0
                           : overrides_pending(c, &c->intent);
    if (!typed && other && leaves)
        return 0;
    json_t *input = custom_gather(c, tool, &answered);
    if (!answered && unresolved_streak(c) + 1 >= OFFLINE_UNRESOLVED_BEFORE_HANDOFF &&
        offered(c, T_ESCALATE)) {
        json_decref(input);
        return 0;
    }
    custom_next(c, out, tool, input, answered ? NULL : OFFLINE_MARK_REASK " that. ");
    return 1;
}

/* Handles a user message that answers what the assistant asked last. Returns 1 when handled. */
static int fill_pending(struct ctx *c, struct offline_reply *out)
{
    const struct offline_slots *s = &c->slots;
    const char *in = c->intent.name;
    char digits[24];
    int deny = strcmp(in, "deny") == 0;

    if (strcasestr(c->prev, OFFLINE_ASK_EMAIL)) {
        size_t asked = first_ask(c, OFFLINE_ASK_EMAIL);
        struct offline_intent it;
        char *report = asked != SIZE_MAX ? find_report(c, asked, &it) : NULL;
        int handled = 1;
        if (s->email[0] && report) {
            create_ticket(c, out, report, it.name, s->email);
        } else if (s->email[0]) {
            create_ticket(c, out, "(no description given)", "report_problem", s->email);
        } else if (cannot_say(c)) {
            cannot_give_email(out);
        } else if (deny) {
            say(out, "No problem, I won't open a ticket. Is there anything else I can help you "
                     "with?");
        } else if (overrides_pending(c, &c->intent)) {
            handled = 0;
        } else if (unresolved_streak(c) + 1 >= OFFLINE_UNRESOLVED_BEFORE_HANDOFF &&
                   offered(c, T_ESCALATE)) {
            handled = 0;
        } else {
            say(out,
                OFFLINE_MARK_REASK " an email address there. To open the ticket, " OFFLINE_ASK_EMAIL
                                   "? (For example jane.doe@example.com.)");
        }
        free(report);
        return handled;
    }
    if (strcasestr(c->prev, EMAIL_LATER)) {
        if (s->email[0]) {
            struct offline_intent it;
            char *report = report_before_last(c, &it);
            if (report)
                create_ticket(c, out, report, it.name, s->email);
            else
                create_ticket(c, out, "(no description given)", "report_problem", s->email);
            free(report);
            return 1;
        }
        return 0; /* "yes" to the offer of a person, or something new */
    }
    if (strcasestr(c->prev, OFFLINE_ASK_TICKET)) {
        if (s->ticket_id[0]) {
            ticket_status(c, out, s->ticket_id);
        } else if (offline_slots_bare_number(c->user, digits, sizeof digits) &&
                   strlen(digits) <= 6) {
            char id[16];
            snprintf(id, sizeof id, "TKT-%06lu", strtoul(digits, NULL, 10));
            ticket_status(c, out, id);
        } else if (says(c->user, P_ALL_TICKETS) || cannot_say(c)) {
            /* "my tickets", "I don't know the number": list them */
            if (offered(c, T_LIST_TICKETS))
                call(out, T_LIST_TICKETS, json_object());
            else
                cannot(out, T_LIST_TICKETS);
        } else if (deny) {
            say(out, "No problem. Is there anything else I can help you with?");
        } else if (overrides_pending(c, &c->intent) && strcmp(in, "ticket_status") != 0) {
            return 0;
        } else if (strcmp(in, "list_tickets") == 0 ||
                   (unresolved_streak(c) + 1 >= OFFLINE_UNRESOLVED_BEFORE_HANDOFF)) {
            return 0;
        } else {
            say(out, OFFLINE_MARK_REASK " a ticket number there. Which ticket should I check? "
                                        "Ticket numbers look like TKT-000042.");
        }
        return 1;
    }
    if (strcasestr(c->prev, OFFLINE_ASK_ORDER) || strcasestr(c->prev, ORDER_LATER)) {
        if (s->order_id[0]) {
            order_lookup(c, out, s->order_id);
        } else if (offline_slots_bare_number(c->user, digits, sizeof digits)) {
            order_lookup(c, out, digits);
        } else if (strcasestr(c->prev, ORDER_LATER) && !cannot_say(c)) {
            return 0; /* "yes" to the offer of a person, or something new */
        } else if (cannot_say(c)) {
            cannot_give_order(out);
        } else if (deny) {
            say(out, "No problem. Is there anything else I can help you with?");
        } else if ((overrides_pending(c, &c->intent) && strcmp(in, "order_status") != 0) ||
                   unresolved_streak(c) + 1 >= OFFLINE_UNRESOLVED_BEFORE_HANDOFF) {
            return 0;
        } else {
            say(out,
                OFFLINE_MARK_REASK " an order number there. What's your order number? "
                                   "It's in your order confirmation email (for example 1042).");
        }
        return 1;
    }
    if (strcasestr(c->prev, OFFLINE_ASK_DESCRIPTION)) {
        if (deny) {
            say(out, "No problem, I won't open a ticket. Is there anything else I can help you "
                     "with?");
            return 1;
        }
        if (strcmp(in, "human_agent") == 0 || strcmp(in, "goodbye") == 0)
            return 0;
        struct offline_intent it;
        classify(c, c->user, &it);
        ticket_flow(c, out, c->user, is_issue_intent(it.name) ? it.name : "report_problem");
        return 1;
    }
    return custom_pending(c, out);
}

/* ------------------------------------------------------------------------------------------------
 * Tool results
 * --------------------------------------------------------------------------------------------- */

/* Returns the result's text: a string content or its text blocks (owned). */
static char *result_text(const json_t *block)
{
    json_t *wrap = json_pack("{s:O?}", "content", json_object_get(block, "content"));
    char *t = message_text(wrap);
    json_decref(wrap);
    return t;
}

/* Finds the tool_use block with this id in the window; returns it borrowed or NULL. */
static const json_t *find_tool_use(const struct ctx *c, const char *id)
{
    for (size_t i = c->n; i > c->start; i--) {
        const json_t *m = json_array_get(c->msgs, i - 1);
        const json_t *content = json_object_get(m, "content");
        size_t k;
        const json_t *b;
        if (strcmp(role_of(m), "assistant") != 0 || !json_is_array(content))
            continue;
        json_array_foreach(content, k, b) {
            const char *type = json_string_value(json_object_get(b, "type"));
            const char *bid = json_string_value(json_object_get(b, "id"));
            if (type && strcmp(type, "tool_use") == 0 && bid && id && strcmp(bid, id) == 0)
                return b;
        }
    }
    return NULL;
}

/* The error message of a failed result: {"error": "..."} / {"error": {"message"}} /
 * {"message"} / plain text. Owned. */
static char *error_message(const char *text, const json_t *parsed)
{
    const json_t *e = json_object_get(parsed, "error");
    const char *msg = json_string_value(e);
    if (!msg)
        msg = json_string_value(json_object_get(e, "message"));
    if (!msg)
        msg = json_string_value(json_object_get(parsed, "message"));
    if (!msg) {
        msg = text;
        /* "NotFound: order 7 not found" -> "order 7 not found" */
        const char *colon = strstr(msg, ": ");
        size_t code_len = colon ? (size_t)(colon - msg) : 0;
        if (code_len > 0 && code_len < 40 &&
            strspn(msg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmn"
                        "opqrstuvwxyz0123456789._") == code_len)
            msg = colon + 2;
    }
    char *flat = squash(msg[0] ? msg : "no details were given");
    char *r = clip(flat, 300);
    free(flat);
    /* no trailing period: the reply puts the message inside its own sentence */
    size_t l = strlen(r);
    while (l > 0 && r[l - 1] == '.')
        r[--l] = '\0';
    return r;
}

static const char *str_field(const json_t *o, const char *a, const char *b)
{
    const char *v = json_string_value(json_object_get(o, a));
    if (!v && b)
        v = json_string_value(json_object_get(o, b));
    return v;
}

/* A summary never comes near this; it only bounds one built from a hostile tool result. */
#define REPLY_TEXT_MAX (1u << 20)

static char *sum_create_ticket(const json_t *input, const json_t *r, int is_error, const char *text)
{
    if (is_error) {
        char *msg = error_message(text, r);
        char *s = xasprintf("I'm sorry, I couldn't open the ticket: %s. Nothing was created. "
                            "Please try again in a moment. " OFFLINE_OFFER_HUMAN " instead?",
                            msg);
        free(msg);
        return s;
    }
    const char *id = str_field(r, "ticketId", "id");
    const char *prio = str_field(r, "priority", NULL);
    if (!prio)
        prio = str_field(input, "priority", NULL);
    const char *email = str_field(input, "email", NULL);
    struct buf s;
    buf_init(&s, REPLY_TEXT_MAX);
    if (id)
        buf_printf(&s, "I've opened ticket %s for you", id);
    else
        buf_printf(&s,
                   "I've opened a support ticket for you (the system didn't return its number)");
    if (prio)
        buf_printf(&s, " with %s priority", prio);
    buf_printf(&s, ".");
    if (email)
        buf_printf(&s, " Our support team will contact you at %s, usually within one business day.",
                   email);
    if (id)
        buf_printf(&s, " You can ask me about %s at any time.", id);
    return buf_take(&s, NULL);
}

static char *sum_ticket_status(const json_t *input, const json_t *r, int is_error, const char *text)
{
    const char *asked = str_field(input, "ticket_id", NULL);
    if (is_error) {
        char *msg = error_message(text, r);
        /* "ticket TKT-000099 not found" only repeats what the sentence already says */
        char *why = strcasestr(msg, "not found") ? xstrdup("") : xasprintf(" (%s)", msg);
        char *s = xasprintf("I couldn't find %s%s%s. Please check the number: ticket numbers "
                            "look like TKT-000042, and I can only see tickets opened from your "
                            "account.",
                            asked ? "ticket " : "that ticket", asked ? asked : "", why);
        free(why);
        free(msg);
        return s;
    }
    const char *id = str_field(r, "ticketId", "id");
    const char *status = str_field(r, "status", NULL);
    const char *title = str_field(r, "title", NULL);
    const char *prio = str_field(r, "priority", NULL);
    const char *created = str_field(r, "createdAt", NULL);
    struct buf s;
    buf_init(&s, REPLY_TEXT_MAX);
    buf_printf(&s, "Ticket %s", id ? id : asked ? asked : "");
    if (title)
        buf_printf(&s, " (\"%s\")", title);
    buf_printf(&s, " is %s", status ? status : "in an unknown state");
    if (prio)
        buf_printf(&s, ", with %s priority", prio);
    buf_printf(&s, ".");
    if (created)
        buf_printf(&s, " It was opened on %.10s.", created);
    if (status && (strcmp(status, "open") == 0 || strcmp(status, "pending") == 0 ||
                   strcmp(status, "in_progress") == 0))
        buf_printf(&s, " Our team will contact you by email as soon as there's news.");
    return buf_take(&s, NULL);
}

static char *sum_list_tickets(const json_t *r, int is_error, const char *text)
{
    if (is_error) {
        char *msg = error_message(text, r);
        char *s = xasprintf("I'm sorry, I couldn't list your tickets: %s.", msg);
        free(msg);
        return s;
    }
    const json_t *list = json_is_array(r) ? r : json_object_get(r, "tickets");
    if (!json_is_array(list) || json_array_size(list) == 0)
        return xstrdup("You don't have any support tickets yet. If something isn't working, tell "
                       "me about it and I'll open one.");
    size_t n = json_array_size(list);
    struct buf s;
    buf_init(&s, REPLY_TEXT_MAX);
    buf_printf(&s, "You have %zu ticket%s:", n, n == 1 ? "" : "s");
    for (size_t i = 0; i < n && i < MAX_LISTED; i++) {
        const json_t *t = json_array_get(list, i);
        const char *id = str_field(t, "ticketId", "id");
        const char *title = str_field(t, "title", NULL);
        const char *status = str_field(t, "status", NULL);
        const char *prio = str_field(t, "priority", NULL);
        buf_printf(&s, "\n- %s", id ? id : "(no id)");
        if (title)
            buf_printf(&s, ": %s", title);
        if (status && prio)
            buf_printf(&s, " (%s, %s priority)", status, prio);
        else if (status)
            buf_printf(&s, " (%s)", status);
    }
    if (n > MAX_LISTED)
        buf_printf(&s, "\n...and %zu more.", n - MAX_LISTED);
    return buf_take(&s, NULL);
}

static char *sum_lookup_order(const json_t *input, const json_t *r, int is_error, const char *text)
{
    const char *asked = str_field(input, "order_id", NULL);
    if (is_error) {
        char *msg = error_message(text, r);
        /* "order 1045 not found" only repeats what the sentence already says */
        char *why = strcasestr(msg, "not found") ? xstrdup("") : xasprintf(" (%s)", msg);
        char *s = xasprintf("I couldn't find order %s%s. Please check the number: it's in your "
                            "order confirmation email, and I can only see orders placed from your "
                            "account.",
                            asked ? asked : "", why);
        free(why);
        free(msg);
        return s;
    }
    const json_t *oid = json_object_get(r, "orderId");
    char idbuf[32] = "";
    if (json_is_integer(oid))
        snprintf(idbuf, sizeof idbuf, "%lld", (long long)json_integer_value(oid));
    const char *id = json_is_string(oid) ? json_string_value(oid) : idbuf[0] ? idbuf : asked;
    const char *status = str_field(r, "status", NULL);
    struct buf s;
    buf_init(&s, REPLY_TEXT_MAX);
    buf_printf(&s, "Order %s is %s.", id ? id : "", status ? status : "in an unknown state");
    const json_t *items = json_object_get(r, "items");
    if (json_is_array(items) && json_array_size(items) > 0) {
        size_t n = json_array_size(items);
        buf_printf(&s, " It contains %zu item%s:", n, n == 1 ? "" : "s");
        for (size_t i = 0; i < n && i < MAX_LISTED; i++) {
            const json_t *it = json_array_get(items, i);
            const char *name = json_is_string(it) ? json_string_value(it)
                                                  : str_field(it, "name", "title");
            const json_t *q = json_object_get(it, "quantity");
            if (!q)
                q = json_object_get(it, "qty");
            if (json_is_integer(q) && json_integer_value(q) > 1)
                buf_printf(&s, "%s %lld x %s", i ? "," : "", (long long)json_integer_value(q),
                           name ? name : "item");
            else
                buf_printf(&s, "%s %s", i ? "," : "", name ? name : "item");
        }
        buf_printf(&s, n > MAX_LISTED ? ", and more." : ".");
    }
    const json_t *ship = json_object_get(r, "shipping");
    const char *carrier = str_field(ship, "carrier", NULL);
    const char *tracking = str_field(ship, "tracking", NULL);
    const char *eta = str_field(ship, "eta", NULL);
    if (carrier && tracking)
        buf_printf(&s, " It's with %s, tracking number %s.", carrier, tracking);
    else if (carrier)
        buf_printf(&s, " It's with %s.", carrier);
    else if (tracking)
        buf_printf(&s, " The tracking number is %s.", tracking);
    const char *st = str_field(r, "status", NULL);
    if (eta && st && strcmp(st, "delivered") == 0)
        buf_printf(&s, " It was delivered on %s.", eta);
    else if (eta && !(st && strcmp(st, "cancelled") == 0))
        buf_printf(&s, " Expected delivery: %s.", eta);
    return buf_take(&s, NULL);
}

static char *sum_search_kb(const json_t *r, int is_error, const char *text)
{
    if (is_error) {
        char *msg = error_message(text, r);
        char *s = xasprintf(
            "I'm sorry, I couldn't search our help articles just now (%s). " OFFLINE_OFFER_TICKET
            " instead?",
            msg);
        free(msg);
        return s;
    }
    const json_t *results = json_object_get(r, "results");
    const json_t *top = json_array_get(results, 0);
    const char *passage = str_field(top, "passage", "text");
    if (!passage)
        return xstrdup(
            "I couldn't find anything about that in our help articles. " OFFLINE_OFFER_TICKET
            " so our team can answer you?");
    const char *title = str_field(top, "title", NULL);
    const char *article = str_field(top, "article", "source");
    char *cut = clip(passage, MAX_PASSAGE);
    struct buf s;
    buf_init(&s, REPLY_TEXT_MAX);
    if (title)
        buf_printf(&s, "From our help article \"%s\":\n\n%s\n\n", title, cut);
    else
        buf_printf(&s, "From our help articles:\n\n%s\n\n", cut);
    /* the next passage of the same article often carries the steps: add it when it scores close
     * to the best and the answer stays short */
    const json_t *next = json_array_get(results, 1);
    const char *next_passage = str_field(next, "passage", "text");
    const char *next_article = str_field(next, "article", "source");
    double top_score = json_number_value(json_object_get(top, "score"));
    double next_score = json_number_value(json_object_get(next, "score"));
    if (next_passage && article && next_article && strcmp(article, next_article) == 0 &&
        next_score >= 0.8 * top_score && strlen(cut) + strlen(next_passage) <= MAX_PASSAGE) {
        buf_printf(&s, "%s\n\n", next_passage);
    }
    if (article)
        buf_printf(&s, "(Source: %s) ", article);
    buf_printf(&s, "If that doesn't solve it, tell me and I can open a support ticket for you.");
    free(cut);
    return buf_take(&s, NULL);
}

static char *sum_escalate(const json_t *r, int is_error, const char *text)
{
    if (is_error) {
        char *msg = error_message(text, r);
        char *s = xasprintf("I'm sorry, I couldn't reach a person just now (%s). You can contact "
                            "our support team directly at " SUPPORT_CONTACT ".",
                            msg);
        free(msg);
        return s;
    }
    return xstrdup("I've asked a member of our support team to take over this conversation. They "
                   "will reply here as soon as they can; our team is available Monday to Friday "
                   "8:00-20:00 and Saturday 10:00-16:00 CET.");
}

/* A custom tool's result: its top-level fields as a sentence, or an apology and an offer of a
 * person. */
static char *sum_custom(const json_t *r, int is_error, const char *text)
{
    if (!is_error)
        return offline_custom_phrase(r, text);
    char *msg = error_message(text, r);
    char *s = xasprintf("I'm sorry, that didn't work: %s. " OFFLINE_OFFER_HUMAN "?", msg);
    free(msg);
    return s;
}

/* Summarises one tool_result block. Returns owned text. */
static char *summarise(const struct ctx *c, const json_t *block)
{
    const char *id = json_string_value(json_object_get(block, "tool_use_id"));
    int is_error = json_is_true(json_object_get(block, "is_error"));
    const json_t *use = find_tool_use(c, id);
    const char *name = json_string_value(json_object_get(use, "name"));
    const json_t *input = json_object_get(use, "input");
    char *text = result_text(block);
    json_t *parsed = NULL;
    if (strlen(text) <= MAX_RESULT)
        parsed = json_loads(text, JSON_DECODE_ANY, NULL);
    /* an {"error": ...} body is an error even without is_error */
    if (json_is_object(parsed) && json_object_get(parsed, "error") &&
        !json_object_get(parsed, "ticketId") && !json_object_get(parsed, "results"))
        is_error = 1;
    char *s;
    if (!name)
        s = is_error ? xstrdup("Something went wrong with a request I didn't recognise.")
                     : xstrdup("Done.");
    else if (strcmp(name, tools[T_CREATE_TICKET].name) == 0)
        s = sum_create_ticket(input, parsed, is_error, text);
    else if (strcmp(name, tools[T_TICKET_STATUS].name) == 0)
        s = sum_ticket_status(input, parsed, is_error, text);
    else if (strcmp(name, tools[T_LIST_TICKETS].name) == 0)
        s = sum_list_tickets(parsed, is_error, text);
    else if (strcmp(name, tools[T_LOOKUP_ORDER].name) == 0)
        s = sum_lookup_order(input, parsed, is_error, text);
    else if (strcmp(name, tools[T_SEARCH_KB].name) == 0)
        s = sum_search_kb(parsed, is_error, text);
    else if (strcmp(name, tools[T_ESCALATE].name) == 0)
        s = sum_escalate(parsed, is_error, text);
    else if (offline_custom_find(c->custom, name) >= 0)
        s = sum_custom(parsed, is_error, text);
    else if (is_error)
        s = xstrdup("I'm sorry, that didn't work.");
    else
        s = xstrdup("Done.");
    json_decref(parsed);
    free(text);
    return s;
}

static void answer_results(const struct ctx *c, const json_t *msg, struct offline_reply *out)
{
    struct buf all;
    int any = 0;
    size_t i;
    const json_t *b;
    buf_init(&all, REPLY_TEXT_MAX);
    json_array_foreach(json_object_get(msg, "content"), i, b) {
        const char *type = json_string_value(json_object_get(b, "type"));
        if (!type || strcmp(type, "tool_result") != 0)
            continue;
        char *s = summarise(c, b);
        buf_printf(&all, "%s%s", any ? "\n\n" : "", s);
        any = 1;
        free(s);
    }
    if (!any)
        buf_add_str(&all, "Done.");
    out->text = buf_take(&all, NULL);
}

/* ------------------------------------------------------------------------------------------------
 * Entry point
 * --------------------------------------------------------------------------------------------- */

int offline_policy_decide(const json_t *request, const struct offline_custom *custom,
                          struct offline_reply *out, struct err *err)
{
    memset(out, 0, sizeof *out);
    const json_t *msgs = json_object_get(request, "messages");
    if (!json_is_array(msgs) || json_array_size(msgs) == 0)
        return err_set(err, "InvalidRequest", "request has no messages");

    struct ctx c = {0};
    c.msgs = msgs;
    c.n = json_array_size(msgs);
    c.start = c.n > OFFLINE_POLICY_WINDOW ? c.n - OFFLINE_POLICY_WINDOW : 0;
    c.custom = custom;
    c.tools = json_object_get(request, "tools");
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(request, "tools"), i, t) {
        const char *name = json_string_value(json_object_get(t, "name"));
        for (int k = 0; name && k < T_COUNT; k++)
            if (strcmp(name, tools[k].name) == 0)
                c.offered |= 1u << k;
    }

    const json_t *last = json_array_get(msgs, c.n - 1);
    if (strcmp(role_of(last), "user") == 0 && has_block(last, "tool_result")) {
        answer_results(&c, last, out);
        return 0;
    }

    c.user_idx = find_back(&c, c.n, "user");
    if (c.user_idx == SIZE_MAX) {
        say(out, "Hello! I'm the Parley Demo Store support assistant. %s What can I do for you?",
            CAPABILITIES);
        return 0;
    }
    c.user = message_text(json_array_get(msgs, c.user_idx));
    size_t prev = find_back(&c, c.user_idx, "assistant");
    c.prev = prev != SIZE_MAX ? message_text(json_array_get(msgs, prev)) : xstrdup("");
    classify(&c, c.user, &c.intent);
    offline_slots_extract(c.user, &c.slots);

    if (!fill_pending(&c, out) && !out->text && !out->tool)
        by_intent(&c, out);
    free(c.user);
    free(c.prev);
    return 0;
}

void offline_reply_release(struct offline_reply *r)
{
    free(r->text);
    json_decref(r->input);
    memset(r, 0, sizeof *r);
}
