/* jwt.c - fuzz target: a customer token through the HS256 verifier (header, algorithm checks,
 * signature, claims, identity) and the base64url decoder. */
#include <jansson.h>

#include "edge/jwt.h"
#include "fuzz.h"

static const unsigned char SECRET[] = "fuzz-secret-0123456789";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct jwt_verifier *v;
    struct err e = {0};
    if (!v)
        v = jwt_verifier_new(SECRET, sizeof SECRET - 1, NULL, &e); /* kept for the process */
    char *token = fuzz_cstr(data, size);
    json_t *claims = jwt_verify(v, token, 1700000000, &e);
    if (claims) {
        struct jwt_identity id;
        (void)jwt_identity(claims, &id, &e);
        json_decref(claims);
    }
    size_t n = 0;
    free(jwt_b64url_decode(token, strlen(token), &n));
    free(token);
    return 0;
}
