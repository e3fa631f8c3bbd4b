# src/mcp/mcp.mk - the MCP client (stdio and Streamable HTTP transports) and `parley mcp`.
# One source per line, so additions from parallel branches merge without conflicts.
LIB_SRCS += src/mcp/mcp_client.c
LIB_SRCS += src/mcp/mcp_stdio.c
LIB_SRCS += src/mcp/mcp_http.c
LIB_SRCS += src/mcp/mcp_sse.c
LIB_SRCS += src/mcp/mcp_cmd.c
