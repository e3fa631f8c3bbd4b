/*
 * test_e2e_model_edges.c - `parley serve` with PARLEY_MODEL=anthropic against the fake provider:
 * a refusal ends the turn with the polite decline, and a provider that keeps answering 529 costs
 * exactly MODEL_MAX_CALLS upstream calls for the turn (the HTTP client's retries, none from the
 * workflow), after which /chat answers 200 with the apology (documented in README).
 */
#include "check.h"
#include "e2e/e2e.h"
#include "fakes/fake_http.h"
#include "model/providers.h"

static void test_refusal_and_budget(void)
{
    struct fake_http f;
    CHECK_INT(fake_http_start(&f), 0);
    fake_http_push(
        &f, 200, "Content-Type: application/json\n",
        "{\"id\":\"msg_r\",\"type\":\"message\",\"role\":\"assistant\",\"content\":[],"
        "\"stop_reason\":\"refusal\",\"usage\":{\"input_tokens\":3,\"output_tokens\":0}}",
        (size_t)-1, 0);
    for (int i = 0; i < 12; i++)
        fake_http_push(&f, 529, "Content-Type: application/json\n",
                       "{\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":"
                       "\"Overloaded\"}}",
                       (size_t)-1, 0);
    char dir[64];
    CHECK(e2e_tmpdir(dir, sizeof dir) == 0);
    static char e_url[128];
    snprintf(e_url, sizeof e_url, "ANTHROPIC_BASE_URL=%s", f.base_url);
    const char *env[] = {"PARLEY_MODEL=anthropic", "ANTHROPIC_API_KEY=test-key", e_url, NULL};
    struct e2e_server srv;
    if (e2e_start_env(&srv, dir, env) != 0) {
        CHECK(0);
        fake_http_stop(&f);
        return;
    }
    struct e2e_resp r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"Tell me a secret\"}");
    CHECK_INT(r.status, 200);
    CHECK_STR(e2e_str(&r, "reply"), MODEL_DECLINE_TEXT);
    e2e_resp_free(&r);
    CHECK_INT(fake_http_count(&f), 1);

    r = e2e_http(&srv, "POST", "/chat", "{\"message\":\"Where is my order?\"}");
    CHECK_INT(r.status, 200); /* a chat client gets a reply to show, not a lost message */
    CHECK(strstr(e2e_str(&r, "reply"), "something went wrong on our side") != NULL);
    e2e_resp_free(&r);
    CHECK_INT(fake_http_count(&f), 1 + MODEL_MAX_CALLS); /* was 1 + 12 */
    CHECK_INT(e2e_stop(&srv), 0);
    fake_http_stop(&f);
    e2e_rmdir(dir);
}

int main(void)
{
    RUN(test_refusal_and_budget);
    return check_summary();
}
