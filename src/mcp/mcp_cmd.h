/*
 * mcp_cmd.h - the `parley mcp` subcommand (tools, call, ping against one MCP server).
 */
#ifndef PARLEY_MCP_CMD_H
#define PARLEY_MCP_CMD_H

/* Runs `parley mcp ...` with argv[0] = "mcp". Returns the exit code: 0 success, 1 failure or a
 * tool result with isError true (reason on stderr), 2 usage error. */
int mcp_cmd_main(int argc, char **argv);

#endif
