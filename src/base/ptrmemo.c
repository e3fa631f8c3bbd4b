/*
 * ptrmemo.c - a bounded, thread-safe memo keyed by the address of a JSON value that never changes.
 * See ptrmemo.h.
 */
#include "base/ptrmemo.h"

#include <assert.h>
#include <pthread.h>
#include <stdlib.h>

#include "base/xmalloc.h"

#define PTRMEMO_STRIPES 64 /* locks, each over the sets equal to it modulo PTRMEMO_STRIPES */

struct entry {
    json_t *key;  /* a reference held, or NULL: the slot is free */
    size_t check; /* the key's check when kept */
    struct ptrmemo_value v;
    uint64_t used; /* the stripe's clock when last found or kept */
};

struct ptrmemo {
    size_t sets; /* a power of two */
    pthread_mutex_t mu[PTRMEMO_STRIPES];
    uint64_t clock[PTRMEMO_STRIPES]; /* clock[i] under mu[i] */
    struct entry *slot;              /* sets * PTRMEMO_WAYS */
};

struct ptrmemo *ptrmemo_new(size_t sets)
{
    assert(sets > 0 && (sets & (sets - 1)) == 0);
    struct ptrmemo *m = xcalloc(1, sizeof *m);
    m->sets = sets;
    for (int i = 0; i < PTRMEMO_STRIPES; i++)
        pthread_mutex_init(&m->mu[i], NULL);
    m->slot = xcalloc(sets * PTRMEMO_WAYS, sizeof *m->slot);
    return m;
}

void ptrmemo_free(struct ptrmemo *m)
{
    if (!m)
        return;
    for (size_t i = 0; i < m->sets * PTRMEMO_WAYS; i++) {
        json_decref(m->slot[i].key);
        json_decref(m->slot[i].v.ref);
    }
    for (int i = 0; i < PTRMEMO_STRIPES; i++)
        pthread_mutex_destroy(&m->mu[i]);
    free(m->slot);
    free(m);
}

void ptrmemo_clear(struct ptrmemo *m)
{
    for (size_t stripe = 0; stripe < PTRMEMO_STRIPES; stripe++) {
        pthread_mutex_lock(&m->mu[stripe]);
        for (size_t set = stripe; set < m->sets; set += PTRMEMO_STRIPES)
            for (int w = 0; w < PTRMEMO_WAYS; w++) {
                struct entry *e = &m->slot[set * PTRMEMO_WAYS + w];
                json_decref(e->key);
                json_decref(e->v.ref);
                *e = (struct entry){0};
            }
        pthread_mutex_unlock(&m->mu[stripe]);
    }
}

/* The set of key: its address, multiplied to spread the allocator's alignment. */
static size_t set_of(const struct ptrmemo *m, const json_t *key)
{
    return (size_t)(((uintptr_t)key * 0x9E3779B97F4A7C15ull) >> 32) & (m->sets - 1);
}

int ptrmemo_get(struct ptrmemo *m, const json_t *key, size_t check, struct ptrmemo_value *out)
{
    size_t set = set_of(m, key), stripe = set % PTRMEMO_STRIPES;
    struct entry *ways = &m->slot[set * PTRMEMO_WAYS];
    int found = 0;
    pthread_mutex_lock(&m->mu[stripe]);
    for (int w = 0; w < PTRMEMO_WAYS; w++)
        if (ways[w].key == key && ways[w].check == check) {
            ways[w].used = ++m->clock[stripe];
            *out = ways[w].v;
            json_incref(out->ref); /* under the lock: an eviction cannot free it meanwhile */
            found = 1;
            break;
        }
    pthread_mutex_unlock(&m->mu[stripe]);
    return found;
}

void ptrmemo_put(struct ptrmemo *m, const json_t *key, size_t check, const struct ptrmemo_value *v)
{
    size_t set = set_of(m, key), stripe = set % PTRMEMO_STRIPES;
    struct entry *ways = &m->slot[set * PTRMEMO_WAYS];
    struct entry fresh = {json_incref((json_t *)key), check, *v, 0};
    json_incref(fresh.v.ref);
    pthread_mutex_lock(&m->mu[stripe]);
    struct entry *room = &ways[0];
    for (int w = 0; w < PTRMEMO_WAYS; w++) {
        if (ways[w].key == key) { /* kept already (another thread, or a changed check) */
            room = &ways[w];
            break;
        }
        if (room->key && (!ways[w].key || ways[w].used < room->used))
            room = &ways[w];
    }
    struct entry old = *room;
    fresh.used = ++m->clock[stripe];
    *room = fresh;
    pthread_mutex_unlock(&m->mu[stripe]);
    json_decref(old.key); /* outside the lock: freeing may take a while */
    json_decref(old.v.ref);
}

size_t ptrmemo_check_of(const json_t *v)
{
    if (json_is_string(v))
        return json_string_length(v);
    if (json_is_object(v))
        return json_object_size(v);
    if (json_is_array(v))
        return json_array_size(v);
    return 0;
}
