/*
 * offline_policy.h - the offline model's dialogue policy: from a Messages-API request (the recent
 * window of messages plus the tools on offer) to the next assistant move, either one text reply or
 * one tool call.
 *
 * The policy is stateless. Everything it knows comes from the request: the last user message (or
 * the tool results it carries), the intent and slots of that message (offline_intents.h,
 * offline_slots.h), and what the assistant asked last, which it recognises by the fixed phrases of
 * its own prompts (see the OFFLINE_ASK_* markers below). So multi-turn slot filling survives a
 * restart, a different server, or a conversation that began on another model.
 *
 * Flows: greetings, goodbyes, thanks; access problems and problem reports -> ask for the e-mail
 * address -> create_support_ticket; ticket status -> ask for the id if missing ->
 * get_ticket_status; list_my_tickets; order questions -> ask for the order number if missing ->
 * lookup_order; how-to and policy questions -> search_knowledge_base, answered from the best
 * passage with its source; requests for a person and complaints -> escalate_to_human; an honest
 * fallback, and escalation on the second consecutive message it cannot resolve. A tool that the
 * request does not offer is never called; the reply says what it cannot do instead. Custom tools
 * with examples (see offline_custom.h) are intents of their own: their required properties are
 * asked one at a time, recognised later by the exact question, and the tool is called when all are
 * filled.
 */
#ifndef PARLEY_OFFLINE_POLICY_H
#define PARLEY_OFFLINE_POLICY_H

#include <jansson.h>

#include "base/err.h"

/* Messages looked at, counting back from the last. */
#define OFFLINE_POLICY_WINDOW 40
/* Bytes of any one message's text that are looked at. */
#define OFFLINE_POLICY_MAX_TEXT 8192
/* The second consecutive message the model cannot resolve goes to a person. */
#define OFFLINE_UNRESOLVED_BEFORE_HANDOFF 2

/* Phrases the policy writes into its prompts and later recognises in the history. Changing one
 * breaks slot filling for conversations already stored, so treat them as a format. */
#define OFFLINE_ASK_EMAIL "what's the email address on your account"
#define OFFLINE_ASK_TICKET "which ticket should I check"
#define OFFLINE_ASK_ORDER "what's your order number"
#define OFFLINE_ASK_DESCRIPTION "describe the problem in a sentence or two"
#define OFFLINE_OFFER_TICKET "Would you like me to open a support ticket"
#define OFFLINE_OFFER_HUMAN "Would you like me to connect you with a person"
#define OFFLINE_MARK_FALLBACK "I'm the offline demo model"
#define OFFLINE_MARK_REASK "Sorry, I didn't catch"

struct offline_custom;

/* The policy's decision: exactly one of text or tool is set. */
struct offline_reply {
    char *text;       /* owned reply text, or NULL */
    const char *tool; /* tool name (static storage, or owned by the custom tools passed to
                         offline_policy_decide, which must outlive the reply), or NULL */
    json_t *input;    /* owned tool input object when tool is set */
};

/* Decides the next move for request (borrowed; see model.h for its shape) and fills out. custom
 * (borrowed, may be NULL) adds the custom tools' intents and flows (offline_custom.h); NULL gives
 * exactly the built-in behaviour. Returns 0, or -1 with err "InvalidRequest" when the request has
 * no "messages" array or it is empty. */
int offline_policy_decide(const json_t *request, const struct offline_custom *custom,
                          struct offline_reply *out, struct err *err);

/* Frees what out holds and zeroes it. Accepts a zeroed reply. */
void offline_reply_release(struct offline_reply *r);

#endif
