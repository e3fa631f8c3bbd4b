/* prom_dump.c - records a fixed set of observations into Parley's metrics and prints the
 * Prometheus text, for tests/scripts/test_telemetry_prometheus.sh to parse with an independent
 * parser. The inputs here and the expectations in crosscheck.js must change together. */
#include <stdio.h>
#include <stdlib.h>

#include "base/xmalloc.h"
#include "telemetry/metrics.h"

int main(void)
{
    xmalloc_init();
    metrics_turn(0.3);
    metrics_turn(0.7);
    metrics_turn(12);
    metrics_error("States.Timeout");
    metrics_tokens(120, 45);
    metrics_queue_depths(3, 1);
    metrics_conversation_duration(95);
    metrics_action("create_support_ticket", "ok", 0.04);
    metrics_http_request("/chat", 200);
    metrics_http_request("/chat", 200);
    metrics_http_request("/sessions/{id}", 404);
    struct metric *esc = metrics_define(metrics_default(), METRIC_COUNTER, "parley_test_escapes_total",
                                        "Help with a back\\slash and a\nnew line.", "v", NULL, 0, NULL);
    metrics_counter_add(esc, METRICS_L("quote\" slash\\ newline\n end"), 7);
    char *text = NULL;
    metrics_render_prometheus(&text);
    fputs(text, stdout);
    free(text);
    metrics_shutdown();
    return 0;
}
