#!/usr/bin/env python3
"""mcp_tools_server.py MODE - a stdio MCP server for tests/unit/test_tool_mcp.c (the registry's
mcp kind). MODE "ok" lists echo (structuredContent), plain (text and an image), fail (isError),
weird (an inputSchema with anyOf, which our schema compiler refuses), a.b and forget (drops
"plain" from the list and announces notifications/tools/list_changed). MODE "collide" lists a.b
and a_b, whose public names are the same. MODE "slow" lists echo and slow, which never answers
(a tool that sleeps past any deadline): each notifications/cancelled the server receives is
appended as one JSON line {"cancelled": requestId, "reason"} to the file named by the
MCP_TOOLS_RECORD environment variable. A call to a tool not listed is a JSON-RPC error.
"""
import json
import os
import sys

mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
OBJ = {"type": "object"}


def tool(name, schema=None, desc=None):
    t = {"name": name, "inputSchema": schema or OBJ}
    if desc:
        t["description"] = desc
    return t


if mode == "collide":
    tools = [tool("a.b", desc="dotted"), tool("a_b", desc="underscored")]
elif mode == "slow":
    tools = [
        tool("echo", {"type": "object", "properties": {"msg": {"type": "string"}},
                      "required": ["msg"]}, "Echo the message back."),
        tool("slow", desc="Look up the stock level (slow)."),
    ]
else:
    tools = [
        tool("echo", {"type": "object", "properties": {"msg": {"type": "string"}},
                      "required": ["msg"]}, "Echo the message back."),
        tool("plain", desc="Answer in text."),
        tool("fail", desc="Always fails."),
        tool("weird", {"type": "object", "properties": {"x": {"anyOf": [{"type": "string"},
                                                                        {"type": "number"}]}}}),
        tool("a.b"),
        tool("forget", desc="Forget the plain tool."),
    ]


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def text(s):
    return [{"type": "text", "text": s}]


for line in sys.stdin:
    msg = json.loads(line)
    mid, method, params = msg.get("id"), msg.get("method"), msg.get("params") or {}
    if mid is None:
        if method == "notifications/cancelled" and os.environ.get("MCP_TOOLS_RECORD"):
            with open(os.environ["MCP_TOOLS_RECORD"], "a") as rec:
                rec.write(json.dumps({"cancelled": params.get("requestId"),
                                      "reason": params.get("reason")}) + "\n")
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": mid, "result": {
            "protocolVersion": params.get("protocolVersion", "2025-11-25"),
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "tools-fixture", "version": "1"}}})
    elif method == "tools/list":
        send({"jsonrpc": "2.0", "id": mid, "result": {"tools": tools}})
    elif method == "tools/call":
        name, args = params.get("name"), params.get("arguments") or {}
        if name not in [t["name"] for t in tools]:
            send({"jsonrpc": "2.0", "id": mid,
                  "error": {"code": -32602, "message": "Unknown tool: %s" % name}})
            continue
        if name == "slow":
            continue  # never answers: the caller's deadline has to cancel it
        if name == "echo":
            res = {"content": text("echo " + args.get("msg", "")),
                   "structuredContent": {"echo": args.get("msg")}}
        elif name == "plain":
            res = {"content": text("plain text") + [{"type": "image", "data": "AAAA",
                                                     "mimeType": "image/png"}]}
        elif name == "fail":
            res = {"content": text("disk on fire"), "isError": True}
        elif name == "forget":
            tools = [t for t in tools if t["name"] != "plain"]
            send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
            res = {"content": text("forgotten")}
        else:
            res = {"content": text("ok")}
        send({"jsonrpc": "2.0", "id": mid, "result": res})
    else:
        send({"jsonrpc": "2.0", "id": mid, "result": {}})
