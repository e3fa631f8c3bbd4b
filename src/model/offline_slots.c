/*
 * offline_slots.c - e-mail, ticket id, order id, priority and date extraction; see
 * offline_slots.h. Works on a lower-cased copy of the message and copies e-mail local parts from
 * the original, so "Jane.Doe@Example.com" keeps its local part as typed.
 */
#include "model/offline_slots.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/xmalloc.h"

#define MAX_ID_DIGITS 12

/* ------------------------------------------------------------------------------------------------
 * Helpers
 * --------------------------------------------------------------------------------------------- */

static int is_word_byte(unsigned char c)
{
    return isalnum(c) || c >= 0x80;
}

/* Returns the first occurrence of word in s as a whole word (no letter or digit on either side),
 * or NULL. */
static const char *find_word(const char *s, const char *word)
{
    size_t wl = strlen(word);
    for (const char *p = strstr(s, word); p; p = strstr(p + 1, word)) {
        int left = p == s || !is_word_byte((unsigned char)p[-1]);
        int right = !is_word_byte((unsigned char)p[wl]);
        if (left && right)
            return p;
    }
    return NULL;
}

/* Reads 1..MAX_ID_DIGITS digits at p into out; returns the number read (0 when none or too many).
 */
static size_t read_digits(const char *p, char *out, size_t cap)
{
    size_t n = 0;
    while (isdigit((unsigned char)p[n]))
        n++;
    if (n == 0 || n > MAX_ID_DIGITS || n + 1 > cap || isalpha((unsigned char)p[n]))
        return 0;
    memcpy(out, p, n);
    out[n] = '\0';
    return n;
}

static const char *skip_spaces(const char *p)
{
    while (*p == ' ' || *p == '\t')
        p++;
    return p;
}

/* After "ticket"/"order": skips "number", "no.", "num", "id", "#", ":" and spaces. */
static const char *skip_number_words(const char *p)
{
    static const char *const fillers[] = {"number", "num", "no.", "no", "nr", "id", "is", NULL};
    for (int round = 0; round < 4; round++) {
        p = skip_spaces(p);
        if (*p == '#' || *p == ':' || *p == '-') {
            p++;
            continue;
        }
        int moved = 0;
        for (int i = 0; fillers[i]; i++) {
            size_t l = strlen(fillers[i]);
            if (strncmp(p, fillers[i], l) == 0 && !isalpha((unsigned char)p[l])) {
                p += l;
                moved = 1;
                break;
            }
        }
        if (!moved)
            break;
    }
    return skip_spaces(p);
}

/* ------------------------------------------------------------------------------------------------
 * E-mail
 * --------------------------------------------------------------------------------------------- */

static int email_local_char(unsigned char c)
{
    return isalnum(c) || strchr("._%+-'", c) != NULL;
}

static int email_domain_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-';
}

static void find_email(const char *orig, char *out, size_t cap)
{
    for (const char *at = strchr(orig, '@'); at; at = strchr(at + 1, '@')) {
        const char *b = at;
        while (b > orig && email_local_char((unsigned char)b[-1]))
            b--;
        while (b < at && (*b == '.' || *b == '\''))
            b++;
        const char *e = at + 1;
        while (email_domain_char((unsigned char)*e))
            e++;
        while (e > at + 1 && (e[-1] == '.' || e[-1] == '-'))
            e--;
        if (b == at || e == at + 1)
            continue;
        const char *dot = memchr(at + 1, '.', (size_t)(e - at - 1));
        if (!dot || dot == at + 1 || dot == e - 1)
            continue;
        size_t len = (size_t)(e - b);
        if (len + 1 > cap)
            continue;
        memcpy(out, b, len);
        out[len] = '\0';
        for (char *d = out + (at - b); *d; d++)
            *d = (char)tolower((unsigned char)*d);
        return;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Ticket and order ids
 * --------------------------------------------------------------------------------------------- */

static void format_ticket(const char *digits, char *out, size_t cap)
{
    /* strip leading zeros beyond the canonical 6 digits */
    while (strlen(digits) > 6 && digits[0] == '0')
        digits++;
    if (strlen(digits) > 6)
        return;
    snprintf(out, cap, "TKT-%06lu", strtoul(digits, NULL, 10));
}

static void find_ticket(const char *s, char *out, size_t cap)
{
    char digits[MAX_ID_DIGITS + 1];
    /* TKT-000042, tkt42, tkt 42, #tkt-42 */
    for (const char *p = strstr(s, "tkt"); p; p = strstr(p + 1, "tkt")) {
        if (p > s && isalpha((unsigned char)p[-1]))
            continue;
        const char *q = p + 3;
        if (*q == '-' || *q == ' ' || *q == '#' || *q == '_')
            q++;
        if (read_digits(q, digits, sizeof digits)) {
            format_ticket(digits, out, cap);
            if (out[0])
                return;
        }
    }
    /* ticket 42, ticket #42, ticket number 42 */
    for (const char *p = find_word(s, "ticket"); p; p = find_word(p + 1, "ticket")) {
        const char *q = skip_number_words(p + 6);
        if (read_digits(q, digits, sizeof digits)) {
            format_ticket(digits, out, cap);
            if (out[0])
                return;
        }
    }
}

static void find_order(const char *s, char *out, size_t cap)
{
    /* ORD-1042, ord1042 */
    for (const char *p = strstr(s, "ord"); p; p = strstr(p + 1, "ord")) {
        if (p > s && isalpha((unsigned char)p[-1]))
            continue;
        const char *q = p + 3;
        if (*q == '-' || *q == '#' || *q == '_')
            q++;
        if (read_digits(q, out, cap))
            return;
    }
    /* order 1042, order #1042, order number 1042 */
    static const char *const words[] = {"order", "orders", "purchase", NULL};
    for (int i = 0; words[i]; i++)
        for (const char *p = find_word(s, words[i]); p; p = find_word(p + 1, words[i])) {
            const char *q = skip_number_words(p + strlen(words[i]));
            if (read_digits(q, out, cap))
                return;
        }
    /* a bare #1042 that is not a ticket */
    for (const char *p = strchr(s, '#'); p; p = strchr(p + 1, '#')) {
        const char *before = p;
        while (before > s && before[-1] == ' ')
            before--;
        if (before - s >= 6 && strncmp(before - 6, "ticket", 6) == 0)
            continue;
        if (read_digits(p + 1, out, cap))
            return;
    }
    out[0] = '\0';
}

/* ------------------------------------------------------------------------------------------------
 * Priority
 * --------------------------------------------------------------------------------------------- */

static const struct {
    const char *phrase;
    const char *priority;
} priority_words[] = {
    /* negations first: "not urgent" must not read as "urgent" */
    {"not urgent", "low"},
    {"not that urgent", "low"},
    {"no rush", "low"},
    {"no hurry", "low"},
    {"not a priority", "low"},
    {"not important", "low"},
    {"low priority", "low"},
    {"whenever", "low"},
    {"low", "low"},
    {"urgent", "urgent"},
    {"urgently", "urgent"},
    {"asap", "urgent"},
    {"as soon as possible", "urgent"},
    {"emergency", "urgent"},
    {"immediately", "urgent"},
    {"critical", "urgent"},
    {"right away", "urgent"},
    {"high priority", "high"},
    {"high", "high"},
    {"important", "high"},
    {"serious", "high"},
    {"medium priority", "medium"},
    {"normal priority", "medium"},
    {"medium", "medium"},
};

static void find_priority(const char *s, char *out, size_t cap)
{
    for (size_t i = 0; i < sizeof priority_words / sizeof priority_words[0]; i++) {
        const char *p = find_word(s, priority_words[i].phrase);
        if (!p)
            continue;
        /* bare "low"/"high"/"medium" only count next to "priority" or alone in the message */
        const char *ph = priority_words[i].phrase;
        if (strcmp(ph, "low") == 0 || strcmp(ph, "high") == 0 || strcmp(ph, "medium") == 0) {
            int alone = strlen(skip_spaces(s)) <= strlen(ph) + 2;
            if (!alone && !strstr(s, "priority"))
                continue;
        }
        snprintf(out, cap, "%s", priority_words[i].priority);
        return;
    }
}

/* ------------------------------------------------------------------------------------------------
 * Dates
 * --------------------------------------------------------------------------------------------- */

static const char *const month_names[] = {"january",   "february", "march",    "april",
                                          "may",       "june",     "july",     "august",
                                          "september", "october",  "november", "december"};

/* Returns 1..12 when p starts a month name or its 3-letter (or "sept") abbreviation followed by a
 * non-letter, with *len its length; else -1. */
static int month_at(const char *p, size_t *len)
{
    size_t l = 0;
    while (isalpha((unsigned char)p[l]))
        l++;
    for (int m = 0; m < 12; m++) {
        const char *name = month_names[m];
        if ((l == strlen(name) || l == 3 || (m == 8 && l == 4)) && l <= strlen(name) &&
            strncmp(p, name, l) == 0) {
            *len = l;
            return m + 1;
        }
    }
    return -1;
}

static int valid_day(int m, int d)
{
    static const int days[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m >= 1 && m <= 12 && d >= 1 && d <= days[m - 1];
}

static void put_date(char *out, size_t cap, int y, int m, int d)
{
    if (y > 0)
        snprintf(out, cap, "%04d-%02d-%02d", y, m, d);
    else
        snprintf(out, cap, "--%02d-%02d", m, d);
}

static void find_date(const char *s, char *out, size_t cap)
{
    /* ISO 2024-05-01 */
    for (const char *p = s; *p; p++) {
        if (p > s && isdigit((unsigned char)p[-1]))
            continue;
        /* only where four digits and a '-' begin (the match below needs them, y >= 1900 and
         * n == 10): sscanf at every other position of a message was 0.5% of a new-session turn */
        if (!isdigit((unsigned char)p[0]) || !isdigit((unsigned char)p[1]) ||
            !isdigit((unsigned char)p[2]) || !isdigit((unsigned char)p[3]) || p[4] != '-')
            continue;
        int y, m, d, n = 0;
        if (sscanf(p, "%4d-%2d-%2d%n", &y, &m, &d, &n) == 3 && n == 10 && y >= 1900 &&
            valid_day(m, d) && !isdigit((unsigned char)p[n])) {
            put_date(out, cap, y, m, d);
            return;
        }
    }
    /* "1 may 2024", "may 1st, 2024", "may 1" */
    for (const char *p = s; *p; p++) {
        if (p > s && isalpha((unsigned char)p[-1]))
            continue;
        size_t ml = 0;
        int m = isalpha((unsigned char)*p) ? month_at(p, &ml) : -1;
        if (m < 0)
            continue;
        /* "may" is too common a word to count without a day next to it */
        int d = 0, y = 0, n = 0;
        const char *q = p + ml;
        if (sscanf(q, " %2d%n", &d, &n) == 1 && valid_day(m, d)) {
            q += n;
            while (isalpha((unsigned char)*q))
                q++; /* st, nd, rd, th */
            if (sscanf(q, ", %4d%n", &y, &n) == 1 || sscanf(q, " %4d%n", &y, &n) == 1)
                if (y < 1900 || y > 2999)
                    y = 0;
            put_date(out, cap, y, m, d);
            return;
        }
        /* day before the month: walk back over "1st " */
        const char *r = p;
        while (r > s && r[-1] == ' ')
            r--;
        while (r > s && isalpha((unsigned char)r[-1]))
            r--;
        const char *dstart = r;
        while (dstart > s && isdigit((unsigned char)dstart[-1]))
            dstart--;
        if (dstart < r && r - dstart <= 2) {
            d = atoi(dstart);
            if (valid_day(m, d)) {
                if (sscanf(p + ml, " %4d%n", &y, &n) != 1 || y < 1900 || y > 2999)
                    y = 0;
                put_date(out, cap, y, m, d);
                return;
            }
        }
    }
    static const char *const relative[] = {"today",      "yesterday",    "tomorrow",   "last week",
                                           "last month", "this morning", "last night", "monday",
                                           "tuesday",    "wednesday",    "thursday",   "friday",
                                           "saturday",   "sunday",       NULL};
    for (int i = 0; relative[i]; i++)
        if (find_word(s, relative[i])) {
            snprintf(out, cap, "%s", relative[i]);
            return;
        }
}

/* ------------------------------------------------------------------------------------------------
 * Public
 * --------------------------------------------------------------------------------------------- */

void offline_slots_extract(const char *text, struct offline_slots *out)
{
    memset(out, 0, sizeof *out);
    size_t len = strnlen(text, OFFLINE_SLOTS_MAX_INPUT);
    char *orig = xstrndup(text, len);
    char *s = xstrndup(text, len);
    for (char *p = s; *p; p++)
        *p = (char)tolower((unsigned char)*p);

    find_email(orig, out->email, sizeof out->email);
    /* blank the address out so its digits are not read as ids */
    if (out->email[0]) {
        char *at = strchr(s, '@');
        while (at) {
            char *b = at, *e = at;
            while (b > s && !isspace((unsigned char)b[-1]))
                b--;
            while (*e && !isspace((unsigned char)*e))
                e++;
            memset(b, ' ', (size_t)(e - b));
            at = strchr(e, '@');
        }
    }
    find_ticket(s, out->ticket_id, sizeof out->ticket_id);
    find_order(s, out->order_id, sizeof out->order_id);
    find_priority(s, out->priority, sizeof out->priority);
    find_date(s, out->date, sizeof out->date);
    free(orig);
    free(s);
}

int offline_slots_bare_number(const char *text, char *out, size_t cap)
{
    size_t len = strnlen(text, 256);
    if (len >= 256)
        return 0;
    const char *digits = NULL;
    size_t ndig = 0, nwords = 0;
    for (const char *p = text; *p;) {
        if (isdigit((unsigned char)*p)) {
            if (digits)
                return 0; /* two numbers: ambiguous */
            digits = p;
            while (isdigit((unsigned char)*p))
                p++;
            ndig = (size_t)(p - digits);
            if (isalpha((unsigned char)*p))
                return 0;
        } else if (isalpha((unsigned char)*p)) {
            nwords++;
            while (isalpha((unsigned char)*p) || *p == '\'')
                p++;
        } else {
            p++;
        }
    }
    if (!digits || ndig > MAX_ID_DIGITS || ndig + 1 > cap || nwords > 6)
        return 0;
    memcpy(out, digits, ndig);
    out[ndig] = '\0';
    return 1;
}
