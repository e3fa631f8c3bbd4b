# src/mcp/mcp.mk - the MCP client (stdio and Streamable HTTP transports) and `parley mcp`.
LIB_SRCS += src/mcp/mcp_client.c src/mcp/mcp_stdio.c src/mcp/mcp_http.c src/mcp/mcp_sse.c
LIB_SRCS += src/mcp/mcp_cmd.c
