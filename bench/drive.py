#!/usr/bin/env python3
"""bench/callgrind.sh's client: `drive.py PORT KIND N TAG` sends N alerts of KIND (dup: one key;
forged: a wrong secret; accepted: unique keys, TAG keeps them unique across calls) to /webhook,
one after another on one keep-alive connection, reading each answer."""
import json, socket, sys
port, kind, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
def body(i):
    a = {"secret": "secret-7", "strategy_id": "s", "fund_id": "fund-7", "symbol": "BINANCE:BTCUSDT",
         "side": "buy", "quantity": "0.05", "order_type": "market", "idempotency_key": "dup"}
    if kind == "forged":
        a["secret"] = "wrong"; a["idempotency_key"] = f"f-{i}"
    if kind == "accepted":
        a["idempotency_key"] = f"a-{i}-{sys.argv[4]}"
    return json.dumps(a).encode()
s = socket.create_connection(("127.0.0.1", port))
f = s.makefile("rb")
for i in range(n):
    b = body(i)
    s.sendall(b"POST /webhook HTTP/1.1\r\nhost: t\r\ncontent-type: application/json\r\n" + f"content-length: {len(b)}\r\n\r\n".encode() + b)
    length = 0
    while True:
        line = f.readline()
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
        if line in (b"\r\n", b""):
            break
    f.read(length)
