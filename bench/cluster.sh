#!/usr/bin/env bash
# The bridge on each state backend (SPEC §14, issue 16): REPLICAS release binaries of the bridge
# (10,000 funds, paper OMS), on NODES local nats-server processes (3: a routed cluster, streams
# and buckets kept 3 times), or on the embedded store when NODES is 0 (REPLICAS is then 1).
# examples/constant_rate sends accepted alerts at RATE per second in total for SECONDS, shared
# evenly by the replicas (open loop: latency from each request's intended send time, through
# the order's delivery, as a 200 waits for it). Prints the RESULT line, the CPU seconds the
# bridges and the NATS servers used per 1,000 alerts, and each bridge's RSS every 10 s.
# FUNDS (10,000) sets how many funds the alerts cycle through: each fund is a stream of its own,
# so 10 makes streams of many orders each, 10,000 one order each for a 10 s run.
#   [FUNDS=10] bench/cluster.sh NODES REPLICAS RATE SECONDS
set -euo pipefail
nodes=$1; replicas=$2; rate=$3; seconds=$4
export FUNDS=${FUNDS:-10000}
cd "$(dirname "$0")/.."
source bench/nats.sh
cargo build --release --quiet --bin mts1b-tradingview --example constant_rate
work=$(mktemp -d)
pids=(); nats_pids=()
trap 'kill "${pids[@]}" "${nats_pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
[ "$nodes" -gt 0 ] && start_nats "$nodes" "$work"

addrs=()
for r in $(seq 1 "$replicas"); do
  port=$(free_port); admin=$(free_port)
  python3 - "$work/r$r" "$port" "$admin" "$nodes" "${nats_urls:-}" "$FUNDS" > "$work/r$r.toml" <<'PY'
import sys
data, port, admin, nodes, urls, funds = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5], int(sys.argv[6])
print(f'[server]\nlisten = "127.0.0.1:{port}"\nadmin_listen = "127.0.0.1:{admin}"\nmax_in_flight = 4096')
print('max_in_flight_per_peer = 4096\nmax_connections_per_peer = 4096\n')
print('[network]\nip_allowlist = ["127.0.0.1"]\n')
print('[delivery]\nsink = "paper"\n')
print(f'[store]\npath = "{data}"\n')
if nodes:
    servers = ", ".join(f'"{u}"' for u in urls.split(","))
    print(f'[cluster]\nbackend = "nats"\n\n[cluster.nats]\nservers = [{servers}]\nreplicas = {nodes}\n')
for i in range(funds):
    print(f'[funds.fund-{i}]\nsecret = "secret-{i}"\nmax_quantity = "1000"\nrate_limit = {{ per_second = 100000, burst = 100000 }}\n')
PY
  target/release/mts1b-tradingview serve --config "$work/r$r.toml" 2> >(exec cat >/dev/null) >/dev/null &
  pids+=($!)
  addrs+=("127.0.0.1:$port")
  for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
done
targets=$(IFS=,; echo "${addrs[*]}")

ticks() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat"))); done; echo "$t"; }
rss() { local p out=""; for p in "${pids[@]}"; do out+="$(awk '/VmRSS/ {print $2}' "/proc/$p/status") "; done; echo "$out"; }
hz=$(getconf CLK_TCK)

# Warm-up: the budgets, streams and connections exist before the measured run.
target/release/examples/constant_rate "$targets" 2 "accepted:$rate" warm >/dev/null
before_bridge=$(ticks "${pids[@]}"); before_nats=0
[ "$nodes" -gt 0 ] && before_nats=$(ticks "${nats_pids[@]}")
echo "RSS_KB t=0: $(rss)"
( for t in $(seq 10 10 "$seconds"); do sleep 10; echo "RSS_KB t=$t: $(rss)"; done ) &
sampler=$!
result=$(target/release/examples/constant_rate "$targets" "$seconds" "accepted:$rate" run)
wait "$sampler" 2>/dev/null || true
after_bridge=$(ticks "${pids[@]}"); after_nats=0
[ "$nodes" -gt 0 ] && after_nats=$(ticks "${nats_pids[@]}")
echo "$result"
sent=$(echo "$result" | awk '{print $4}')
python3 - "$sent" "$((after_bridge - before_bridge))" "$((after_nats - before_nats))" "$hz" "$seconds" <<'PY'
import sys
sent, bridge, nats, hz, secs = (int(x) for x in sys.argv[1:])
per = lambda t: t / hz / max(sent, 1) * 1000
print(f"CPU bridges {bridge/hz:.1f} s ({per(bridge):.2f} s per 1,000 alerts, {bridge/hz/secs*100:.0f}% of one core); "
      f"NATS {nats/hz:.1f} s ({per(nats):.2f} s per 1,000, {nats/hz/secs*100:.0f}% of one core)")
PY
