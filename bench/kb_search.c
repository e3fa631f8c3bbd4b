/*
 * kb_search.c - knowledge-base search throughput: loads a kb directory and runs a fixed set of
 * customer questions, first on one thread, then on eight at once, printing searches per second.
 * Built with `make build/bench/kb_search` (see bench/README.md); not part of make bench or test.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "agent/kb.h"

static const char *const questions[] = {
    "how do I reset my password", "refund policy", "I can't log in",
    "how long does shipping take", "cancel my subscription", "my card was declined",
    "I never received the password reset email", "where can I download my invoice",
};
#define N_Q (sizeof questions / sizeof questions[0])

static struct kb *kb;
static int rounds;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *run(void *arg)
{
    (void)arg;
    for (int r = 0; r < rounds; r++)
        for (size_t q = 0; q < N_Q; q++) {
            struct kb_hit hits[3];
            if (kb_search(kb, questions[q], 3, hits, NULL) < 1)
                abort();
        }
    return NULL;
}

int main(int argc, char **argv)
{
    struct err err = {{0}, {0}};
    kb = kb_load(argc > 1 ? argv[1] : "kb", &err);
    if (!kb) {
        fprintf(stderr, "%s\n", err.message);
        return 1;
    }
    rounds = argc > 2 ? atoi(argv[2]) : 500;
    double t0 = now_s();
    run(NULL);
    double one = now_s() - t0;
    pthread_t t[8];
    t0 = now_s();
    for (int i = 0; i < 8; i++)
        pthread_create(&t[i], NULL, run, NULL);
    for (int i = 0; i < 8; i++)
        pthread_join(t[i], NULL);
    double eight = now_s() - t0;
    printf("1 thread: %.0f searches/s; 8 threads: %.0f searches/s\n", rounds * N_Q / one,
           8.0 * rounds * N_Q / eight);
    kb_free(kb);
    return 0;
}
