/*
 * ratelimit.c - token buckets in a chained hash table under one mutex, and trusted-proxy
 * address selection. See ratelimit.h.
 */
#include "edge/ratelimit.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/hash.h"
#include "base/text.h"
#include "base/xmalloc.h"

#define NBUCKETS_MIN 64

struct bucket {
    char key[RATELIMIT_KEY_MAX + 1]; /* the key, cut to RATELIMIT_KEY_MAX */
    double tokens;                   /* tokens at `at` */
    int64_t at;                      /* when tokens was computed (ms) */
    struct bucket *next;             /* chain */
};

struct ratelimit {
    pthread_mutex_t mu;    /* guards everything below */
    double per_ms;         /* refill rate */
    double cap;            /* bucket size */
    size_t max_keys;       /* most buckets held */
    size_t count;          /* buckets held */
    size_t nslots;         /* chains */
    struct bucket **slots; /* the table */
};

struct ratelimit *ratelimit_new(int per_min, size_t max_keys)
{
    struct ratelimit *rl = xcalloc(1, sizeof *rl);
    pthread_mutex_init(&rl->mu, NULL);
    rl->cap = per_min > 0 ? per_min : 1;
    rl->per_ms = rl->cap / 60000.0;
    rl->max_keys = max_keys ? max_keys : 1;
    rl->nslots = NBUCKETS_MIN;
    while (rl->nslots < rl->max_keys)
        rl->nslots *= 2;
    rl->slots = xcalloc(rl->nslots, sizeof *rl->slots);
    return rl;
}

void ratelimit_free(struct ratelimit *rl)
{
    if (!rl)
        return;
    for (size_t i = 0; i < rl->nslots; i++) {
        struct bucket *b = rl->slots[i];
        while (b) {
            struct bucket *next = b->next;
            free(b);
            b = next;
        }
    }
    free(rl->slots);
    pthread_mutex_destroy(&rl->mu);
    free(rl);
}

static double level_at(const struct ratelimit *rl, const struct bucket *b, int64_t now)
{
    double t = b->tokens + (double)(now - b->at) * rl->per_ms;
    return t > rl->cap ? rl->cap : t;
}

/* Makes room for one bucket: drops every full (idle) bucket; if none was, the least recently
 * used. Called with the lock held and the table at max_keys. */
static void evict(struct ratelimit *rl, int64_t now)
{
    struct bucket **oldest = NULL;
    size_t dropped = 0;
    for (size_t i = 0; i < rl->nslots; i++) {
        struct bucket **pp = &rl->slots[i];
        while (*pp) {
            struct bucket *b = *pp;
            if (level_at(rl, b, now) >= rl->cap) {
                *pp = b->next;
                free(b);
                rl->count--;
                dropped++;
                continue;
            }
            if (!oldest || b->at < (*oldest)->at)
                oldest = pp;
            pp = &b->next;
        }
    }
    if (dropped == 0 && oldest) {
        struct bucket *b = *oldest;
        *oldest = b->next;
        free(b);
        rl->count--;
    }
}

int ratelimit_take(struct ratelimit *rl, const char *key, int64_t now_ms)
{
    char k[RATELIMIT_KEY_MAX + 1];
    snprintf(k, sizeof k, "%s", key ? key : "");
    int wait_s = 0;
    pthread_mutex_lock(&rl->mu);
    size_t slot = hash_str(k) & (rl->nslots - 1);
    struct bucket *b = rl->slots[slot];
    while (b && strcmp(b->key, k) != 0)
        b = b->next;
    if (!b) {
        if (rl->count >= rl->max_keys) {
            evict(rl, now_ms);
            slot = hash_str(k) & (rl->nslots - 1);
        }
        b = xcalloc(1, sizeof *b);
        memcpy(b->key, k, sizeof b->key);
        b->tokens = rl->cap;
        b->at = now_ms;
        b->next = rl->slots[slot];
        rl->slots[slot] = b;
        rl->count++;
    }
    double level = level_at(rl, b, now_ms);
    if (now_ms > b->at)
        b->at = now_ms;
    if (level >= 1.0) {
        b->tokens = level - 1.0;
    } else {
        b->tokens = level;
        double ms = (1.0 - level) / rl->per_ms;
        wait_s = (int)((ms + 999.0) / 1000.0);
        if (wait_s < 1)
            wait_s = 1;
    }
    pthread_mutex_unlock(&rl->mu);
    return wait_s;
}

size_t ratelimit_size(struct ratelimit *rl)
{
    pthread_mutex_lock(&rl->mu);
    size_t n = rl->count;
    pthread_mutex_unlock(&rl->mu);
    return n;
}

/* ---------------------------------------------------------------- trusted proxies */

struct cidr {
    uint32_t net;  /* network, host order */
    uint32_t mask; /* host order */
};

struct ratelimit_proxies {
    struct cidr cidrs[RATELIMIT_PROXIES_MAX]; /* the list */
    int n;                                    /* entries in use */
};

static int parse_v4(const char *s, uint32_t *out)
{
    struct in_addr a;
    if (inet_pton(AF_INET, s, &a) != 1)
        return -1;
    *out = ntohl(a.s_addr);
    return 0;
}

struct ratelimit_proxies *ratelimit_proxies_parse(const char *list, struct err *err)
{
    struct ratelimit_proxies *p = xcalloc(1, sizeof *p);
    const char *cursor = list ? list : "", *s = NULL;
    size_t len = 0;
    while ((s = text_list_next(&cursor, &len)) != NULL) {
        char item[64];
        if (len >= sizeof item || p->n >= RATELIMIT_PROXIES_MAX)
            goto bad;
        memcpy(item, s, len);
        item[len] = '\0';
        char *slash = strchr(item, '/');
        long bits = 32;
        if (slash) {
            char *end = NULL;
            *slash = '\0';
            bits = strtol(slash + 1, &end, 10);
            if (end == slash + 1 || *end || bits < 0 || bits > 32)
                goto bad;
        }
        uint32_t addr;
        if (parse_v4(item, &addr) < 0)
            goto bad;
        uint32_t mask = bits == 0 ? 0 : 0xffffffffu << (32 - bits);
        p->cidrs[p->n].net = addr & mask;
        p->cidrs[p->n].mask = mask;
        p->n++;
    }
    return p;
bad:
    err_set(err, "InvalidConfig",
            "PARLEY_TRUSTED_PROXIES entry '%.*s' is not an IPv4 address or CIDR (at most %d)",
            (int)(len > 60 ? 60 : len), s, RATELIMIT_PROXIES_MAX);
    free(p);
    return NULL;
}

void ratelimit_proxies_free(struct ratelimit_proxies *p)
{
    free(p);
}

static int trusted(const struct ratelimit_proxies *p, const char *addr)
{
    uint32_t a;
    if (!p || parse_v4(addr, &a) < 0)
        return 0;
    for (int i = 0; i < p->n; i++)
        if ((a & p->cidrs[i].mask) == p->cidrs[i].net)
            return 1;
    return 0;
}

const char *ratelimit_client_address(const struct ratelimit_proxies *p, const char *peer,
                                     const char *xff, char out[RATELIMIT_ADDR_MAX])
{
    snprintf(out, RATELIMIT_ADDR_MAX, "%s", peer ? peer : "");
    if (!xff || !trusted(p, out))
        return out;
    /* Walk X-Forwarded-For from the right: each hop appended the address it saw. */
    size_t end = strlen(xff);
    int found = 0;
    while (end > 0 && !found) {
        size_t start = end;
        while (start > 0 && xff[start - 1] != ',')
            start--;
        size_t a = start, z = end;
        while (a < z && (xff[a] == ' ' || xff[a] == '\t'))
            a++;
        while (z > a && (xff[z - 1] == ' ' || xff[z - 1] == '\t'))
            z--;
        char item[RATELIMIT_ADDR_MAX];
        uint32_t ignored;
        if (z > a && z - a < sizeof item) {
            memcpy(item, xff + a, z - a);
            item[z - a] = '\0';
            if (parse_v4(item, &ignored) == 0) {
                snprintf(out, RATELIMIT_ADDR_MAX, "%s", item);
                found = !trusted(p, item);
            }
        }
        end = start > 0 ? start - 1 : 0;
    }
    return out;
}
