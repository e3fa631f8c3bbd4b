/* test_budget.c - token budgets per session and per server per UTC day over a real SQLite store
 * (agent/budget.h): refusal at the cap, scopes, day rollover, and state that survives reopening. */
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

int main(void)
{
    xmalloc_init();
    if (!check_require("a temporary directory", mkdtemp(dir) != NULL))
        return check_summary();
    db = xasprintf("%s/b.db", dir);
    noon = clock_now_ms() / DAY * DAY + 10 * 3600 * 1000;
    RUN(test_session_and_daily);
    RUN(test_off);
    char *cmd = xasprintf("rm -rf %s", dir);
    if (system(cmd) != 0)
        fprintf(stderr, "cannot remove %s\n", dir);
    free(cmd);
    free(db);
    return check_summary();
}
