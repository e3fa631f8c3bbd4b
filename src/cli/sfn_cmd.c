/* sfn_cmd.c - `parley sfn`: hands over to the ASL engine's command-line front end. */
#include <stdio.h>

#include "cli/cli.h"

#if __has_include("sfn/sfn_cli.h")
#include "sfn/sfn_cli.h"
int cli_sfn(int argc, char **argv)
{
    return sfn_cli_main(argc, argv);
}
#else
int cli_sfn(int argc, char **argv)
{
    (void)argc;
    (void)argv;
    fprintf(stderr, "parley sfn: the ASL engine is not built in this version\n");
    return 2;
}
#endif
