#!/usr/bin/env bash
# Three NATS JetStream nodes and three bridge replicas on this machine (SPEC §14), then the
# same alert sent to all three replicas at once: one 200, two 409, and every replica answers
# for the order. KEEP=1 leaves everything running until Ctrl-C. Needs nats-server (Debian:
# apt-get install nats-server) and curl; data goes to a temporary folder.
#   examples/cluster/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
nats_server=${NATS_SERVER:-$(command -v nats-server || echo /usr/sbin/nats-server)}
(cd "$root" && cargo build --quiet --bin mts1b-tradingview)
bin="$root/target/debug/mts1b-tradingview"
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null; rm -rf "$work"' EXIT
cd "$work"

until_port() { for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "never up: $1" >&2; exit 1; }
until_up() { for _ in $(seq 1 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "never up: $1" >&2; exit 1; }

for i in 0 1 2; do
  "$nats_server" -c "$here/nats-$i.conf" >"nats-$i.log" 2>&1 &
  pids+=($!)
done
for i in 0 1 2; do until_port "431$i"; done
# The cluster elects its meta leader before the first replica creates the streams.
sleep 3
for r in a b c; do
  "$bin" serve --config "$here/replica-$r.toml" 2>"replica-$r.log" &
  pids+=($!)
done
for n in 1 2 3; do until_up "http://127.0.0.1:909$n/readyz"; done
echo "three NATS nodes (4310-4312) and three replicas (8081-8083, admin 9091-9093) are up"

alert='{"secret":"change-me-to-a-long-random-secret","strategy_id":"demo","fund_id":"paper-tv-test","symbol":"BINANCE:BTCUSDT","side":"buy","quantity":"0.01","order_type":"market","idempotency_key":"demo-1"}'
sends=()
for n in 1 2 3; do
  curl -s -o "answer-$n" -w "replica on 808$n answered %{http_code}\n" -H 'content-type: application/json' \
    -d "$alert" "http://127.0.0.1:808$n/webhook" &
  sends+=($!)
done
wait "${sends[@]}"
for n in 1 2 3; do echo "  808$n: $(cat "answer-$n")"; done
for n in 1 2 3; do echo "GET /orders on replica 909$n: $(curl -s "http://127.0.0.1:909$n/orders/paper-tv-test/demo-1")"; done
if [ "${KEEP:-0}" = 1 ]; then
  echo "running; logs in $work; Ctrl-C stops everything"
  wait
fi
