#!/usr/bin/env python3
"""Velo Cycles' parts inventory as an MCP server over stdio (Python 3 standard library only).

Newline-delimited JSON-RPC 2.0 on stdin/stdout (MCP stdio transport). One tool, find_part:
which parts of a kind are in stock, with price and quantity, as structuredContent and as text.
"""
import json
import sys

VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
KINDS = ["brake pads", "chain", "inner tube", "tyre", "saddle", "battery"]
STOCK = {
    "brake pads": [{"sku": "BP-220", "name": "Shimano B05S resin pads", "price_eur": 14.9, "in_stock": 12}],
    "chain": [{"sku": "CH-110", "name": "KMC X11 chain", "price_eur": 32.0, "in_stock": 4}],
    "inner tube": [{"sku": "IT-029", "name": "Schwalbe SV19 29in tube", "price_eur": 7.5, "in_stock": 30}],
    "tyre": [{"sku": "TY-700", "name": "Continental GP5000 700x28", "price_eur": 59.0, "in_stock": 6}],
    "saddle": [],
    "battery": [{"sku": "BA-500", "name": "Velo 500 Wh battery", "price_eur": 649.0, "in_stock": 1}],
}
TOOL = {
    "name": "find_part",
    "title": "Find a part",
    "description": "Look up spare parts of one kind in the Velo Cycles inventory: name, price, stock.",
    "inputSchema": {
        "type": "object",
        "properties": {"kind": {"type": "string", "enum": KINDS,
                                "description": "Which kind of part?"}},
        "required": ["kind"],
        "additionalProperties": False,
    },
}


def send(msg):
    sys.stdout.write(json.dumps(msg) + "\n")
    sys.stdout.flush()


def call(params):
    args = params.get("arguments") or {}
    if params.get("name") != "find_part":
        return None
    kind = args.get("kind")
    if kind not in STOCK:
        return {"content": [{"type": "text", "text": "unknown kind of part: %s" % kind}],
                "isError": True}
    parts = STOCK[kind]
    if parts:
        best = parts[0]
        text = "%s: %s, %.2f EUR, %d in stock" % (kind, best["name"], best["price_eur"], best["in_stock"])
        doc = {"kind": kind, "part": best["name"], "sku": best["sku"],
               "price_eur": best["price_eur"], "in_stock": best["in_stock"]}
    else:
        text = "no %s in stock" % kind
        doc = {"kind": kind, "in_stock": 0}
    return {"content": [{"type": "text", "text": text}], "structuredContent": doc, "isError": False}


def main():
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            msg = json.loads(line)
        except ValueError:
            send({"jsonrpc": "2.0", "id": None, "error": {"code": -32700, "message": "parse error"}})
            continue
        method, mid = msg.get("method"), msg.get("id")
        if mid is None:
            continue  # notifications (initialized, cancelled) need no answer
        if method == "initialize":
            asked = (msg.get("params") or {}).get("protocolVersion")
            result = {"protocolVersion": asked if asked in VERSIONS else VERSIONS[0],
                      "capabilities": {"tools": {"listChanged": False}},
                      "serverInfo": {"name": "velo-parts", "version": "1.0.0"}}
        elif method == "ping":
            result = {}
        elif method == "tools/list":
            result = {"tools": [TOOL]}
        elif method == "tools/call":
            result = call(msg.get("params") or {})
            if result is None:
                send({"jsonrpc": "2.0", "id": mid,
                      "error": {"code": -32602, "message": "unknown tool"}})
                continue
        else:
            send({"jsonrpc": "2.0", "id": mid, "error": {"code": -32601, "message": "method not found"}})
            continue
        send({"jsonrpc": "2.0", "id": mid, "result": result})
    return 0


if __name__ == "__main__":
    sys.exit(main())
