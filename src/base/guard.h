/*
 * guard.h - PII redaction for what leaves the live conversation: archived transcripts, logs and
 * events; and card numbers, masked where text enters (guard_mask_cards), so that they are never
 * sent to the model or stored.
 *
 * Kinds (a bit set, so each can be switched on or off):
 *   GUARD_EMAIL  user@example.com                         -> [EMAIL]
 *   GUARD_PHONE  +44 20 7946 0958, (555) 123-4567,         -> [PHONE]
 *                555-123-4567, 06 12 34 56 78, 07911123456
 *   GUARD_CARD   13-19 digits, optionally grouped by       -> [CARD]
 *                spaces or dashes, that pass the Luhn check
 * Left alone on purpose: order numbers ("1042"), ticket ids ("TKT-000042"), dates and times
 * ("2024-05-31", "31/05/2024 14:00"), IPv4 addresses, UUIDs, digit runs that fail Luhn, and bare
 * 10-digit runs not starting with 0 (they are order numbers as often as phone numbers).
 *
 * All functions are pure and thread-safe.
 */
#ifndef PARLEY_AGENT_GUARD_H
#define PARLEY_AGENT_GUARD_H

#include <jansson.h>
#include <stddef.h>

enum guard_kind {
    GUARD_EMAIL = 1u << 0,
    GUARD_PHONE = 1u << 1,
    GUARD_CARD = 1u << 2,
    GUARD_ALL = GUARD_EMAIL | GUARD_PHONE | GUARD_CARD,
};

/* ---- configuration ---- */

/* Parses a comma-separated list of "email", "phone", "card", or "all" / "none" (case-insensitive,
 * spaces allowed) into *out. Returns 0, or -1 on an unknown word (*out untouched). */
int guard_kinds_parse(const char *spec, unsigned *out);

/* ---- redaction ---- */

/* Returns a redacted copy of in (owned by the caller, free()), or NULL when in is NULL. When
 * count is not NULL it receives the number of replacements. Input is treated as bytes; UTF-8
 * passes through unchanged. */
char *guard_redact_text_count(const char *in, unsigned kinds, size_t *count);

/* Same without the count. */
char *guard_redact_text(const char *in, unsigned kinds);

/* Redacts every string value inside value, in place (object keys are kept), descending at most 64
 * levels: a string inside a container is replaced there by a new string, so a string value
 * shares with others is left as they see it. Returns the number of replacements made. NULL is a
 * no-op returning 0. */
size_t guard_redact_json(json_t *value, unsigned kinds);

/* ---- card numbers at entry ---- */

/* Card numbers (GUARD_CARD's rule) never reach the model or the disk: they are masked where
 * customer or operator text enters, keeping the last four digits the customer may need to tell
 * cards apart. Returns a copy of in (owned, free()) with each Luhn-valid card number replaced by
 * "[card ending 1111]", or NULL when in is NULL; *count (when not NULL) gets the number masked. */
char *guard_mask_cards(const char *in, size_t *count);

/* Masks card numbers in every string value inside value, in place, as guard_mask_cards (a shared
 * string is replaced in its container, as guard_redact_json does); at most 64 levels deep.
 * Returns the number masked. NULL is a no-op returning 0. */
size_t guard_mask_cards_json(json_t *value);

/* 1 when some string inside value (at most 64 levels deep, as guard_mask_cards_json looks) has
 * the 13 digits a card number needs in one chain (digits joined by nothing or by one space or
 * dash, as a card's groups are), else 0: a value without is stored as it is, not copied to be
 * masked. NULL gives 0. */
int guard_cards_possible_json(const json_t *value);

#endif
