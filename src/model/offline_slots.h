/*
 * offline_slots.h - slot extraction for the offline model: the e-mail address, ticket id, order id,
 * priority and date a customer's message mentions, normalised to the forms the tools expect.
 * Pure functions over one message; the dialogue policy (offline_policy.h) decides which message
 * fills which slot.
 */
#ifndef PARLEY_OFFLINE_SLOTS_H
#define PARLEY_OFFLINE_SLOTS_H

#include <stddef.h>

/* Only the first OFFLINE_SLOTS_MAX_INPUT bytes of a message are scanned. */
#define OFFLINE_SLOTS_MAX_INPUT 8192

struct offline_slots {
    char email[256];    /* first e-mail address, domain lower-cased; "" when none */
    char ticket_id[16]; /* "TKT-000042" from "TKT-000042", "tkt-42", "ticket 42", "ticket #42" */
    char order_id[24];  /* digits only: "1042" from "order 1042", "#1042", "ORD-1042" */
    char priority[8];   /* "low" | "medium" | "high" | "urgent"; "" when not stated */
    char date[32];      /* "2024-05-01", "--05-01" (no year), or a relative word such as
                           "yesterday"; "" when none */
};

/* Fills out with the slots found in text (NUL-terminated, any bytes). Never fails; absent slots
 * are empty strings. */
void offline_slots_extract(const char *text, struct offline_slots *out);

/* When text is little more than one number (e.g. "1042", "it's 1042.", "#1042"), copies its digits
 * into out (cap bytes, at most 12 digits) and returns 1; otherwise returns 0. Used to fill a slot
 * the model has just asked for. */
int offline_slots_bare_number(const char *text, char *out, size_t cap);

#endif
