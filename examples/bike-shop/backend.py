#!/usr/bin/env python3
"""Velo Cycles' small backend for the bike-shop example agent (Python 3 standard library only).

POST /warranty {"serial"}          -> the bike's warranty, or 404 for an unknown serial number
POST /repairs  {"serial", "date"}  -> a workshop booking

Usage: backend.py [--port N] [--log FILE]
  --port N    port on 127.0.0.1 (default 8765; 0 picks a free one)
  --log FILE  append every request as one JSON line: method, path, the Idempotency-Key and
              X-Parley-Session headers, and the JSON body (the example's test reads it)
Prints "listening on http://127.0.0.1:PORT" once it accepts connections.
"""
import argparse
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

BIKES = {
    "VB123456": {"model": "Velo Trail 29", "bought": "2024-05-02", "frame_warranty_until": "2029-05-02"},
    "VB654321": {"model": "Velo City 8", "bought": "2019-03-15", "frame_warranty_until": "2024-03-15"},
}
BODY_MAX = 64 * 1024


class State:
    log_path = None
    lock = threading.Lock()
    bookings = 1000


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):  # keep the terminal for the listening line
        pass

    def reply(self, status, doc):
        data = json.dumps(doc).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        if n > BODY_MAX:
            return self.reply(413, {"error": "body too large"})
        raw = self.rfile.read(n) if n else b""
        try:
            body = json.loads(raw) if raw else {}
        except ValueError:
            return self.reply(400, {"error": "body is not JSON"})
        with State.lock:
            if State.log_path:
                with open(State.log_path, "a") as f:
                    f.write(json.dumps({
                        "method": "POST", "path": self.path, "body": body,
                        "idempotency_key": self.headers.get("Idempotency-Key"),
                        "session": self.headers.get("X-Parley-Session"),
                    }) + "\n")
        serial = str(body.get("serial", "")).upper()
        if self.path == "/warranty":
            bike = BIKES.get(serial)
            if not bike:
                return self.reply(404, {"error": "no Velo bike has serial number %s" % serial})
            covered = bike["frame_warranty_until"] >= "2026-01-01"
            return self.reply(200, {"serial": serial, "model": bike["model"],
                                    "frame_warranty": "active" if covered else "expired",
                                    "valid_until": bike["frame_warranty_until"]})
        if self.path == "/repairs":
            with State.lock:
                State.bookings += 1
                ref = "R-%d" % State.bookings
            return self.reply(201, {"booking": ref, "serial": serial, "date": body.get("date"),
                                    "status": "booked", "drop_off": "before 10:00"})
        return self.reply(404, {"error": "no route"})


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--log")
    args = ap.parse_args()
    State.log_path = args.log
    srv = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    print("listening on http://127.0.0.1:%d" % srv.server_address[1], flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
