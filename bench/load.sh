#!/usr/bin/env bash
# The load harness (issue 5), first part: throughput, server CPU time per request and RSS for the
# release binary and a bare hyper server answering a fixed 202 (the ceiling), alternating the two,
# for accepted alerts, duplicates, forged secrets and oversize bodies.
#
# Usage: bench/load.sh [ROUNDS=3] [SECONDS=10]     (needs wrk: apt-get install wrk)
# Environment: CONNS (64), THREADS (2). Prints one line per run, then the medians.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds="${1:-3}"; secs="${2:-10}"; conns="${CONNS:-64}"; threads="${THREADS:-2}"
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install wrk" >&2; exit 2; }

cargo build --release --quiet --bin mts1b-tradingview --example ceiling
work="$(mktemp -d)"
bridge_port=18280; bridge_admin=18290; ceiling_port=18281
python3 - "$work" "$bridge_port" "$bridge_admin" > "$work/config.toml" <<'PY'
import sys
work, port, admin = sys.argv[1], sys.argv[2], sys.argv[3]
print(f'[server]\nlisten = "127.0.0.1:{port}"\nadmin_listen = "127.0.0.1:{admin}"\nmax_in_flight = 4096\n')
print('[network]\nip_allowlist = ["127.0.0.1"]\n')
print('[delivery]\nsink = "paper"\n')
print(f'[store]\npath = "{work}/data"\n')
for i in range(10000):
    print(f'[funds.fund-{i}]\nsecret = "secret-{i}"\nmax_quantity = "1000"\nrate_limit = {{ per_second = 100000, burst = 100000 }}\n')
PY

target/release/mts1b-tradingview serve --config "$work/config.toml" 2>"$work/bridge.log" >/dev/null &
bridge_pid=$!
target/release/examples/ceiling "127.0.0.1:$ceiling_port" >/dev/null &
ceiling_pid=$!
trap 'kill $bridge_pid $ceiling_pid 2>/dev/null || true; rm -rf "$work"' EXIT
for port in $bridge_port $ceiling_port; do
  for _ in $(seq 1 100); do (echo > /dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done

ticks=$(getconf CLK_TCK)
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$1/status"; }

results="$work/results.tsv"
for round in $(seq 1 "$rounds"); do
  for scenario in accepted duplicate forged oversize; do
    for target in ceiling bridge; do
      if [ "$target" = ceiling ]; then pid=$ceiling_pid; port=$ceiling_port; else pid=$bridge_pid; port=$bridge_port; fi
      before=$(cpu "$pid")
      out=$(wrk -t"$threads" -c"$conns" -d"${secs}s" -s bench/alert.lua "http://127.0.0.1:$port" -- "$scenario" "r$round$target")
      after=$(cpu "$pid")
      rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
      total=$(awk '/requests in/ {print $1}' <<<"$out")
      non2xx=$(awk '/Non-2xx/ {print $5}' <<<"$out"); non2xx=${non2xx:-0}
      cpu_us=$(awk -v a="$after" -v b="$before" -v t="$ticks" -v n="$total" 'BEGIN {printf "%.1f", (a - b) / t * 1e6 / n}')
      printf "round %s  %-9s %-8s %10s req/s  %7s us CPU/req  non-2xx %s\n" "$round" "$scenario" "$target" "$rps" "$cpu_us" "$non2xx"
      printf "%s\t%s\t%s\t%s\n" "$scenario" "$target" "$rps" "$cpu_us" >> "$results"
    done
  done
done

echo
echo "medians over $rounds round(s):"
for scenario in accepted duplicate forged oversize; do
  for target in ceiling bridge; do
    awk -F'\t' -v s="$scenario" -v t="$target" '$1 == s && $2 == t {print $3 "\t" $4}' "$results" \
      | sort -n | awk -v s="$scenario" -v t="$target" '{r[NR] = $1; c[NR] = $2} END {m = int((NR + 1) / 2); printf "  %-9s %-8s %10.0f req/s  %7s us CPU/req\n", s, t, r[m], c[m]}'
  done
done
echo "bridge RSS after load: $(rss_kib $bridge_pid) KiB (ceiling: $(rss_kib $ceiling_pid) KiB)"
