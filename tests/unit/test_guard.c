/*
 * test_guard.c - PII redaction: emails, phone numbers, Luhn-checked card numbers, and the
 * look-alikes that must survive (order numbers, ticket ids, dates, times, IPs, UUIDs).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/guard.h"
#include "check.h"

struct tcase {
    const char *in;
    unsigned kinds;
    const char *want;
};

static const struct tcase cases[] = {
    /* Emails. */
    {"write to ana.lopez+support@example.co.uk please", GUARD_ALL, "write to [EMAIL] please"},
    {"mail: bob@mail.example.com.", GUARD_ALL, "mail: [EMAIL]."},
    {"<j_doe99@sub-domain.io>", GUARD_ALL, "<[EMAIL]>"},
    {"two: a@b.io, c@d.org", GUARD_ALL, "two: [EMAIL], [EMAIL]"},
    {"not an email: user@localhost or @handle or a@b.c", GUARD_ALL,
     "not an email: user@localhost or @handle or a@b.c"},
    {"digits in an email 5551234567@example.com stay one token", GUARD_ALL,
     "digits in an email [EMAIL] stay one token"},
    /* Phones: international. */
    {"call +44 20 7946 0958 now", GUARD_ALL, "call [PHONE] now"},
    {"call +1 (555) 123-4567.", GUARD_ALL, "call [PHONE]."},
    {"+33 6 12 34 56 78", GUARD_ALL, "[PHONE]"},
    {"+4915112345678", GUARD_ALL, "[PHONE]"},
    /* Phones: national formats. */
    {"(555) 123-4567", GUARD_ALL, "[PHONE]"},
    {"my number is 555-123-4567, thanks", GUARD_ALL, "my number is [PHONE], thanks"},
    {"555.123.4567", GUARD_ALL, "[PHONE]"},
    {"06 12 34 56 78", GUARD_ALL, "[PHONE]"},
    {"020 7946 0958", GUARD_ALL, "[PHONE]"},
    {"07911123456", GUARD_ALL, "[PHONE]"},
    /* Look-alikes that are not phones. */
    {"order 1042 is late", GUARD_ALL, "order 1042 is late"},
    {"order #1042", GUARD_ALL, "order #1042"},
    {"ticket TKT-000042 and TKT-123456789", GUARD_ALL, "ticket TKT-000042 and TKT-123456789"},
    {"on 2024-05-31 at 14:00", GUARD_ALL, "on 2024-05-31 at 14:00"},
    {"on 31/05/2024 14:30", GUARD_ALL, "on 31/05/2024 14:30"},
    {"2024-05-31T14:00:00Z", GUARD_ALL, "2024-05-31T14:00:00Z"},
    {"from 192.168.100.20", GUARD_ALL, "from 192.168.100.20"},
    {"id 6a7e8feb-b491-4cf7-a9f1-bf3703467718", GUARD_ALL,
     "id 6a7e8feb-b491-4cf7-a9f1-bf3703467718"},
    {"version 1.2.3 and 3.14159", GUARD_ALL, "version 1.2.3 and 3.14159"},
    {"order 5551234567", GUARD_ALL, "order 5551234567"},
    {"total $1,234.56", GUARD_ALL, "total $1,234.56"},
    {"iban DE89 3704 0044 0532 0130 00", GUARD_ALL, "iban DE89 3704 0044 0532 0130 00"},
    {"between 2024-01-01 and 2024-12-31", GUARD_ALL, "between 2024-01-01 and 2024-12-31"},
    /* Cards (Luhn-valid test numbers). */
    {"card 4111 1111 1111 1111 exp 12/27", GUARD_ALL, "card [CARD] exp 12/27"},
    {"4111-1111-1111-1111", GUARD_ALL, "[CARD]"},
    {"4111111111111111", GUARD_ALL, "[CARD]"},
    {"amex 3782 822463 10005.", GUARD_ALL, "amex [CARD]."},
    {"5555555555554444 and 4111111111111111", GUARD_ALL, "[CARD] and [CARD]"},
    {"card 4111 1111 1111 1111 2025", GUARD_ALL, "card [CARD] 2025"},
    /* Digit runs failing Luhn are left alone. */
    {"card 4111 1111 1111 1112", GUARD_ALL, "card 4111 1111 1111 1112"},
    {"ref 1234567890123", GUARD_ALL, "ref 1234567890123"},
    {"twenty digits 12345678901234567890", GUARD_ALL, "twenty digits 12345678901234567890"},
    /* Kinds switched off. */
    {"a@b.io, +44 20 7946 0958, 4111111111111111", GUARD_EMAIL,
     "[EMAIL], +44 20 7946 0958, 4111111111111111"},
    {"a@b.io, +44 20 7946 0958, 4111111111111111", GUARD_PHONE,
     "a@b.io, [PHONE], 4111111111111111"},
    {"a@b.io, +44 20 7946 0958, 4111111111111111", GUARD_CARD, "a@b.io, +44 20 7946 0958, [CARD]"},
    {"a@b.io, +44 20 7946 0958, 4111111111111111", 0, "a@b.io, +44 20 7946 0958, 4111111111111111"},
    /* A number does not start inside a run of digit groups, which takes a separator to end. */
    {"+44 20 7946 0958 4111111111111111", GUARD_CARD, "+44 20 7946 0958 4111111111111111"},
    {"+44 20 7946 0958 4111111111111111", GUARD_ALL, "[PHONE] [CARD]"},
    /* Edges. */
    {"", GUARD_ALL, ""},
    {"@@@@ ++++ (((( ----", GUARD_ALL, "@@@@ ++++ (((( ----"},
    {"Zürich: +41 44 668 18 00 – merci", GUARD_ALL, "Zürich: [PHONE] – merci"},
};

static void test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char *got = guard_redact_text(cases[i].in, cases[i].kinds);
        CHECK_STR(got, cases[i].want);
        free(got);
    }
}

static void test_count_and_null(void)
{
    size_t n = 99;
    char *r = guard_redact_text_count("x@y.io and 4111111111111111 and +44 20 7946 0958", GUARD_ALL,
                                      &n);
    CHECK_STR(r, "[EMAIL] and [CARD] and [PHONE]");
    CHECK_INT(n, 3);
    free(r);
    CHECK(guard_redact_text(NULL, GUARD_ALL) == NULL);
    CHECK(guard_redact_text_count(NULL, GUARD_ALL, &n) == NULL);
    CHECK_INT(n, 0);
    CHECK_INT(guard_redact_json(NULL, GUARD_ALL), 0);
}

static void test_json_in_place(void)
{
    json_t *doc = json_pack("{s:s, s:[s, {s:s, s:i}], s:s}", "email", "ana@example.com", "messages",
                            "call me at 555-123-4567", "text", "card 4111 1111 1111 1111", "order",
                            1042, "ana@example.com", "key is not redacted");
    size_t n = guard_redact_json(doc, GUARD_ALL);
    CHECK_INT(n, 3);
    CHECK_STR(json_string_value(json_object_get(doc, "email")), "[EMAIL]");
    json_t *msgs = json_object_get(doc, "messages");
    CHECK_STR(json_string_value(json_array_get(msgs, 0)), "call me at [PHONE]");
    CHECK_STR(json_string_value(json_object_get(json_array_get(msgs, 1), "text")), "card [CARD]");
    CHECK_INT(json_integer_value(json_object_get(json_array_get(msgs, 1), "order")), 1042);
    /* Object keys are kept even when they look like PII. */
    CHECK(json_object_get(doc, "ana@example.com") != NULL);
    CHECK_INT(guard_redact_json(doc, GUARD_ALL), 0); /* idempotent */
    json_decref(doc);

    /* A string the redacted value shares with another (as an event's detail shares the turn's
     * message) is replaced in the container, not changed under the other holder; a string
     * passed on its own is changed in place. */
    json_t *shared = json_string("mail ana@example.com");
    json_t *state = json_pack("{s:O}", "message", shared);
    json_t *detail = json_pack("{s:O, s:[O]}", "message", shared, "list", shared);
    CHECK_INT(guard_redact_json(detail, GUARD_EMAIL), 2);
    CHECK_STR(json_string_value(json_object_get(detail, "message")), "mail [EMAIL]");
    CHECK_STR(json_string_value(json_array_get(json_object_get(detail, "list"), 0)),
              "mail [EMAIL]");
    CHECK_STR(json_string_value(json_object_get(state, "message")), "mail ana@example.com");
    CHECK_INT(guard_mask_cards_json(shared), 0);
    CHECK_INT(guard_redact_json(shared, GUARD_EMAIL), 1);
    CHECK_STR(json_string_value(shared), "mail [EMAIL]");
    json_decref(detail);
    json_decref(state);
    json_decref(shared);
}

static void test_json_deep(void)
{
    json_t *root = json_array(), *cur = root;
    for (int i = 0; i < 200; i++) {
        json_t *next = json_array();
        json_array_append_new(cur, next);
        cur = next;
    }
    json_array_append_new(cur, json_string("deep@example.com"));
    json_array_append_new(root, json_string("shallow@example.com"));
    CHECK_INT(guard_redact_json(root, GUARD_ALL), 1); /* only within the depth cap */
    json_decref(root);

    /* the cap's edge: a string 64 levels down is redacted, one 65 levels down is not, in an
     * array or an object alike */
    for (int obj = 0; obj < 2; obj++) {
        root = json_array();
        cur = root;
        for (int d = 1; d <= 64; d++) { /* cur ends 64 levels down */
            json_t *next = obj ? json_object() : json_array();
            if (d == 64) {
                json_t *s63 = json_string("at64@example.com");
                if (json_is_object(cur))
                    json_object_set_new(cur, "s", s63);
                else
                    json_array_append_new(cur, s63);
            }
            if (json_is_object(cur))
                json_object_set_new(cur, "n", next);
            else
                json_array_append_new(cur, next);
            cur = next;
        }
        if (obj)
            json_object_set_new(cur, "s", json_string("at65@example.com"));
        else
            json_array_append_new(cur, json_string("at65@example.com"));
        CHECK_INT(guard_redact_json(root, GUARD_ALL), 1);
        json_decref(root);
    }
}

static void test_kinds_parse(void)
{
    unsigned k = 123;
    CHECK_INT(guard_kinds_parse("email, card", &k), 0);
    CHECK_INT(k, GUARD_EMAIL | GUARD_CARD);
    CHECK_INT(guard_kinds_parse("ALL", &k), 0);
    CHECK_INT(k, GUARD_ALL);
    CHECK_INT(guard_kinds_parse("none", &k), 0);
    CHECK_INT(k, 0);
    k = 5;
    CHECK_INT(guard_kinds_parse("email,ssn", &k), -1);
    CHECK_INT(k, 5);
    CHECK_INT(guard_kinds_parse(NULL, &k), -1);
}

static void test_noise_does_not_crash(void)
{
    /* Pseudo-random bytes from a fixed seed: output must stay a valid string. */
    unsigned seed = 42;
    char buf[4097];
    const char alphabet[] = "0123456789 +-().@abcxyz/:#\n";
    for (int round = 0; round < 50; round++) {
        for (int i = 0; i < 4096; i++) {
            seed = seed * 1103515245u + 12345u;
            buf[i] = alphabet[(seed >> 16) % (sizeof alphabet - 1)];
        }
        buf[4096] = '\0';
        size_t n = 0;
        char *r = guard_redact_text_count(buf, GUARD_ALL, &n);
        CHECK(r != NULL);
        free(r);
    }
}

/* guard_mask_cards: Luhn-valid card numbers in any grouping keep only their last four digits;
 * everything else (emails, phones, order numbers, Luhn failures) is left as it was. */
static void test_mask_cards(void)
{
    size_t n = 9;
    char *m = guard_mask_cards("card 4111 1111 1111 1111, or 5500-0000-0000-0004 and "
                               "378282246310005; jo@example.com +44 20 7946 0958 order 1042 "
                               "4111 1111 1111 1112",
                               &n);
    CHECK_STR(m, "card [card ending 1111], or [card ending 0004] and [card ending 0005]; "
                 "jo@example.com +44 20 7946 0958 order 1042 4111 1111 1111 1112");
    CHECK_INT(n, 3);
    free(m);
    CHECK(guard_mask_cards(NULL, &n) == NULL);
    CHECK_INT(n, 0);
    json_t *v = json_pack("{s:[{s:s, s:s}], s:{s:s}}", "messages", "role", "user", "content",
                          "pay with 4111111111111111", "input", "note", "4111111111111111");
    CHECK_INT(guard_mask_cards_json(v), 2);
    CHECK_STR(json_string_value(
                  json_object_get(json_array_get(json_object_get(v, "messages"), 0), "content")),
              "pay with [card ending 1111]");
    CHECK_STR(json_string_value(json_object_get(json_object_get(v, "input"), "note")),
              "[card ending 1111]");
    json_decref(v);
    CHECK_INT(guard_mask_cards_json(NULL), 0);
}

/* guard_cards_possible_json: 1 exactly when a string has the 13 digits a card needs in one chain
 * of groups (joined by one space or dash), wherever it sits (guard_mask_cards_json's reach); a
 * value without is left alone by the masking. */
static void test_cards_possible(void)
{
    CHECK_INT(guard_cards_possible_json(NULL), 0);
    json_t *v = json_pack("{s:s, s:[s, i, {s:s}], s:s}", "a", "order 1042 on 2026-12-06", "b",
                          "call +44 20 7946 0958", 4111111111111111LL, "c", "12 digits 1234 5678",
                          "d", "9012");
    CHECK_INT(guard_cards_possible_json(v), 0); /* 12 digits in one string at most; numbers too */
    char *before = json_dumps(v, JSON_COMPACT);
    CHECK_INT(guard_mask_cards_json(v), 0);
    char *after = json_dumps(v, JSON_COMPACT);
    CHECK_STR(after, before);
    free(before);
    free(after);
    /* Thirteen digits deep inside: possible (and a Luhn-valid one is masked there). */
    json_object_set_new(json_array_get(json_object_get(v, "b"), 2), "e",
                        json_string("ref 4111 1111 1111 1111"));
    CHECK_INT(guard_cards_possible_json(v), 1);
    CHECK_INT(guard_mask_cards_json(v), 1);
    json_decref(v);
    /* Thirteen digits that are no card: possible, nothing masked. */
    v = json_pack("[s]", "1234567890123");
    CHECK_INT(guard_cards_possible_json(v), 1);
    CHECK_INT(guard_mask_cards_json(v), 0);
    json_decref(v);
    /* Digits apart do not add up: a knowledge-base result's scores and figures, a timestamp and
     * an order in one sentence, groups two spaces apart. Groups one space or dash apart do. */
    static const struct {
        const char *s;
        int possible;
    } chains[] = {
        {"{\"score\":14.2591},{\"score\":8.74},{\"score\":8.2784}, at least 10 characters", 0},
        {"order 1042 placed 2026-11-20T10:15:00Z, total 89.99", 0},
        {"4111  1111  1111  1111", 0},
        {"4111 1111 1111 1111", 1},
        {"4111-1111-1111-1111", 1},
        {"12 34 56 78 90 12 3", 1},
        {"1234-5678-9012 3", 1},
        {"1234-5678-9012 x3", 0},
        {"1234 -5678 9012 3", 0},
        {"123456789012 ", 0},
    };
    for (size_t i = 0; i < sizeof chains / sizeof chains[0]; i++) {
        v = json_string(chains[i].s);
        if (guard_cards_possible_json(v) != chains[i].possible)
            fprintf(stderr, "case %zu: '%s'\n", i, chains[i].s);
        CHECK_INT(guard_cards_possible_json(v), chains[i].possible);
        json_decref(v);
    }
    /* Whatever the masking would change, the check calls possible: random strings of digits and
     * the characters around them, against guard_mask_cards itself. */
    static const char alphabet[] = "0123456789012345678901234567890123456789  --.a/";
    uint64_t x = 0x2545F4914F6CDD1DULL;
    int masked = 0;
    for (int round = 0; round < 20000; round++) {
        char text[48];
        size_t len = 13 + round % 30;
        for (size_t k = 0; k < len; k++) {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            text[k] = alphabet[x % (sizeof alphabet - 1)];
        }
        text[len] = '\0';
        size_t n = 0;
        char *m = guard_mask_cards(text, &n);
        v = json_string(text);
        if (n > 0 && !guard_cards_possible_json(v))
            fprintf(stderr, "missed: '%s'\n", text);
        CHECK(n == 0 || guard_cards_possible_json(v));
        masked += n > 0;
        json_decref(v);
        free(m);
    }
    CHECK(masked > 10); /* the strings did hold cards */
}

int main(void)
{
    RUN(test_table);
    RUN(test_count_and_null);
    RUN(test_json_in_place);
    RUN(test_json_deep);
    RUN(test_kinds_parse);
    RUN(test_noise_does_not_crash);
    RUN(test_mask_cards);
    RUN(test_cards_possible);
    return check_summary();
}
