#!/usr/bin/env python3
"""Connection floods against the release binary (issue 12, point 1).

Starts `target/release/mts1b-tradingview serve` on loopback with its default connection limits
(allowlist 127.0.0.0/8, so the flooding client is an *allowed* peer: the worst case), then:

  1. one client (127.0.0.2) opens CONNS idle connections and holds them;
  2. CONNS idle connections from 100 addresses (127.0.1.1 .. 127.0.1.100);

and for each prints how many connections the server holds (its open descriptors), how many of
the client's are still open, and the answer to a genuine alert sent from 127.0.0.1 meanwhile.

Usage: cargo build --release --bin mts1b-tradingview && bench/connection_flood.py [CONNS=19000]
(the client needs a descriptor per connection: CONNS stays under `ulimit -n`). HEADER_TIMEOUT
(default 2s, the service's default) is `server.header_timeout`; a long one (60s) lets the idle
connections pile up to the caps instead of timing out while the client is still opening them.
"""
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time

CONNS = int(sys.argv[1]) if len(sys.argv) > 1 else 19000
PORT, ADMIN = 18380, 18390
HEADER_TIMEOUT = os.environ.get("HEADER_TIMEOUT", "2s")
BIN = os.path.join(os.path.dirname(__file__), "..", "target", "release", "mts1b-tradingview")


def server_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def still_open(socks):
    """How many of `socks` the server has not closed (a closed one reads EOF or an error)."""
    poller = select.poll()
    for s in socks:
        poller.register(s, select.POLLIN)
    closed = {fd for fd, ev in poller.poll(0) if ev}
    return len(socks) - len(closed)


def genuine(secret):
    body = json.dumps({
        "secret": secret, "strategy_id": "s", "fund_id": "fund-a", "symbol": "BTC-USD",
        "side": "buy", "quantity": "1", "order_type": "market",
        "idempotency_key": f"genuine-{time.time_ns()}",
    }).encode()
    s = socket.create_connection(("127.0.0.1", PORT), timeout=5)
    s.sendall(b"POST /webhook HTTP/1.1\r\nhost: t\r\nconnection: close\r\n"
              + f"content-length: {len(body)}\r\n\r\n".encode() + body)
    reply = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            break
        reply += chunk
    s.close()
    return reply.split(b"\r\n", 1)[0].decode(), time.monotonic()


def flood(sources, per_source):
    socks = []
    for source in sources:
        for _ in range(per_source):
            s = socket.socket()
            s.bind((source, 0))
            try:
                s.connect(("127.0.0.1", PORT))
            except OSError as e:
                s.close()
                print(f"    connect from {source} failed: {e}")
                continue
            socks.append(s)
    return socks


def scenario(name, pid, sources, per_source):
    print(f"{name}: {len(sources) * per_source} idle connections from {len(sources)} address(es)")
    started = time.monotonic()
    socks = flood(sources, per_source)
    opened = time.monotonic() - started
    time.sleep(0.2)
    print(f"    opened in {opened:.1f} s; the client still holds {still_open(socks)} open;"
          f" the server has {server_fds(pid)} descriptors")
    sent = time.monotonic()
    status, done = genuine("secret-a")
    print(f"    a genuine alert meanwhile: {status} in {1000 * (done - sent):.1f} ms")
    if HEADER_TIMEOUT == "2s":
        time.sleep(2.5)
        print(f"    2.5 s later (header_timeout 2 s): the client holds {still_open(socks)} open;"
              f" the server has {server_fds(pid)} descriptors")
    for s in socks:
        s.close()
    time.sleep(0.5)


def main():
    work = tempfile.mkdtemp()
    config = os.path.join(work, "config.toml")
    with open(config, "w") as f:
        f.write(f'[server]\nlisten = "127.0.0.1:{PORT}"\nadmin_listen = "127.0.0.1:{ADMIN}"\n'
                f'header_timeout = "{HEADER_TIMEOUT}"\n'
                '[network]\nip_allowlist = ["127.0.0.0/8"]\n'
                '[funds.fund-a]\nsecret = "secret-a"\nmax_quantity = "10"\n'
                f'[delivery]\nsink = "paper"\n[store]\npath = "{work}/data"\n')
    server = subprocess.Popen([BIN, "serve", "--config", config],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", PORT), timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        time.sleep(0.5)
        print(f"server started: {server_fds(server.pid)} descriptors")
        scenario("one client", server.pid, ["127.0.0.2"], CONNS)
        scenario("many clients", server.pid, [f"127.0.1.{i}" for i in range(1, 101)], CONNS // 100)
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
