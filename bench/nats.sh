# Sourced by the cluster benchmarks: `start_nats NODES DIR` starts NODES (1, or 3 routed into a
# cluster) local nats-server processes on free loopback ports with JetStream under DIR, and sets
# `nats_urls` (comma-separated) and `nats_pids`. The caller kills `nats_pids` when done.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_nats() {
  local nodes=$1 dir=$2 i j
  local ports=() cports=() urls=()
  nats_pids=()
  for i in $(seq 0 $((nodes - 1))); do ports+=("$(free_port)"); cports+=("$(free_port)"); done
  for i in $(seq 0 $((nodes - 1))); do
    local args=(-a 127.0.0.1 -p "${ports[$i]}" -js -sd "$dir/n$i" -n "bench-$i")
    if [ "$nodes" -gt 1 ]; then
      local routes=()
      for j in $(seq 0 $((nodes - 1))); do [ "$j" != "$i" ] && routes+=("nats://127.0.0.1:${cports[$j]}"); done
      args+=(--cluster_name bench --cluster "nats://127.0.0.1:${cports[$i]}" --routes "$(IFS=,; echo "${routes[*]}")")
    fi
    /usr/sbin/nats-server "${args[@]}" >/dev/null 2>&1 &
    nats_pids+=($!)
    urls+=("nats://127.0.0.1:${ports[$i]}")
  done
  nats_urls=$(IFS=,; echo "${urls[*]}")
  # A cluster elects its leaders in a second or two.
  sleep 3
}
