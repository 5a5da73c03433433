#!/usr/bin/env bash
# Instructions per request, under callgrind: the whole process (every thread) of BIN serving N
# requests of KIND (accepted | dup | forged), sent one after another on one keep-alive connection
# by bench/drive.py after 200 to warm up. Prints the process total; per request is the difference
# of two totals over the difference of N (BENCHMARKS.md, issue 12):
#   a=$(bench/callgrind.sh BIN dup 1000); b=$(bench/callgrind.sh BIN dup 2000); echo $(( (b-a)/1000 ))
# KEEP=FILE keeps the callgrind output for callgrind_annotate. Needs valgrind.
set -euo pipefail
bin=$1; kind=$2; n=$3
here="$(cd "$(dirname "$0")" && pwd)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$work" > "$work/config.toml" <<'PY'
import sys
work = sys.argv[1]
print('[server]\nlisten = "127.0.0.1:18480"\nadmin_listen = "127.0.0.1:18490"\nheader_timeout = "60s"\n')
print('[network]\nip_allowlist = ["127.0.0.1"]\n[delivery]\nsink = "paper"\n')
print(f'[store]\npath = "{work}/data"\n[replay]\nwindow = "1h"\n')
for i in range(100):
    print(f'[funds.fund-{i}]\nsecret = "secret-{i}"\nmax_quantity = "1000"\nrate_limit = {{ per_second = 100000, burst = 100000 }}\n')
PY
valgrind --tool=callgrind --callgrind-out-file="$work/cg.out" "$bin" serve --config "$work/config.toml" 2>"$work/vg.log" >/dev/null &
pid=$!
for _ in $(seq 1 200); do (echo > /dev/tcp/127.0.0.1/18480) 2>/dev/null && break; sleep 0.2; done
python3 "$here/drive.py" 18480 "$kind" 200 warm
sleep 1
python3 "$here/drive.py" 18480 "$kind" "$n" run
sleep 1
kill -TERM $pid; wait $pid || true
grep -h "summary:\|totals:" "$work/cg.out" | head -1 | awk '{print $2}'
if [ -n "${KEEP:-}" ]; then cp "$work/cg.out" "$KEEP"; fi
