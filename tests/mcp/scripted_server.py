#!/usr/bin/env python3
"""scripted_server.py MODE - a tiny stdio MCP server for tests/unit/test_mcp.c.

Speaks newline-delimited JSON-RPC on stdin/stdout and misbehaves on purpose according to MODE:
ok, badjson, wrongid, nocontent, oldversion, badversion, huge, notjsonrpc. In every mode the
tools/call of tool "die" exits without answering (a crash), "slow" answers after 3 s, and
"cancelled" reports the request ids of the notifications/cancelled received so far.
"""
import json
import sys
import time

mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
cancelled = []
changed = False


def send(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def reply(mid, result):
    send({"jsonrpc": "2.0", "id": mid, "result": result})


def text(s):
    return {"content": [{"type": "text", "text": s}]}


def tool(name):
    return {"name": name, "description": "tool " + name,
            "inputSchema": {"type": "object", "properties": {"a": {"type": "number"}}}}


def read_msg():
    line = sys.stdin.readline()
    if not line:
        sys.exit(0)
    return json.loads(line)


def on_call(mid, params):
    global changed
    name = params.get("name")
    args = params.get("arguments", {})
    if name == "die":
        sys.exit(3)
    if name == "slow":
        time.sleep(3)
        reply(mid, text("slow done"))
    elif name == "cancelled":
        reply(mid, text(",".join(str(c) for c in cancelled)))
    elif mode == "badjson":
        sys.stdout.write("this is not json\n")
        sys.stdout.flush()
    elif mode == "notjsonrpc":
        send({"id": mid, "result": text("no jsonrpc member")})
    elif mode == "wrongid":
        reply(mid + 1000, text("wrong id"))
    elif mode == "nocontent":
        reply(mid, {"structuredContent": {"x": 1}})
    elif mode == "huge":
        reply(mid, text("x" * 200000))
    elif name == "add":
        s = args.get("a", 0) + args.get("b", 0)
        reply(mid, {"content": [{"type": "text", "text": str(s)}], "structuredContent": {"sum": s}})
    elif name == "fail":
        reply(mid, {"content": [{"type": "text", "text": "it broke"}], "isError": True})
    elif name == "change":
        changed = True
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        reply(mid, text("changed"))
    elif name == "pingme":
        send({"jsonrpc": "2.0", "id": "srv-1", "method": "ping"})
        while True:
            m = read_msg()
            if m.get("id") == "srv-1":
                ok = m.get("result") == {}
                reply(mid, text("pong-ok" if ok else "pong-bad"))
                break
            handle(m)
    else:
        send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "Unknown tool: %s" % name}})


def handle(m):
    method = m.get("method")
    mid = m.get("id")
    params = m.get("params", {})
    if method == "initialize":
        version = {"oldversion": "2025-06-18", "badversion": "2024-11-05"}.get(mode, params.get("protocolVersion"))
        reply(mid, {"protocolVersion": version, "capabilities": {"tools": {"listChanged": True}},
                    "serverInfo": {"name": "scripted", "version": "1"}})
    elif method == "notifications/cancelled":
        cancelled.append(params.get("requestId"))
    elif method == "tools/list":
        cursor = params.get("cursor")
        if cursor is None:
            reply(mid, {"tools": [tool("add"), tool("fail")], "nextCursor": "page-2"})
        elif cursor == "page-2":
            tools = [tool("slow")] + ([tool("added-later")] if changed else [])
            reply(mid, {"tools": tools})
        else:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32602, "message": "bad cursor"}})
    elif method == "tools/call":
        on_call(mid, params)
    elif method == "ping":
        reply(mid, {})


while True:
    handle(read_msg())
