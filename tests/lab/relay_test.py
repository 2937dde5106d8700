#!/usr/bin/env python3
"""Checks tests/lab/relay.py on 127.0.0.1 (no root needed): every byte arrives, in order; each
round trip through it takes at least twice its latency; with loss, chunks are held and counted.
Exit 0 when all checks pass, 1 with a FAIL line each otherwise."""

import json
import os
import socket
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
LATENCY_MS = 30.0
ROUNDS = 12
BOUND_S = 10.0  # on each wait: the relay's first line, an echo, the relay's exit


def echo_server():
    """A TCP server that echoes what it reads, one connection at a time; its port."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen()

    def serve():
        while True:
            try:
                conn, _ = srv.accept()
            except OSError:
                return
            with conn:
                while True:
                    data = conn.recv(65536)
                    if not data:
                        break
                    conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    return srv, srv.getsockname()[1]


def read_line(proc, deadline):
    """The relay's next stdout line as JSON, waiting no later than the deadline."""
    out = {}

    def read():
        out["line"] = proc.stdout.readline()

    t = threading.Thread(target=read, daemon=True)
    t.start()
    t.join(max(0.0, deadline - time.monotonic()))
    line = out.get("line")
    return json.loads(line) if line else None


def main():
    failures = []

    def check(name, ok, detail):
        print("%s relay/%s: %s" % ("PASS" if ok else "FAIL", name, detail), flush=True)
        if not ok:
            failures.append(name)

    srv, port = echo_server()
    relay = subprocess.Popen(
        [sys.executable, os.path.join(HERE, "relay.py"), "--listen", "127.0.0.1:0",
         "--target", "127.0.0.1:%d" % port, "--latency-ms", str(LATENCY_MS), "--jitter-ms", "5",
         "--loss", "0.3", "--rto-ms", "50", "--seed", "3"],
        stdout=subprocess.PIPE, text=True)
    try:
        first = read_line(relay, time.monotonic() + BOUND_S)
        if not first or first.get("event") != "listening":
            check("listening", False, "no listening line within %.0f s: %r" % (BOUND_S, first))
            return 1
        conn = socket.create_connection(("127.0.0.1", first["port"]), timeout=BOUND_S)
        rtts, got = [], b""
        for i in range(ROUNDS):
            msg = b"chunk-%03d;" % i
            t0 = time.monotonic()
            conn.sendall(msg)
            want = len(got) + len(msg)
            while len(got) < want:
                data = conn.recv(65536)  # bounded by the socket's timeout
                if not data:
                    break
                got += data
            rtts.append((time.monotonic() - t0) * 1000)
        expected = b"".join(b"chunk-%03d;" % i for i in range(ROUNDS))
        check("bytes in order", got == expected,
              "%d bytes back, in order" % len(got) if got == expected
              else "got %r, wanted %r" % (got[:80], expected[:80]))
        check("latency", min(rtts) >= 2 * LATENCY_MS,
              "round trips %.1f..%.1f ms, each at least 2 x %.0f ms"
              % (min(rtts), max(rtts), LATENCY_MS))
        conn.close()
        closed = read_line(relay, time.monotonic() + BOUND_S)
        ok = bool(closed) and closed.get("event") == "closed" and closed["lost"] > 0 \
            and closed["chunks"] >= 2 * ROUNDS
        check("loss counted", ok,
              "%d chunks, %d held as lost, mean delay %.1f ms" % (closed["chunks"],
                                                                  closed["lost"],
                                                                  closed["mean_delay_ms"])
              if ok else "closed line %r (wanted chunks >= %d and lost > 0)"
              % (closed, 2 * ROUNDS))
    except OSError as e:
        check("connection", False, "through the relay: %s" % e)
    finally:
        relay.terminate()
        try:
            relay.wait(BOUND_S)
        except subprocess.TimeoutExpired:
            relay.kill()
            check("stops", False, "the relay did not exit within %.0f s of SIGTERM" % BOUND_S)
        srv.close()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
