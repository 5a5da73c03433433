#!/usr/bin/env bash
# schemathesis against the real binary (issue 17): every operation of schema/openapi.yaml gets
# EXAMPLES generated requests (valid and invalid), on the listener its tag names; every answer
# must match the document and none may be a 5xx. The binary runs on the paper sink with one
# fund and loopback allowed, so valid-looking alerts reach the whole pipeline, and with Slack and
# Discord enabled (the test keys of tests/support/chat.rs), so their routes exist.
#   schema/fuzz_api.sh ST BINARY [EXAMPLES]     (ST: the schemathesis `st` command)
set -euo pipefail
st=$1; binary=$2; examples=${3:-50}
cd "$(dirname "$0")/.."
work=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -rf "$work"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
public=$(free_port); admin=$(free_port)
cat > "$work/config.toml" <<TOML
[server]
listen = "127.0.0.1:$public"
admin_listen = "127.0.0.1:$admin"
[network]
ip_allowlist = ["127.0.0.1"]
[funds.fund-a]
secret = "secret-a"
max_quantity = "10"
rate_limit = { per_second = 1000, burst = 1000 }
[delivery]
sink = "paper"
[adapters.slack]
enabled = true
signing_secret = "8f742231b10e8888abcd99yyyzzz85a5"
[adapters.discord]
enabled = true
public_key = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
[store]
path = "$work/data"
TOML
env -u MTS1B_TV_SERVER__LISTEN -u MTS1B_TV_SERVER__ADMIN_LISTEN \
  "$binary" serve --config "$work/config.toml" 2> "$work/serve.log" &
pid=$!
for _ in $(seq 1 100); do (echo > "/dev/tcp/127.0.0.1/$admin") 2>/dev/null && break; sleep 0.1; done
# positive_data_acceptance expects a 2xx for any schema-valid request: an alert the document
# allows may still carry a wrong secret (401) or an unknown symbol (422), so it is not a check here.
common=(--max-examples "$examples" --seed 17 --checks all --exclude-checks positive_data_acceptance
        --request-timeout 5 --workers 1 --suppress-health-check all)
"$st" run schema/openapi.yaml --url "http://127.0.0.1:$public" --include-tag public "${common[@]}"
"$st" run schema/openapi.yaml --url "http://127.0.0.1:$admin" --include-tag admin "${common[@]}"
