/* sfn_cmd.c - `parley sfn`: hands over to the ASL engine's command-line front end. */
#include "cli/cli.h"
#include "sfn/sfn_cli.h"

int cli_sfn(int argc, char **argv)
{
    return sfn_cli_main(argc, argv);
}
