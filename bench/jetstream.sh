#!/usr/bin/env bash
# The bare JetStream publish of SPEC §14's latency target: starts NODES (1 or 3) local
# nats-server processes on free ports with JetStream in a temporary folder, runs
# examples/jetstream_publish at RATE appends per second for SECONDS, and stops them.
#   bench/jetstream.sh NODES RATE SECONDS
set -euo pipefail
nodes=$1; rate=$2; seconds=$3
work=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
ports=(); cports=()
for i in $(seq 0 $((nodes - 1))); do ports+=("$(port)"); cports+=("$(port)"); done
urls=()
for i in $(seq 0 $((nodes - 1))); do
  args=(-a 127.0.0.1 -p "${ports[$i]}" -js -sd "$work/n$i" -n "bench-$i")
  if [ "$nodes" -gt 1 ]; then
    routes=()
    for j in $(seq 0 $((nodes - 1))); do [ "$j" != "$i" ] && routes+=("nats://127.0.0.1:${cports[$j]}"); done
    args+=(--cluster_name bench --cluster "nats://127.0.0.1:${cports[$i]}" --routes "$(IFS=,; echo "${routes[*]}")")
  fi
  /usr/sbin/nats-server "${args[@]}" >/dev/null 2>&1 &
  pids+=($!)
  urls+=("nats://127.0.0.1:${ports[$i]}")
done
sleep 2
cargo run --quiet --release --example jetstream_publish -- "$(IFS=,; echo "${urls[*]}")" "$nodes" "$rate" "$seconds"
