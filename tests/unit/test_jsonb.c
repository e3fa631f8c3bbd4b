/*
 * test_jsonb.c - objects member by member (base/jsonb.h) against json_pack, whose rules they keep:
 * the same object for the same members, and NULL with every value released when one is missing.
 */
#include <jansson.h>
#include <stdlib.h>

#include "../check.h"
#include "base/jsonb.h"

/* The same members as json_pack gives, in the same order (the dump shows the order). */
static void test_same_as_json_pack(void)
{
    json_t *shared = json_pack("{s:[i, i]}", "a", 1, 2);
    json_t *want = json_pack("{s:s, s:O, s:i, s:b, s:f, s:o}", "id", "s-1", "list", shared, "turn",
                             3, "isNew", 1, "score", 0.5, "empty", json_object());
    json_t *got = jsonb_object("id", jsonb_str("s-1"), "list", jsonb_ref(shared), "turn",
                               json_integer(3), "isNew", json_boolean(1), "score", json_real(0.5),
                               "empty", json_object(), NULL);
    CHECK(got != NULL);
    CHECK(json_equal(got, want));
    char *a = json_dumps(got, JSON_COMPACT), *b = json_dumps(want, JSON_COMPACT);
    CHECK_STR(a, b);
    free(a);
    free(b);
    /* "O" shares the value: one more reference, the same object */
    CHECK(json_object_get(got, "list") == shared);
    CHECK_INT(shared->refcount, 3);
    json_decref(got);
    json_decref(want);
    CHECK_INT(shared->refcount, 1);
    json_decref(shared);
    json_t *none = jsonb_object(NULL, NULL);
    CHECK(json_is_object(none) && json_object_size(none) == 0);
    json_decref(none);
}

/* A missing value, first, in the middle or last, gives NULL and releases the values given before
 * and after it (ASan's leak check fails the suite otherwise); a shared value keeps its count. */
static void test_missing_value(void)
{
    json_t *shared = json_string("kept");
    CHECK(jsonb_object("a", NULL, "b", json_integer(1), "c", jsonb_ref(shared), NULL) == NULL);
    CHECK(jsonb_object("a", json_integer(1), "b", jsonb_ref(NULL), "c", jsonb_ref(shared), NULL) ==
          NULL);
    CHECK(jsonb_object("a", jsonb_ref(shared), "b", json_array(), "c", jsonb_str(NULL), NULL) ==
          NULL);
    CHECK_INT(shared->refcount, 1);
    json_decref(shared);
    /* json_pack's "s" refuses a string that is not UTF-8, and so does jsonb_str */
    CHECK(jsonb_str("caf\xc3") == NULL);
    CHECK(jsonb_object("s", jsonb_str("caf\xc3"), NULL) == NULL);
    CHECK(json_pack("{s:s}", "s", "caf\xc3") == NULL);
}

int main(void)
{
    RUN(test_same_as_json_pack);
    RUN(test_missing_value);
    return check_summary();
}
