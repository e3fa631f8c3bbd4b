/*
 * replay.c - runs a fuzz target without libFuzzer: every file named on the command line (or every
 * file in a named directory) is passed once to LLVMFuzzerTestOneInput. Linked with one target by
 * the normal (ASan+UBSan) build, so `make test` replays each corpus and any crash, leak or UB
 * report on a corpus input fails the run. Prints "replayed N inputs" and exits 0, or 1 when an
 * input could not be read.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

/* Reads path and runs it. Returns 0, or -1 when the file cannot be read. */
static int replay_file(const char *path)
{
    int rc = -1;
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    if (!f)
        goto out;
    if (fseek(f, 0, SEEK_END) != 0)
        goto out;
    long n = ftell(f);
    if (n < 0 || fseek(f, 0, SEEK_SET) != 0)
        goto out;
    data = malloc((size_t)n + 1); /* +1: malloc(0) may return NULL */
    if (!data || fread(data, 1, (size_t)n, f) != (size_t)n)
        goto out;
    LLVMFuzzerTestOneInput(data, (size_t)n);
    rc = 0;
out:
    if (rc != 0)
        fprintf(stderr, "replay: cannot read '%s'\n", path);
    free(data);
    if (f)
        fclose(f);
    return rc;
}

int main(int argc, char **argv)
{
    int failed = 0;
    size_t count = 0;
    for (int i = 1; i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
            struct dirent **names = NULL;
            int n = scandir(argv[i], &names, NULL, alphasort);
            for (int k = 0; k < n; k++) {
                if (names[k]->d_name[0] != '.') {
                    char path[4096];
                    snprintf(path, sizeof path, "%s/%s", argv[i], names[k]->d_name);
                    failed |= replay_file(path) != 0;
                    count++;
                }
                free(names[k]);
            }
            free(names);
            if (n < 0) {
                fprintf(stderr, "replay: cannot list '%s'\n", argv[i]);
                failed = 1;
            }
        } else {
            failed |= replay_file(argv[i]) != 0;
            count++;
        }
    }
    printf("replayed %zu inputs\n", count);
    return failed;
}
