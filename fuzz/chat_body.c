/* chat_body.c - fuzz target: the body of POST /chat (UTF-8, JSON, fields and their bounds). */
#include <jansson.h>

#include "agent/turn.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct err e = {0};
    json_decref(turn_parse_request((const char *)data, size, &e));
    return 0;
}
