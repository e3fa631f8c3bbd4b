/* asl.c - fuzz target: an Amazon States Language definition through parse + validate + compile
 * (sfn_machine_parse_ex, every problem reported). */
#include "fuzz.h"
#include "sfn/sfn.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *text = fuzz_cstr(data, size);
    struct sfn_problem_list pl;
    struct err e = {0};
    sfn_problem_list_init(&pl);
    struct sfn_machine *m = sfn_machine_parse_ex(text, &pl, &e);
    if (m)
        (void)sfn_machine_state_count(m);
    sfn_machine_free(m);
    sfn_problem_list_release(&pl);
    free(text);
    return 0;
}
