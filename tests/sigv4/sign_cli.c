/*
 * sign_cli.c - signs every case of a cases.jsonl file with Parley's sigv4 and prints
 * "name<TAB>parley<TAB>Authorization" per case, for tests/scripts/test_sigv4_crosscheck.sh.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "http/sigv4.h"

int main(int argc, char **argv)
{
    if (argc != 2)
        return 2;
    FILE *f = fopen(argv[1], "r");
    if (!f)
        return 2;
    char line[65536];
    int rc = 0;
    while (fgets(line, sizeof line, f)) {
        json_t *c = json_loads(line, 0, NULL);
        if (!c)
            continue;
        struct sigv4_header hs[16];
        size_t nh = 0;
        json_t *h;
        size_t i;
        json_array_foreach(json_object_get(c, "headers"), i, h)
        {
            if (nh < 16)
                hs[nh++] = (struct sigv4_header){json_string_value(json_array_get(h, 0)),
                                                 json_string_value(json_array_get(h, 1))};
        }
        const char *body = json_string_value(json_object_get(c, "body"));
        const char *q = json_string_value(json_object_get(c, "query"));
        struct sigv4_request r = {.method = json_string_value(json_object_get(c, "method")),
                                  .host = json_string_value(json_object_get(c, "host")),
                                  .path = json_string_value(json_object_get(c, "path")),
                                  .query = q && *q ? q : NULL,
                                  .headers = hs,
                                  .n_headers = nh,
                                  .body = body,
                                  .body_len = body ? strlen(body) : 0};
        struct sigv4_credentials cred = {"AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                                         json_string_value(json_object_get(c, "token"))};
        struct tm tm = {0};
        strptime(json_string_value(json_object_get(c, "time")), "%Y-%m-%dT%H:%M:%SZ", &tm);
        struct sigv4_options o;
        sigv4_options_for_service(&o, json_string_value(json_object_get(c, "region")),
                                  json_string_value(json_object_get(c, "service")), timegm(&tm));
        struct sigv4_signed s;
        if (sigv4_sign(&r, &cred, &o, &s, NULL) == 0) {
            printf("%s\tparley\t%s\n", json_string_value(json_object_get(c, "name")),
                   s.authorization);
            sigv4_signed_release(&s);
        } else {
            rc = 1;
        }
        json_decref(c);
    }
    fclose(f);
    return rc;
}
