/* test_budget.c - token budgets per session and per server per UTC day over a real SQLite store
 * (agent/budget.h): refusal at the cap, scopes, day rollover, state that survives reopening, and
 * a turn's tab (its unsaved tokens in the check, the counters its save adds). */
#include <stdlib.h>
#include <string.h>

#include "agent/budget.h"
#include "base/clock.h"
#include "base/xmalloc.h"
#include "check.h"
#include "store/store.h"

static char dir[] = "/tmp/parley-budget-XXXXXX";
static char *db;

#define DAY (24LL * 3600 * 1000)
/* Today at 10:00 UTC (the counters' expiry is checked against the real clock, so the day must
 * be today); the budget calls take this clock. */
static long long noon;

static void test_session_and_daily(void)
{
    struct err e;
    struct store *s = store_sqlite_new(db, 2, &e);
    CHECK(s != NULL);
    struct budget_limits l = {.session_tokens = 100, .daily_tokens = 250};
    enum budget_verdict v = BUDGET_DAILY;
    long long today = 0;
    CHECK(budget_check(s, &l, "s-1", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK);
    CHECK(budget_spend(s, &l, "s-1", 99, noon, &today, &e) == 0);
    CHECK_INT(today, 99);
    CHECK(budget_check(s, &l, "s-1", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK); /* 99 < 100 */
    CHECK(budget_spend(s, &l, "s-1", 1, noon, &today, &e) == 0);
    CHECK(budget_check(s, &l, "s-1", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_SESSION);
    CHECK_STR(budget_scope(v), "session");
    /* Another session still has its own budget, until the server's is spent. */
    CHECK(budget_check(s, &l, "s-2", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK);
    CHECK(budget_spend(s, &l, "s-2", 150, noon, &today, &e) == 0);
    CHECK_INT(today, 250);
    CHECK(budget_check(s, &l, "s-3", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_DAILY);
    CHECK_STR(budget_scope(v), "daily");
    CHECK(budget_scope(BUDGET_OK) == NULL);
    /* The next UTC day starts from zero. */
    CHECK(budget_check(s, &l, "s-1", noon + DAY, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK);
    store_free(s);

    /* Reopened (a restart): the day's spend is still there. */
    s = store_sqlite_new(db, 2, &e);
    CHECK(s != NULL);
    CHECK(budget_check(s, &l, "s-1", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_DAILY);
    struct budget_limits session_only = {.session_tokens = 100};
    CHECK(budget_check(s, &session_only, "s-1", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_SESSION);
    CHECK(budget_check(s, &session_only, "s-3", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK);
    store_free(s);
}

static void test_off(void)
{
    struct err e;
    struct store *s = store_sqlite_new(db, 1, &e);
    CHECK(s != NULL);
    struct budget_limits off = {0};
    enum budget_verdict v = BUDGET_SESSION;
    long long today = 0;
    CHECK(budget_check(s, &off, "s-1", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK); /* spent above, but no limit is on */
    /* The server's spend is counted even with the budgets off (the metric shows it). */
    CHECK(budget_spend(s, &off, "s-9", 5, noon, &today, &e) == 0);
    CHECK_INT(today, 255);
    CHECK(budget_spend(s, &off, "s-9", 0, noon, &today, &e) == 0);
    CHECK_INT(today, 0); /* nothing spent, nothing read */
    store_free(s);
}

/* A turn's tab: the check counts its unsaved tokens as spent by the session and the server, and
 * the counters a save adds are those budget_spend would write, on the day of the save. */
static void test_tab(void)
{
    struct err e;
    struct store *s = store_sqlite_new(db, 1, &e);
    CHECK(s != NULL);
    struct budget_limits l = {.session_tokens = 100, .daily_tokens = 1000};
    struct budget_tab tab = {.unsaved = 0};
    enum budget_verdict v = BUDGET_DAILY;
    CHECK(budget_check_turn(s, &l, "t-1", &tab, noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK);
    tab.unsaved = 99;
    CHECK(budget_check_turn(s, &l, "t-1", &tab, noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK);
    tab.unsaved = 100;
    CHECK(budget_check_turn(s, &l, "t-1", &tab, noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_SESSION);
    /* The server has 255 from the tests above: 745 more on the tab reach the daily cap. */
    struct budget_limits daily = {.daily_tokens = 1000};
    tab.unsaved = 745;
    CHECK(budget_check_turn(s, &daily, "t-2", &tab, noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_DAILY);
    CHECK(budget_check_turn(s, &daily, "t-2", NULL, noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK);

    json_t *c = budget_counters(&l, "t-1", 42, noon);
    CHECK_INT(json_array_size(c), 2);
    json_t *server = json_array_get(c, 0), *session = json_array_get(c, 1);
    CHECK(strncmp(json_string_value(json_object_get(server, "group")), "budget-", 7) == 0);
    CHECK_STR(json_string_value(json_object_get(server, "name")), "server");
    CHECK_STR(json_string_value(json_object_get(session, "name")), "session:t-1");
    CHECK_INT(json_integer_value(json_object_get(session, "delta")), 42);
    CHECK_INT(json_integer_value(json_object_get(server, "expiresAt")), noon / DAY * DAY + 2 * DAY);
    /* Saved as a turn's counters, they read back as budget_spend's would. */
    json_t *turn = json_pack("{s:s, s:s, s:b, s:[], s:O}", "sessionId", "t-1", "userId", "u",
                             "isNew", 1, "messages", "counters", c);
    int no = 0;
    CHECK(store_turn_save(s, turn, &no, &e) == 0);
    json_decref(turn);
    json_decref(c);
    CHECK(budget_check(s, &l, "t-1", noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_OK); /* 42 < 100 */
    tab.unsaved = 58;
    CHECK(budget_check_turn(s, &l, "t-1", &tab, noon, &v, &e) == 0);
    CHECK_INT(v, BUDGET_SESSION); /* 42 saved + 58 on the tab */
    /* Without the session budget only the server's counter is added; nothing to spend, none. */
    struct budget_limits off = {0};
    c = budget_counters(&off, "t-1", 7, noon);
    CHECK_INT(json_array_size(c), 1);
    json_decref(c);
    CHECK(budget_counters(&l, "t-1", 0, noon) == NULL);
    store_free(s);
}

int main(void)
{
    xmalloc_init();
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    db = xasprintf("%s/b.db", dir);
    noon = clock_now_ms() / DAY * DAY + 10 * 3600 * 1000;
    RUN(test_session_and_daily);
    RUN(test_off);
    RUN(test_tab);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    free(db);
    return check_summary();
}
