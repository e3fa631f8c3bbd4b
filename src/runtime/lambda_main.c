/*
 * lambda_main.c - the `bootstrap` executable of the provided.al2023 runtime: Parley's Lambda
 * functions (lambda_handlers.h) behind the Runtime API loop.
 */
#include "base/xmalloc.h"
#include "runtime/lambda_handlers.h"

int main(int argc, char **argv)
{
    xmalloc_init();
    return lambda_parley_main(argc, argv);
}
