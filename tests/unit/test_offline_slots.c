/*
 * test_offline_slots.c - slot extraction of the offline model: e-mails, ticket ids, order ids,
 * priorities, dates, bare numbers, and hostile inputs.
 */
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/offline_slots.h"

static struct offline_slots s;

static void test_email(void)
{
    offline_slots_extract("It's jane.doe@example.com", &s);
    CHECK_STR(s.email, "jane.doe@example.com");
    offline_slots_extract("mail me at Jane.Doe+x@Example.COM.", &s);
    CHECK_STR(s.email, "Jane.Doe+x@example.com");
    offline_slots_extract("(bob_smith@mail.example.org), thanks", &s);
    CHECK_STR(s.email, "bob_smith@mail.example.org");
    offline_slots_extract("no address here @ all", &s);
    CHECK_STR(s.email, "");
    offline_slots_extract("user@localhost is not an address", &s);
    CHECK_STR(s.email, "");
    /* digits in the address are not ids */
    offline_slots_extract("my email is order1042@example.com", &s);
    CHECK_STR(s.order_id, "");
    CHECK_STR(s.email, "order1042@example.com");
}

static void test_ticket(void)
{
    offline_slots_extract("what is the status of TKT-000001", &s);
    CHECK_STR(s.ticket_id, "TKT-000001");
    offline_slots_extract("status of tkt-42?", &s);
    CHECK_STR(s.ticket_id, "TKT-000042");
    offline_slots_extract("any news on ticket 42", &s);
    CHECK_STR(s.ticket_id, "TKT-000042");
    offline_slots_extract("Ticket #7 please", &s);
    CHECK_STR(s.ticket_id, "TKT-000007");
    offline_slots_extract("ticket number 123456", &s);
    CHECK_STR(s.ticket_id, "TKT-123456");
    offline_slots_extract("my ticket is late", &s);
    CHECK_STR(s.ticket_id, "");
    /* too many digits for the id format */
    offline_slots_extract("TKT-12345678", &s);
    CHECK_STR(s.ticket_id, "");
    /* a ticket number is not an order number */
    offline_slots_extract("ticket #42", &s);
    CHECK_STR(s.order_id, "");
}

static void test_order(void)
{
    offline_slots_extract("where is order 1042?", &s);
    CHECK_STR(s.order_id, "1042");
    offline_slots_extract("check #1042 please", &s);
    CHECK_STR(s.order_id, "1042");
    offline_slots_extract("ORD-1042 has not arrived", &s);
    CHECK_STR(s.order_id, "1042");
    offline_slots_extract("my order number is 5531", &s);
    CHECK_STR(s.order_id, "5531");
    offline_slots_extract("order no. 77", &s);
    CHECK_STR(s.order_id, "77");
    offline_slots_extract("where is my order", &s);
    CHECK_STR(s.order_id, "");
    offline_slots_extract("I ordered 3 things", &s);
    CHECK_STR(s.order_id, "");
}

static void test_priority(void)
{
    offline_slots_extract("this is urgent!", &s);
    CHECK_STR(s.priority, "urgent");
    offline_slots_extract("please fix ASAP", &s);
    CHECK_STR(s.priority, "urgent");
    offline_slots_extract("it's not urgent", &s);
    CHECK_STR(s.priority, "low");
    offline_slots_extract("no rush at all", &s);
    CHECK_STR(s.priority, "low");
    offline_slots_extract("high priority please", &s);
    CHECK_STR(s.priority, "high");
    offline_slots_extract("medium", &s);
    CHECK_STR(s.priority, "medium");
    offline_slots_extract("my internet is slow and the volume is high", &s);
    CHECK_STR(s.priority, "");
    offline_slots_extract("I can't log in", &s);
    CHECK_STR(s.priority, "");
}

static void test_date(void)
{
    offline_slots_extract("it broke on 2024-05-01", &s);
    CHECK_STR(s.date, "2024-05-01");
    offline_slots_extract("ordered on May 3rd, 2024", &s);
    CHECK_STR(s.date, "2024-05-03");
    offline_slots_extract("since 12 March", &s);
    CHECK_STR(s.date, "--03-12");
    offline_slots_extract("it stopped working yesterday", &s);
    CHECK_STR(s.date, "yesterday");
    offline_slots_extract("Mark says hi", &s);
    CHECK_STR(s.date, "");
    offline_slots_extract("2024-02-30 is not a day", &s);
    CHECK_STR(s.date, "");
    offline_slots_extract("you may help me", &s);
    CHECK_STR(s.date, "");
    /* the ISO form's edges: at the start and the end, a space inside as sscanf reads it, and
     * neither a longer number nor one glued to digits */
    offline_slots_extract("2023-12-31", &s);
    CHECK_STR(s.date, "2023-12-31");
    offline_slots_extract("due 2024- 5-07", &s);
    CHECK_STR(s.date, "2024-05-07");
    offline_slots_extract("ref 12024-05-01 and 2024-05-011", &s);
    CHECK_STR(s.date, "");
    offline_slots_extract("on 1899-01-02", &s);
    CHECK_STR(s.date, "");
    offline_slots_extract("on#1999-01-02", &s);
    CHECK_STR(s.date, "1999-01-02");
    offline_slots_extract("2024-0", &s);
    CHECK_STR(s.date, "");
}

static void test_bare_number(void)
{
    char out[24];
    CHECK(offline_slots_bare_number("1042", out, sizeof out));
    CHECK_STR(out, "1042");
    CHECK(offline_slots_bare_number("it's #1042.", out, sizeof out));
    CHECK_STR(out, "1042");
    CHECK(!offline_slots_bare_number("1042 and 1043", out, sizeof out));
    CHECK(!offline_slots_bare_number("no number here", out, sizeof out));
    CHECK(!offline_slots_bare_number("1234567890123", out, sizeof out));
    CHECK(!offline_slots_bare_number("1042", out, 3));
}

static void test_hostile(void)
{
    /* long inputs are capped; odd bytes never crash */
    size_t n = 100000;
    char *big = malloc(n + 1);
    for (size_t i = 0; i < n; i++)
        big[i] = "@.#tkt-9 order#"[i % 15];
    big[n] = '\0';
    offline_slots_extract(big, &s);
    CHECK(strlen(s.email) < sizeof s.email);
    memset(big, '@', n);
    offline_slots_extract(big, &s);
    CHECK_STR(s.email, "");
    memset(big, '9', n);
    offline_slots_extract(big, &s);
    CHECK_STR(s.order_id, "");
    free(big);
    offline_slots_extract("\xff\xfe tkt-\xff order #\x80", &s);
    CHECK_STR(s.ticket_id, "");
    offline_slots_extract("", &s);
    CHECK_STR(s.email, "");
}

int main(void)
{
    RUN(test_email);
    RUN(test_ticket);
    RUN(test_order);
    RUN(test_priority);
    RUN(test_date);
    RUN(test_bare_number);
    RUN(test_hostile);
    return check_summary();
}
