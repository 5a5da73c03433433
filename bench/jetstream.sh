#!/usr/bin/env bash
# The bare JetStream publish of SPEC §14's latency target: starts NODES (1 or 3) local
# nats-server processes on free ports with JetStream in a temporary folder, runs
# examples/jetstream_publish at RATE appends per second for SECONDS, and stops them.
#   bench/jetstream.sh NODES RATE SECONDS [gates]   (gates: budget and claim before each append)
set -euo pipefail
nodes=$1; rate=$2; seconds=$3
work=$(mktemp -d)
cd "$(dirname "$0")/.."
source bench/nats.sh
trap 'kill "${nats_pids[@]}" 2>/dev/null || true; rm -rf "$work"' EXIT
start_nats "$nodes" "$work"
cargo run --quiet --release --example jetstream_publish -- "$nats_urls" "$nodes" "$rate" "$seconds" ${4:-}
