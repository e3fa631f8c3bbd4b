/* test_dlist.c - the intrusive list: linking at both ends and after a link, unlinking (twice,
 * and of a zeroed link), moving to the head, walking both ways, the foreach macros, and getting
 * the element back from its link. */
#include <stddef.h>

#include "base/dlist.h"
#include "check.h"

struct item {
    int id;
    struct dlist link; /* not first, so dlist_entry must subtract an offset */
};

static struct item *item_of(struct dlist *n)
{
    return dlist_entry(n, struct item, link);
}

/* Writes the ids of head's elements, first to last, into out as digits (at most 15 of them) and
 * checks the list the other way round against it, so a broken prev pointer shows too. Returns
 * out. */
static const char *ids(struct dlist *head, char out[16])
{
    size_t n = 0;
    for (struct dlist *l = dlist_first(head); l && n < 15; l = dlist_next(head, l))
        out[n++] = (char)('0' + item_of(l)->id);
    out[n] = '\0';
    size_t back = n;
    for (struct dlist *l = dlist_last(head); l; l = dlist_prev(head, l)) {
        if (back == 0 || out[back - 1] != (char)('0' + item_of(l)->id)) {
            out[0] = '!'; /* the backward walk disagrees */
            return out;
        }
        back--;
    }
    if (back != 0)
        out[0] = '!';
    return out;
}

static void test_empty(void)
{
    struct dlist head;
    char buf[16];
    dlist_init(&head);
    CHECK(dlist_is_empty(&head));
    CHECK(dlist_first(&head) == NULL);
    CHECK(dlist_last(&head) == NULL);
    CHECK_STR(ids(&head, buf), "");
    CHECK(dlist_entry(dlist_first(&head), struct item, link) == NULL);
}

static void test_push_both_ends(void)
{
    struct dlist head;
    struct item it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};
    char buf[16];
    dlist_init(&head);
    dlist_push_tail(&head, &it[1].link);
    dlist_push_head(&head, &it[0].link);
    dlist_push_tail(&head, &it[2].link);
    dlist_push_tail(&head, &it[3].link);
    CHECK(!dlist_is_empty(&head));
    CHECK_STR(ids(&head, buf), "1234");
    CHECK(item_of(dlist_first(&head)) == &it[0]);
    CHECK(item_of(dlist_last(&head)) == &it[3]);
    CHECK(dlist_next(&head, &it[3].link) == NULL);
    CHECK(dlist_prev(&head, &it[0].link) == NULL);
}

static void test_unlink_anywhere_and_twice(void)
{
    struct dlist head;
    struct item it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};
    char buf[16];
    dlist_init(&head);
    for (int i = 0; i < 4; i++)
        dlist_push_tail(&head, &it[i].link);
    dlist_unlink(&it[1].link); /* middle */
    CHECK_STR(ids(&head, buf), "134");
    CHECK(!dlist_is_linked(&it[1].link));
    dlist_unlink(&it[1].link); /* again: nothing happens */
    CHECK_STR(ids(&head, buf), "134");
    dlist_unlink(&it[0].link); /* first */
    CHECK_STR(ids(&head, buf), "34");
    dlist_unlink(&it[3].link); /* last */
    CHECK_STR(ids(&head, buf), "3");
    CHECK(dlist_is_linked(&it[2].link));
    dlist_unlink(&it[2].link); /* the only one */
    CHECK(dlist_is_empty(&head));
    CHECK_STR(ids(&head, buf), "");

    struct item zeroed = {9, {0}}; /* as xcalloc gives it: on no list */
    CHECK(!dlist_is_linked(&zeroed.link));
    dlist_unlink(&zeroed.link);
    CHECK(!dlist_is_linked(&zeroed.link));
    CHECK(dlist_is_empty(&head));
}

static void test_insert_after(void)
{
    struct dlist head;
    struct item it[4] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}};
    char buf[16];
    dlist_init(&head);
    dlist_insert_after(&head, &it[2].link); /* after the head: the first */
    CHECK_STR(ids(&head, buf), "3");
    dlist_insert_after(&head, &it[0].link);
    CHECK_STR(ids(&head, buf), "13");
    dlist_insert_after(&it[0].link, &it[1].link); /* in the middle */
    CHECK_STR(ids(&head, buf), "123");
    dlist_insert_after(&it[2].link, &it[3].link); /* after the last */
    CHECK_STR(ids(&head, buf), "1234");
    CHECK(item_of(dlist_last(&head)) == &it[3]);
}

static void test_move_head(void)
{
    struct dlist head;
    struct item it[3] = {{1, {0}}, {2, {0}}, {3, {0}}};
    char buf[16];
    dlist_init(&head);
    dlist_move_head(&head, &it[2].link); /* on no list yet: just pushed */
    dlist_move_head(&head, &it[1].link);
    dlist_move_head(&head, &it[0].link);
    CHECK_STR(ids(&head, buf), "123");
    dlist_move_head(&head, &it[2].link); /* the last */
    CHECK_STR(ids(&head, buf), "312");
    dlist_move_head(&head, &it[1].link); /* a middle one */
    CHECK_STR(ids(&head, buf), "231");
    dlist_move_head(&head, &it[1].link); /* already first */
    CHECK_STR(ids(&head, buf), "231");

    struct dlist other; /* from one list to another */
    dlist_init(&other);
    dlist_move_head(&other, &it[2].link);
    CHECK_STR(ids(&head, buf), "21");
    CHECK_STR(ids(&other, buf), "3");
}

static void test_foreach(void)
{
    struct dlist head, *n, *tmp;
    struct item it[5] = {{1, {0}}, {2, {0}}, {3, {0}}, {4, {0}}, {5, {0}}};
    char buf[16];
    dlist_init(&head);
    for (int i = 0; i < 5; i++)
        dlist_push_tail(&head, &it[i].link);
    int sum = 0, order = 0;
    dlist_foreach(n, &head) {
        order = order * 10 + item_of(n)->id;
        sum++;
    }
    CHECK_INT(order, 12345);
    CHECK_INT(sum, 5);
    /* the safe walk may unlink the link it is on: drop the even ones */
    dlist_foreach_safe(n, tmp, &head) {
        if (item_of(n)->id % 2 == 0)
            dlist_unlink(n);
    }
    CHECK_STR(ids(&head, buf), "135");
    dlist_foreach_safe(n, tmp, &head)
        dlist_unlink(n);
    CHECK(dlist_is_empty(&head));
    for (int i = 0; i < 5; i++)
        CHECK(!dlist_is_linked(&it[i].link));
    sum = 0;
    dlist_foreach(n, &head)
        sum++;
    CHECK_INT(sum, 0);
}

int main(void)
{
    RUN(test_empty);
    RUN(test_push_both_ends);
    RUN(test_unlink_anywhere_and_twice);
    RUN(test_insert_after);
    RUN(test_move_head);
    RUN(test_foreach);
    return check_summary();
}
