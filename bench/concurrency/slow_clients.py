#!/usr/bin/env python3
"""slow_clients.py HOST PORT COUNT SECONDS [SOURCE] - a slowloris for bench/concurrency/slowloris.sh.

Keeps COUNT connections to HOST:PORT open for SECONDS, each from SOURCE (default 127.0.0.2, so a
per-address cap applies to them and not to the measuring client on 127.0.0.1): it sends the start
of a POST /chat request, then one more header byte every 2 s (the first drip sends the start) and never finishes the headers. A
connection the server closes or refuses is opened again at the next drip. Prints, once a second, how many are
open, and at the end the peak and how many the server closed or refused. Standard library only.
"""
import selectors
import socket
import sys
import time

host, port, count, seconds = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])
source = sys.argv[5] if len(sys.argv) > 5 else "127.0.0.2"
sel = selectors.DefaultSelector()
open_socks = {}
closed = 0
peak = 0


def dial():
    s = socket.socket()
    s.setblocking(False)
    try:
        s.bind((source, 0))
        s.connect_ex((host, port))
    except OSError:
        s.close()
        return False
    sel.register(s, selectors.EVENT_READ)
    open_socks[s] = 0  # bytes of the request sent
    return True


head = b"POST /chat HTTP/1.1\r\nHost: bench\r\nContent-Type: application/json\r\nX-Slow: "
end = time.monotonic() + seconds
next_drip = time.monotonic()
next_report = time.monotonic() + 1
while time.monotonic() < end:
    for key, _ in sel.select(timeout=0.2):
        s = key.fileobj
        try:
            data = s.recv(4096)
        except OSError:
            data = b""
        if not data:  # closed by the server (a 408, the cap, a reset)
            sel.unregister(s)
            s.close()
            del open_socks[s]
            closed += 1
    now = time.monotonic()
    if now >= next_drip:
        while len(open_socks) < count and dial():
            pass
        for s in list(open_socks):
            try:
                chunk = head if open_socks[s] == 0 else b"a"
                s.send(chunk)
                open_socks[s] += len(chunk)
            except OSError:
                pass  # not connected yet, or closed: the reader side notices
        next_drip = now + 2
    peak = max(peak, len(open_socks))
    if now >= next_report:
        print(f"open {len(open_socks)}", flush=True)
        next_report = now + 1
print(f"peak {peak} closed {closed}", flush=True)
