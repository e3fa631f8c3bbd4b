/*
 * test_ptrmemo.c - the memo keyed by a value's address (base/ptrmemo.h): a kept entry is found
 * with its check and not with another, a set makes room by dropping the entry used longest ago,
 * the memo's references are let go of when an entry goes (replaced, dropped, cleared, freed), and
 * threads share it.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#include "base/ptrmemo.h"
#include "base/xmalloc.h"
#include "check.h"

static void test_get_put_check(void)
{
    struct ptrmemo *m = ptrmemo_new(8);
    json_t *k = json_string("a key"), *form = json_object();
    struct ptrmemo_value v;
    CHECK_INT(ptrmemo_get(m, k, 5, &v), 0);
    ptrmemo_put(m, k, ptrmemo_check_of(k), &(struct ptrmemo_value){form, 7, 8, 9});
    CHECK_INT(k->refcount, 2);
    CHECK_INT(form->refcount, 2);
    CHECK_INT(ptrmemo_get(m, k, 4, &v), 0); /* another check: not this entry */
    CHECK_INT(ptrmemo_get(m, k, 5, &v), 1);
    CHECK(v.ref == form && v.a == 7 && v.b == 8 && v.c == 9);
    CHECK_INT(form->refcount, 3); /* the reference get gives */
    json_decref(v.ref);
    /* kept again for the same key: replaced, the old value let go of */
    json_t *other = json_array();
    ptrmemo_put(m, k, 5, &(struct ptrmemo_value){other, 1, 2, 3});
    CHECK_INT(form->refcount, 1);
    CHECK_INT(k->refcount, 2);
    CHECK_INT(ptrmemo_get(m, k, 5, &v), 1);
    CHECK(v.ref == other && v.a == 1);
    json_decref(v.ref);
    ptrmemo_clear(m);
    CHECK_INT(k->refcount, 1);
    CHECK_INT(other->refcount, 1);
    CHECK_INT(ptrmemo_get(m, k, 5, &v), 0);
    CHECK_INT(ptrmemo_check_of(other), 0);
    json_array_append_new(other, json_true());
    CHECK_INT(ptrmemo_check_of(other), 1);
    CHECK_INT(ptrmemo_check_of(json_true()), 0);
    ptrmemo_free(m);
    ptrmemo_free(NULL);
    json_decref(k);
    json_decref(form);
    json_decref(other);
}

/* With one set, the fifth key drops the entry found or kept longest ago. */
static void test_set_makes_room(void)
{
    struct ptrmemo *m = ptrmemo_new(1);
    json_t *k[PTRMEMO_WAYS + 1];
    struct ptrmemo_value v;
    for (int i = 0; i <= PTRMEMO_WAYS; i++)
        k[i] = json_integer(i);
    for (int i = 0; i < PTRMEMO_WAYS; i++)
        ptrmemo_put(m, k[i], 0, &(struct ptrmemo_value){NULL, (uint64_t)i, 0, 0});
    CHECK_INT(ptrmemo_get(m, k[0], 0, &v), 1); /* k[0] used again: k[1] is now the oldest */
    ptrmemo_put(m, k[PTRMEMO_WAYS], 0, &(struct ptrmemo_value){NULL, 99, 0, 0});
    CHECK_INT(ptrmemo_get(m, k[1], 0, &v), 0);
    CHECK_INT(k[1]->refcount, 1);
    for (int i = 0; i <= PTRMEMO_WAYS; i++)
        if (i != 1) {
            CHECK_INT(ptrmemo_get(m, k[i], 0, &v), 1);
            CHECK_INT(v.a, i == PTRMEMO_WAYS ? 99 : i);
        }
    ptrmemo_free(m);
    for (int i = 0; i <= PTRMEMO_WAYS; i++) {
        CHECK_INT(k[i]->refcount, 1);
        json_decref(k[i]);
    }
}

/* Threads keep and find their own keys and shared ones in a small memo (make tsan runs it). */
static json_t *shared[16];

static void *worker(void *arg)
{
    struct ptrmemo *m = arg;
    int ok = 1;
    for (int round = 0; round < 2000; round++) {
        json_t *mine = json_integer(round);
        json_t *s = shared[round % 16];
        struct ptrmemo_value v;
        ptrmemo_put(m, mine, 1, &(struct ptrmemo_value){mine, 1, 2, 3});
        json_decref(mine); /* the memo holds it now (twice: key and value) */
        if (!ptrmemo_get(m, s, 0, &v))
            ptrmemo_put(m, s, 0, &(struct ptrmemo_value){NULL, (uint64_t)(round % 16), 0, 0});
        else if (v.a != (uint64_t)(round % 16))
            ok = 0;
    }
    return ok ? arg : NULL;
}

static void test_threads(void)
{
    struct ptrmemo *m = ptrmemo_new(4);
    for (int i = 0; i < 16; i++)
        shared[i] = json_integer(1000 + i);
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        CHECK(pthread_create(&t[i], NULL, worker, m) == 0);
    for (int i = 0; i < 4; i++) {
        void *r = NULL;
        pthread_join(t[i], &r);
        CHECK(r == m);
    }
    ptrmemo_free(m);
    for (int i = 0; i < 16; i++) {
        CHECK_INT(shared[i]->refcount, 1);
        json_decref(shared[i]);
    }
}

int main(void)
{
    xmalloc_init();
    RUN(test_get_put_check);
    RUN(test_set_makes_room);
    RUN(test_threads);
    return check_summary();
}
