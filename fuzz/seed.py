#!/usr/bin/env python3
"""fuzz/seed.py - (re)builds the seed corpora in fuzz/corpus/<target>/ from the repository's own
fixtures (tests/sfn/cases, tests/cases, examples, statemachine) plus a few hand-made protocol
samples (SSE streams, event-stream frames, JWTs). Files named regress-* are regression inputs for
fixed findings and are written by hand, never by this script. Run from the repository root."""
import base64, hashlib, hmac, json, os, struct, zlib

OUT = "fuzz/corpus"
MAX_PER_TARGET = 40


def put(target, name, data):
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def walk_strings(v, out):
    if isinstance(v, dict):
        for k, x in v.items():
            walk_strings(x, out)
    elif isinstance(v, list):
        for x in v:
            walk_strings(x, out)
    elif isinstance(v, str):
        out.append(v)


# ---- ASL definitions, their paths and intrinsic calls
defs = []
for fn in sorted(os.listdir("tests/sfn/cases")):
    for c in json.load(open(os.path.join("tests/sfn/cases", fn)))["cases"]:
        if "definition" in c:
            defs.append((fn[:-5] + "-" + c["name"], c["definition"]))
seen = set()
asl = [("agent-asl", json.load(open("statemachine/agent.asl.json")))]
for name, d in defs:
    text = json.dumps(d, sort_keys=True)
    if text not in seen:
        seen.add(text)
        asl.append((name, d))
step = max(1, len(asl) // MAX_PER_TARGET)
for name, d in asl[::step][:MAX_PER_TARGET]:
    put("asl", name[:60] + ".json", json.dumps(d, indent=1))
strings = []
for _, d in asl:
    walk_strings(d, strings)
paths = sorted({s for s in strings if s.startswith("$") and len(s) < 200})
fns = sorted({s for s in strings if s.startswith("States.") and "(" in s and len(s) < 300})
for i, p in enumerate(paths[:: max(1, len(paths) // MAX_PER_TARGET)][:MAX_PER_TARGET]):
    put("jsonpath", "path-%02d" % i, p)
for i, p in enumerate(fns[:: max(1, len(fns) // MAX_PER_TARGET)][:MAX_PER_TARGET]):
    put("intrinsic", "fn-%02d" % i, p)

# ---- EventBridge patterns: [pattern, event]
i = 0
for fn in sorted(os.listdir("tests/cases/pattern")):
    for c in json.load(open(os.path.join("tests/cases/pattern", fn)))["cases"]:
        ev = (c.get("match") or c.get("nomatch") or [{}])[0]
        if "pattern" in c and i < MAX_PER_TARGET:
            put("pattern", "case-%02d.json" % i, json.dumps([c["pattern"], ev]))
            i += 1

# ---- JSON Schema: [schema, instance]
i = 0
for fn in sorted(os.listdir("tests/cases/schema")):
    for c in json.load(open(os.path.join("tests/cases/schema", fn))):
        tests = c.get("tests") or [{"instance": None}]
        if "schema" in c and i < MAX_PER_TARGET:
            put("schema", "case-%02d.json" % i, json.dumps([c["schema"], tests[0].get("instance")]))
            i += 1

# ---- chat request bodies
for i, b in enumerate([
    {"message": "Where is my order 1042?"},
    {"message": "hi", "sessionId": "s-123_abc", "userId": "alice"},
    {"message": "Ich möchte mein Passwort zurücksetzen 😀", "sessionId": "x"},
    {"message": ""},
    {"message": "card 4111 1111 1111 1111", "extra": 1},
]):
    put("chat_body", "body-%02d.json" % i, json.dumps(b, ensure_ascii=False))

# ---- JWTs signed with the target's secret (valid, expired, alg none, wrong signature)
SECRET = b"fuzz-secret-0123456789"


def b64(x):
    return base64.urlsafe_b64encode(x).rstrip(b"=").decode()


def jwt(header, claims, key=SECRET):
    h = b64(json.dumps(header).encode()) + "." + b64(json.dumps(claims).encode())
    return h + "." + b64(hmac.new(key, h.encode(), hashlib.sha256).digest())


NOW = 1700000000
put("jwt", "valid", jwt({"alg": "HS256", "typ": "JWT"}, {"sub": "alice", "exp": NOW + 600,
                                                        "email": "alice@example.com"}))
put("jwt", "expired", jwt({"alg": "HS256"}, {"sub": "bob", "exp": NOW - 3600, "iat": NOW - 7200}))
put("jwt", "nbf-future", jwt({"alg": "HS256"}, {"sub": "c", "exp": NOW + 600, "nbf": NOW + 300}))
put("jwt", "alg-none", b64(b'{"alg":"none"}') + "." + b64(b'{"sub":"x","exp":9999999999}') + ".")
put("jwt", "rs256-header", jwt({"alg": "RS256"}, {"sub": "x", "exp": NOW + 600}))
put("jwt", "wrong-key", jwt({"alg": "HS256"}, {"sub": "x", "exp": NOW + 600}, b"other"))
put("jwt", "guest-sub", jwt({"alg": "HS256"}, {"sub": "guest:s1", "exp": NOW + 600}))

# ---- AWS event-stream frames
def header(name, value):
    n, v = name.encode(), value.encode()
    return bytes([len(n)]) + n + b"\x07" + struct.pack(">H", len(v)) + v


def frame(headers, payload):
    hb = b"".join(header(k, v) for k, v in headers)
    total = 16 + len(hb) + len(payload)
    prelude = struct.pack(">II", total, len(hb))
    prelude += struct.pack(">I", zlib.crc32(prelude))
    body = prelude + hb + payload
    return body + struct.pack(">I", zlib.crc32(body))


def chunk(ev):
    return frame([(":event-type", "chunk"), (":content-type", "application/json"),
                  (":message-type", "event")],
                 json.dumps({"bytes": base64.b64encode(json.dumps(ev).encode()).decode()}).encode())


anthropic_events = [
    {"type": "message_start", "message": {"id": "msg_s", "type": "message", "role": "assistant",
                                          "model": "claude", "content": [],
                                          "usage": {"input_tokens": 9, "output_tokens": 1}}},
    {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "One "}},
    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": "moment."}},
    {"type": "content_block_stop", "index": 0},
    {"type": "content_block_start", "index": 1,
     "content_block": {"type": "tool_use", "id": "toolu_1", "name": "get_order", "input": {}}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "input_json_delta", "partial_json": "{\"order_id\":"}},
    {"type": "content_block_delta", "index": 1,
     "delta": {"type": "input_json_delta", "partial_json": "\"1042\"}"}},
    {"type": "content_block_stop", "index": 1},
    {"type": "message_delta", "delta": {"stop_reason": "tool_use"}, "usage": {"output_tokens": 7}},
    {"type": "message_stop"},
]
stream = b"".join(chunk(e) for e in anthropic_events)
put("evstream", "two-frames", b"\x11" + chunk(anthropic_events[0]) + chunk(anthropic_events[-1]))
put("evstream", "exception", b"\x05" + frame([(":message-type", "exception"),
                                                (":exception-type", "throttlingException")],
                                               b'{"message":"slow down"}'))
put("evstream", "empty-payload", b"\x00" + frame([(":event-type", "chunk")], b""))
put("bedrock", "stream-tool-use", b"\x20" + stream)
put("bedrock", "stream-throttled", b"\x00" + frame([(":message-type", "exception"),
                                                    (":exception-type", "throttlingException")],
                                                   b'{"message":"Too many requests"}'))
put("bedrock", "converse-text", b"\x01" + json.dumps({
    "output": {"message": {"role": "assistant", "content": [{"text": "Hello there."}]}},
    "stopReason": "end_turn", "usage": {"inputTokens": 5, "outputTokens": 3}}).encode())
put("bedrock", "converse-tool", b"\x01" + json.dumps({
    "output": {"message": {"role": "assistant", "content": [
        {"text": "Checking."},
        {"toolUse": {"toolUseId": "t1", "name": "get_order", "input": {"order_id": "1042"}}}]}},
    "stopReason": "tool_use", "usage": {"inputTokens": 5, "outputTokens": 3}}).encode())

# ---- Anthropic SSE
sse = "".join("event: %s\ndata: %s\n\n" % (e["type"], json.dumps(e)) for e in anthropic_events)
put("anthropic", "tool-use", "\x30" + sse)
put("anthropic", "crlf", "\x07" + sse.replace("\n", "\r\n"))
put("anthropic", "error", "\x00event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":"
    "\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
put("anthropic", "refusal", "\x10" + "".join("event: x\ndata: %s\n\n" % json.dumps(e) for e in [
    anthropic_events[0], {"type": "message_delta", "delta": {"stop_reason": "refusal"}},
    {"type": "message_stop"}]))

# ---- OpenAI: even first byte = SSE stream, odd = whole body
chunks = [
    {"id": "chatcmpl-s", "choices": [{"index": 0, "delta": {"role": "assistant", "content": ""}}]},
    {"id": "chatcmpl-s", "choices": [{"index": 0, "delta": {"content": "One moment."}}]},
    {"id": "chatcmpl-s", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "id": "call_1", "type": "function",
         "function": {"name": "get_ticket_status", "arguments": ""}}]}}]},
    {"id": "chatcmpl-s", "choices": [{"index": 0, "delta": {"tool_calls": [
        {"index": 0, "function": {"arguments": "{\"ticket_id\":\"T-7\"}"}}]}}]},
    {"id": "chatcmpl-s", "choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    {"id": "chatcmpl-s", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 4}},
]
put("openai", "stream-tool", "\x40" + "".join("data: %s\n\n" % json.dumps(c) for c in chunks)
    + "data: [DONE]\n\n")
put("openai", "stream-error", "\x00data: {\"error\":{\"message\":\"rate limited\"}}\n\n")
put("openai", "body-text", "\x01" + json.dumps({
    "id": "chatcmpl-1", "model": "gpt", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": "Hello."}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 3, "completion_tokens": 2}}))
put("openai", "body-tool", "\x01" + json.dumps({
    "id": "chatcmpl-2", "model": "gpt", "choices": [{"index": 0, "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
            "function": {"name": "get_order", "arguments": "{\"order_id\":\"1\"}"}}]},
        "finish_reason": "tool_calls"}]}))
put("openai", "body-refusal", "\x03" + json.dumps({
    "choices": [{"message": {"role": "assistant", "refusal": "no"}, "finish_reason": "stop"}]}))

# ---- agent files: even first byte = YAML, odd = JSON
put("agent_file", "demo-store.yaml", b"\x00" + open("examples/demo-store/agent.yaml", "rb").read())
put("agent_file", "demo-store.json", b"\x01" + open("examples/demo-store/agent.json", "rb").read())
put("agent_file", "bike-shop.yaml", b"\x00" + open("examples/bike-shop/agent.yaml", "rb").read())
for fn in sorted(os.listdir("tests/cases/agent_file")):
    if fn.endswith(".yaml"):
        put("agent_file", fn, b"\x00" + open(os.path.join("tests/cases/agent_file", fn), "rb").read())

# ---- MCP: even first byte = JSON-RPC text, odd = SSE body
msgs = [
    {"jsonrpc": "2.0", "id": 1, "result": {"protocolVersion": "2025-06-18", "capabilities": {
        "tools": {"listChanged": True}}, "serverInfo": {"name": "everything", "version": "1"}}},
    {"jsonrpc": "2.0", "id": 2, "result": {"tools": [{"name": "echo", "description": "Echoes",
        "inputSchema": {"type": "object", "properties": {"message": {"type": "string"}}}}]}},
    {"jsonrpc": "2.0", "id": 3, "error": {"code": -32602, "message": "Unknown tool"}},
    {"jsonrpc": "2.0", "id": "s1", "method": "ping"},
    {"jsonrpc": "2.0", "method": "notifications/tools/list_changed"},
    {"jsonrpc": "2.0", "method": "notifications/message", "params": {"level": "info", "data": "x"}},
]
for i, m in enumerate(msgs):
    put("mcp", "msg-%02d" % i, "\x00" + json.dumps(m))
put("mcp", "batch", "\x00" + json.dumps(msgs[3:]))
put("mcp", "sse", "\x21" + "".join("id: %d\nevent: message\ndata: %s\n\n" % (i, json.dumps(m))
                                   for i, m in enumerate(msgs)) + "retry: 1000\n\n")
put("mcp", "sse-multiline", "\x0b: comment\ndata: {\"jsonrpc\":\"2.0\",\ndata: \"id\":4,"
    "\"result\":{}}\r\n\r\n")
