/*
 * store_dynamo.h - the DynamoDB adapter of the store port (store.h), over the DynamoDB JSON 1.0
 * protocol signed with SigV4 (aws/aws.h).
 *
 * Two tables (both created by deploy/template.yaml; store_dynamo_new can create them for
 * emulators and local development):
 *   Conversations  sessionId (S, hash) + timestamp (N, range): the seed's table. One item per
 *                  turn (timestamp = ms, strictly increasing) holding userId, messages (L),
 *                  context (M), lastActivity, metadata (M), turn; the session header lives in the
 *                  same partition at timestamp 0 (userId, status, createdAt, lastActivity, turns,
 *                  lastTimestamp, context, metadata), so the recent window is one Query and a
 *                  turn's writes (header update + turn item) are one TransactWriteItems.
 *   Entities       pk (S, hash) + sk (S, range): tickets ("TICKET#<seq>"), each user's ticket list
 *                  ("USER#<userId>#TICKETS", sk = 12-digit seq, newest first by Query), the ticket
 *                  counter ("COUNTER"/"ticket", UpdateItem ADD), idempotency keys
 *                  ("IDEMPOTENCY#<key>", conditional put in the ticket's transaction), orders
 *                  ("ORDER#<id>"), action records ("ACTION#<id>") and the keys of idempotent
 *                  requests ("IDEM#<key>", a conditional put; they expire after a day), and
 *                  the counters of store.h ("COUNTER#<group>"/name, UpdateItem ADD; a turn's
 *                  budget counters are Updates at the end of its TransactWriteItems).
 * JSON values map to attribute values one to one (string S, number N, bool BOOL, null NULL,
 * array L, object M). Optional expiry: items carry "expiresAt" (epoch seconds, the table's TTL
 * attribute) when ttl_days > 0; tables store_dynamo_new creates get TTL enabled on "expiresAt"
 * (UpdateTimeToLive; a service without it, such as dynalite, gets a warning). Throttling left
 * after aws_call's retries surfaces as "StoreBusy" (the workflow retries it); other AWS failures
 * as "StoreError" whose message names the DynamoDB operation and the AWS error code
 * ("DynamoDB UpdateItem: ValidationException: ...").
 * Without TransactWriteItems (the service answers UnknownOperationException, as plain dynalite
 * does; remembered for the store's life) a transaction's writes run one by one in order, each with
 * its own condition, and a failed write undoes the earlier ones from snapshots. The trade-off:
 * conditions still decide every race (a lost turn-save race retries; a duplicate idempotency key
 * still yields the first ticket), but readers may see a session header a turn ahead of its turn
 * item for a moment, and a crash between the writes leaves the header counting a turn that was
 * never acknowledged (turn numbers then skip one; no acknowledged turn is lost); a turn's counter
 * adds come last, and the undo of one (only when a later one fails) puts back its snapshot,
 * which drops an add another process made in between. Use DynamoDB
 * itself (or an emulator with transactions) in production.
 * sessions_list and tickets_list(NULL) scan (operator views, O(table)).
 */
#ifndef PARLEY_STORE_DYNAMO_H
#define PARLEY_STORE_DYNAMO_H

#include "aws/aws.h"
#include "base/err.h"
#include "store/store.h"

struct store_dynamo_config {
    const struct aws_config *aws;    /* region, credentials, endpoint (copied) */
    const char *conversations_table; /* NULL = "Conversations" */
    const char *entities_table;      /* NULL = "ParleyEntities" */
    int create_tables;               /* CreateTable (on demand) when a table is missing */
    int seed_demo_orders;            /* put the demo store's orders when they are missing */
    int ttl_days;                    /* items expire after this many days; 0 = never */
};

/* Opens the adapter. Checks that both tables exist (DescribeTable), creating them first when
 * create_tables is set. Returns the store (store_free) or NULL with err "StoreError" naming the
 * table and the AWS error. */
struct store *store_dynamo_new(const struct store_dynamo_config *cfg, struct err *err);

struct config;

/* The expiry in days items get (expiresAt, the table's TTL attribute): the smaller of
 * PARLEY_CONVERSATION_TTL_DAYS and PARLEY_RETENTION_DAYS that is set, or 0 (kept). */
int store_dynamo_ttl_days(const struct config *c);

/* Opens the adapter from the settings table (base/config.h): PARLEY_DYNAMO_CONVERSATIONS,
 * PARLEY_DYNAMO_ENTITIES, PARLEY_DYNAMO_CREATE (1 = create missing tables), PARLEY_DEMO_ORDERS
 * (0 = do not seed demo orders; default 1) and PARLEY_CONVERSATION_TTL_DAYS (default 0), plus the
 * AWS variables (aws_config_from_env). Returns as store_dynamo_new. */
struct store *store_dynamo_from_config(const struct config *c, struct err *err);

/* store_dynamo_from_config() with the settings loaded from the environment now (tests, tools);
 * NULL with err "InvalidConfig" for a bad setting. */
struct store *store_dynamo_from_env(struct err *err);

#endif
