/*
 * guard.c - PII redaction (see guard.h).
 *
 * One left-to-right pass: email spans are found around each '@' first; elsewhere, at every
 * position that may start a number (a digit, '+' or '(' not glued to a preceding word), a card
 * number is tried, then a phone number. Anything that matches is replaced by its token.
 */
#include "base/guard.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/buf.h"
#include "base/xmalloc.h"

#define GUARD_JSON_DEPTH 64
#define MAX_GROUPS 12 /* digit groups looked at in one number */

/* ------------------------------------------------------------------------------------------------
 * Emails
 * ---------------------------------------------------------------------------------------------- */

static int local_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '_' || c == '%' || c == '+' || c == '-';
}

static int domain_char(unsigned char c)
{
    return isalnum(c) || c == '.' || c == '-';
}

/* With s[at] == '@', finds the email around it; returns 1 and its [*b, *e) span. */
static int email_at(const char *s, size_t n, size_t at, size_t *b, size_t *e)
{
    size_t l = at, r = at + 1;
    while (l > 0 && local_char((unsigned char)s[l - 1]))
        l--;
    while (l < at && s[l] == '.')
        l++;
    while (r < n && domain_char((unsigned char)s[r]))
        r++;
    while (r > at + 1 && (s[r - 1] == '.' || s[r - 1] == '-'))
        r--;
    if (l == at || r <= at + 1)
        return 0;
    /* The domain needs a dot and a top-level label of two or more letters. */
    size_t last_dot = 0;
    for (size_t i = at + 1; i < r; i++)
        if (s[i] == '.')
            last_dot = i;
    if (!last_dot || r - last_dot - 1 < 2 || s[at + 1] == '.')
        return 0;
    for (size_t i = last_dot + 1; i < r; i++)
        if (!isalpha((unsigned char)s[i]))
            return 0;
    *b = l;
    *e = r;
    return 1;
}

/* ------------------------------------------------------------------------------------------------
 * Numbers: digit groups
 * ---------------------------------------------------------------------------------------------- */

struct group {
    size_t start, end; /* digits s[start..end) */
    char sep_before;   /* separator before this group ('\0' for the first) */
};

/* A number may start at i only if it is not glued to a word before it ("TKT-000042", "abc123",
 * "v1.2"). */
static int left_boundary_ok(const char *s, size_t i)
{
    if (i == 0)
        return 1;
    unsigned char p = (unsigned char)s[i - 1];
    if (isalnum(p) || p == '_' || p == '@')
        return 0;
    if ((p == '-' || p == '.' || p == '/' || p == '#' || p == ':') && i >= 2 &&
        isalnum((unsigned char)s[i - 2]))
        return 0;
    /* Nor in the middle of a run of digit groups ("DE89 3704 0044 0532 0130 00"), unless the
     * caller knows the run before it was just redacted. */
    if (p == ' ' && i >= 2 && isdigit((unsigned char)s[i - 2]))
        return 0;
    return 1;
}

/* The character at e may end a number: not a letter, digit, '@', ':' and not a separator that
 * continues with a digit ("2024-05-31T", "14:00", "1.5"). */
static int right_boundary_ok(const char *s, size_t n, size_t e)
{
    if (e >= n)
        return 1;
    unsigned char c = (unsigned char)s[e];
    if (isalnum(c) || c == '@' || c == '_' || c == ':')
        return 0;
    if ((c == '.' || c == '-' || c == '/' || c == ',') && e + 1 < n &&
        isdigit((unsigned char)s[e + 1]))
        return 0;
    return 1;
}

static int luhn_ok(const char *s, const struct group *g, size_t ng)
{
    int sum = 0, dbl = 0;
    for (size_t k = ng; k-- > 0;) {
        for (size_t i = g[k].end; i-- > g[k].start;) {
            int d = s[i] - '0';
            if (dbl) {
                d *= 2;
                if (d > 9)
                    d -= 9;
            }
            sum += d;
            dbl = !dbl;
        }
    }
    return sum % 10 == 0;
}

static size_t digits_in(const struct group *g, size_t ng)
{
    size_t d = 0;
    for (size_t k = 0; k < ng; k++)
        d += g[k].end - g[k].start;
    return d;
}

/* Card: groups separated by exactly one space or dash. Returns the end of the longest prefix of
 * groups holding 13-19 digits that passes Luhn, or 0. */
static size_t card_at(const char *s, size_t n, size_t i)
{
    struct group g[MAX_GROUPS];
    size_t ng = 0, j = i;
    while (ng < MAX_GROUPS && j < n && isdigit((unsigned char)s[j])) {
        g[ng].start = j;
        g[ng].sep_before = ng ? s[j - 1] : '\0';
        while (j < n && isdigit((unsigned char)s[j]))
            j++;
        g[ng].end = j;
        ng++;
        if (digits_in(g, ng) > 19)
            break;
        if (j + 1 < n && (s[j] == ' ' || s[j] == '-') && isdigit((unsigned char)s[j + 1]))
            j++;
        else
            break;
    }
    for (size_t k = ng; k > 0; k--) {
        size_t d = digits_in(g, k);
        if (d < 13 || d > 19)
            continue;
        /* A shorter prefix is followed by one separator and a digit, which is fine. */
        if (k == ng && !right_boundary_ok(s, n, g[k - 1].end))
            continue;
        if (luhn_ok(s, g, k))
            return g[k - 1].end;
    }
    return 0;
}

static int looks_like_date(const char *s, const struct group *g, size_t ng)
{
    if (ng < 3)
        return 0;
    size_t a = g[0].end - g[0].start, b = g[1].end - g[1].start, c = g[2].end - g[2].start;
    char s1 = g[1].sep_before, s2 = g[2].sep_before;
    (void)s;
    if (!(s1 == '-' || s1 == '/' || s1 == '.') || s2 != s1)
        return 0;
    return (a == 4 && b <= 2 && c <= 2) || (a <= 2 && b <= 2 && (c == 2 || c == 4));
}

static int looks_like_ipv4(const struct group *g, size_t ng)
{
    if (ng != 4)
        return 0;
    for (size_t k = 0; k < 4; k++)
        if (g[k].end - g[k].start > 3 || (k && g[k].sep_before != '.'))
            return 0;
    return 1;
}

/* Phone: optional '+', digit groups separated by one of " -." and parentheses. Returns the end of
 * the phone number starting at i, or 0. */
static size_t phone_at(const char *s, size_t n, size_t i)
{
    struct group g[MAX_GROUPS];
    size_t ng = 0, j = i;
    int plus = 0, paren = 0;
    if (s[j] == '+') {
        plus = 1;
        j++;
    }
    for (;;) {
        /* Separators before a group: at most two characters, such as ") " or " (". */
        size_t sep_start = j;
        char sep = '\0';
        while (j < n && j - sep_start < 2 &&
               (s[j] == ' ' || s[j] == '-' || s[j] == '.' || s[j] == '(' || s[j] == ')')) {
            if (s[j] == '(')
                paren = 1;
            if (s[j] != '(' && s[j] != ')')
                sep = s[j];
            j++;
        }
        if (j >= n || !isdigit((unsigned char)s[j]) || ng == MAX_GROUPS) {
            j = sep_start;
            break;
        }
        if (ng == 0 && j > sep_start && s[sep_start] != '(')
            return 0; /* a number does not start with a separator */
        g[ng].start = j;
        g[ng].sep_before = ng ? (sep ? sep : ' ') : '\0';
        while (j < n && isdigit((unsigned char)s[j]))
            j++;
        g[ng].end = j;
        ng++;
    }
    /* The longest run of groups that reads as a phone number wins ("+44 20 7946 0958 4111..."
     * stops before the card number). */
    for (size_t k = ng; k > 0; k--) {
        size_t end = g[k - 1].end, d = digits_in(g, k);
        if (!right_boundary_ok(s, n, end) || looks_like_date(s, g, k) || looks_like_ipv4(g, k))
            continue;
        if (plus) {
            if (d >= 8 && d <= 15)
                return end;
            continue;
        }
        if (d < 9 || d > 11)
            continue;
        if (k >= 2 || paren || s[g[0].start] == '0') /* a bare run needs its trunk prefix 0 */
            return end;
    }
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * Redaction
 * ---------------------------------------------------------------------------------------------- */

struct span {
    size_t b, e;
};

/* Collects the email spans of in (sorted, not overlapping) into a new array. */
static struct span *find_emails(const char *in, size_t n, size_t *count)
{
    struct span *v = NULL;
    size_t nv = 0, cap = 0, from = 0;
    const char *at;
    while (from < n && (at = memchr(in + from, '@', n - from)) != NULL) {
        size_t b, e;
        from = (size_t)(at - in) + 1;
        if (!email_at(in, n, (size_t)(at - in), &b, &e) || (nv && b < v[nv - 1].e))
            continue;
        if (nv == cap) {
            cap = cap ? cap * 2 : 4;
            v = xrealloc(v, cap * sizeof *v);
        }
        v[nv++] = (struct span){b, e};
        from = e;
    }
    *count = nv;
    return v;
}

/* The redaction loop: the redacted copy of in (owned), *count (when not NULL) the replacements.
 * card_tail: cards become "[card ending NNNN]" (their last four digits) instead of "[CARD]".
 * !copy_clean: NULL instead of a copy when nothing was replaced (no allocation for a clean
 * string, the common case of an event's or a transcript's strings). */
static char *redact_text(const char *in, unsigned kinds, int card_tail, int copy_clean,
                         size_t *count)
{
    if (count)
        *count = 0;
    if (!in)
        return NULL;
    size_t n = strlen(in), i = 0, copied = 0, hits = 0, ne = 0, k = 0;
    /* A replacement token is at most 7 bytes and replaces at least 5 ("a@b.c"), or 18 bytes
     * for at least 13 digits ("[card ending 1111]"), so the output never reaches twice the
     * input. */
    char tail[32];
    struct buf o;
    buf_init(&o, 2 * n + 16);
    struct span *emails = (kinds & GUARD_EMAIL) ? find_emails(in, n, &ne) : NULL;
    while (i < n) {
        size_t limit = k < ne ? emails[k].b : n; /* numbers must end before the next email */
        size_t end = 0;
        const char *token = NULL;
        if (k < ne && i == emails[k].b) {
            end = emails[k++].e;
            token = "[EMAIL]";
        } else {
            unsigned char c = (unsigned char)in[i];
            int may_start = (isdigit(c) ||
                             ((c == '+' || c == '(') && i + 1 < n &&
                              (isdigit((unsigned char)in[i + 1]) || in[i + 1] == '('))) &&
                            (left_boundary_ok(in, i) ||
                             (hits && copied + 1 == i && in[copied] == ' '));
            if (may_start && (kinds & GUARD_CARD) && isdigit(c)) {
                end = card_at(in, n, i);
                token = "[CARD]";
                if (end && card_tail) {
                    char last[5] = "";
                    int got = 4;
                    for (size_t j = end; j-- > i && got > 0;)
                        if (isdigit((unsigned char)in[j]))
                            last[--got] = in[j];
                    snprintf(tail, sizeof tail, "[card ending %s]", last);
                    token = tail;
                }
            }
            if (may_start && !end && (kinds & GUARD_PHONE)) {
                end = phone_at(in, n, i);
                token = "[PHONE]";
            }
            if (end > limit)
                end = 0;
        }
        if (end) {
            buf_add(&o, in + copied, i - copied);
            buf_add_str(&o, token);
            hits++;
            i = copied = end;
            continue;
        }
        /* Skip the rest of a word or digit run: numbers never start inside one. */
        i++;
        while (i < limit && isalnum((unsigned char)in[i]) && isalnum((unsigned char)in[i - 1]))
            i++;
    }
    free(emails);
    if (count)
        *count = hits;
    if (!hits && !copy_clean) {
        buf_release(&o); /* still empty: nothing is added before the first hit */
        return NULL;
    }
    buf_add(&o, in + copied, n - copied);
    return buf_take(&o, NULL);
}

char *guard_redact_text_count(const char *in, unsigned kinds, size_t *count)
{
    return redact_text(in, kinds, 0, 1, count);
}

char *guard_mask_cards(const char *in, size_t *count)
{
    return redact_text(in, GUARD_CARD, 1, 1, count);
}

char *guard_redact_text(const char *in, unsigned kinds)
{
    return guard_redact_text_count(in, kinds, NULL);
}

/* 1 when s holds a chain of at least 13 digits, the fewest a card number has, where a chain is
 * digits joined by nothing or by one space or dash between two digits (card_at's groups): a
 * string without one cannot hold a card, so looking for cards in it (and copying it to do so) is
 * skipped. Digits split by anything else (a knowledge-base result's scores, a date and an order
 * number in one sentence) do not add up. */
static int card_digits(const char *s)
{
    int digits = 0;
    for (; *s; s++) {
        if ((unsigned)(*s - '0') < 10) {
            if (++digits >= 13)
                return 1;
        } else if (!((*s == ' ' || *s == '-') && digits && (unsigned)(s[1] - '0') < 10)) {
            digits = 0;
        }
    }
    return 0;
}

/* 1 when a string inside v (to GUARD_JSON_DEPTH levels, as redact_json looks) has the digits
 * of a card number. */
static int cards_possible(const json_t *v, int depth)
{
    if (!v || depth > GUARD_JSON_DEPTH)
        return 0;
    if (json_is_string(v))
        return card_digits(json_string_value(v));
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (cards_possible(json_array_get(v, i), depth + 1))
                return 1;
    } else if (json_is_object(v)) {
        json_t *o = (json_t *)v; /* the iterators take a non-const object; nothing is changed */
        for (void *it = json_object_iter(o); it; it = json_object_iter_next(o, it))
            if (cards_possible(json_object_iter_value(it), depth + 1))
                return 1;
    }
    return 0;
}

/* The redacted text of string v (owned), or NULL when it has nothing to redact; *hits counts. */
static char *redact_string(const json_t *v, unsigned kinds, int card_tail, size_t *hits)
{
    *hits = 0;
    if (kinds == GUARD_CARD && !card_digits(json_string_value(v)))
        return NULL;
    /* Strings with NUL bytes are redacted up to the first NUL, which is where C text ends. */
    return redact_text(json_string_value(v), kinds, card_tail, 0, hits);
}

static size_t redact_json(json_t *v, unsigned kinds, int card_tail, int depth);

/* Redacts x, a member of a container: a container in place, a string by a replacement that the
 * caller puts in x's place (returned, a new reference; NULL when nothing was redacted). A string
 * the container shares with other values (json_pack's "O", a copied state) thus stays as it is
 * for them. *total counts the replacements. */
static json_t *redact_member(json_t *x, unsigned kinds, int card_tail, int depth, size_t *total)
{
    if (depth > GUARD_JSON_DEPTH) /* as deep as redact_json looks, strings included */
        return NULL;
    if (!json_is_string(x)) {
        *total += redact_json(x, kinds, card_tail, depth);
        return NULL;
    }
    size_t hits;
    char *r = redact_string(x, kinds, card_tail, &hits);
    *total += hits;
    json_t *out = r ? json_string(r) : NULL;
    free(r);
    return out;
}

/* Redacts the strings inside v: the members of a container through redact_member, a string
 * passed as v itself in place. */
static size_t redact_json(json_t *v, unsigned kinds, int card_tail, int depth)
{
    size_t total = 0, hits;
    if (!v || depth > GUARD_JSON_DEPTH)
        return 0;
    if (json_is_string(v)) {
        char *r = redact_string(v, kinds, card_tail, &hits);
        if (r)
            json_string_set(v, r);
        free(r);
        return hits;
    }
    json_t *x, *r;
    if (json_is_array(v)) {
        size_t i;
        json_array_foreach(v, i, x)
            if ((r = redact_member(x, kinds, card_tail, depth + 1, &total)))
                json_array_set_new(v, i, r);
    } else if (json_is_object(v)) {
        const char *k;
        json_object_foreach(v, k, x)
            if ((r = redact_member(x, kinds, card_tail, depth + 1, &total)))
                json_object_set_new(v, k, r); /* the key is there: the iteration goes on as it is */
    }
    return total;
}

size_t guard_redact_json(json_t *value, unsigned kinds)
{
    return redact_json(value, kinds, 0, 0);
}

size_t guard_mask_cards_json(json_t *value)
{
    return redact_json(value, GUARD_CARD, 1, 0);
}

int guard_cards_possible_json(const json_t *v)
{
    return cards_possible(v, 0);
}

int guard_kinds_parse(const char *spec, unsigned *out)
{
    unsigned kinds = 0;
    if (!spec)
        return -1;
    const char *p = spec;
    while (*p) {
        while (*p == ' ' || *p == ',')
            p++;
        if (!*p)
            break;
        size_t len = strcspn(p, " ,");
        if (len == 5 && strncasecmp(p, "email", 5) == 0)
            kinds |= GUARD_EMAIL;
        else if (len == 5 && strncasecmp(p, "phone", 5) == 0)
            kinds |= GUARD_PHONE;
        else if (len == 4 && strncasecmp(p, "card", 4) == 0)
            kinds |= GUARD_CARD;
        else if (len == 3 && strncasecmp(p, "all", 3) == 0)
            kinds |= GUARD_ALL;
        else if (!(len == 4 && strncasecmp(p, "none", 4) == 0))
            return -1;
        p += len;
    }
    *out = kinds;
    return 0;
}
