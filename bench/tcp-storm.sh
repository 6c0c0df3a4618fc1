#!/usr/bin/env bash
# TCP connection storms: the server's open descriptors and RSS before,
# during and after each of ROUNDS storms of CONNECTIONS idle SIP TCP
# connections. The server is pinned to core 0, the storm client
# (bench/tcp-storm-client.py) to core 1.
# Usage: bench/tcp-storm.sh [CONNECTIONS] [ROUNDS]   (default 20000, 4)
# Environment:
#   BENCH_PER_IP    connections per source address 127.0.0.x (default 200,
#                   under the server's default sip.tcp_max_connections_per_ip
#                   of 256; raise it past 256 to see the per-IP cap refuse)
#   BENCH_OPTIONS=1 send one OPTIONS on each connection and read the answer
#                   (traffic, so read buffers are used) before holding it
#   BENCH_HOLD      seconds the connections stay open (default 20)
#   BENCH_SETTLE    seconds after they close before the "after" sample (default 5)
#   BENCH_MAX_CONNECTIONS  sip.tcp_max_connections (default CONNECTIONS + 1000)
#   BENCH_SERVER    the server binary (default: target/release/switchboard, built)
#   BENCH_SIP_PORT, BENCH_KEEP (keep the work dir and say where)
# Prints, per round, the client's counts (connected, refused at accept,
# answered, closed while held) and the server's descriptors (ls /proc/PID/fd)
# and VmRSS before the storm, while it is held, and BENCH_SETTLE s after it
# closed; then the server's warnings. Needs root (or a hard descriptor limit
# above 2 x CONNECTIONS) for storms past ~9,000 connections.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
connections=${1:-20000}
rounds=${2:-4}
per_ip=${BENCH_PER_IP:-200}
hold=${BENCH_HOLD:-20}
settle=${BENCH_SETTLE:-5}
max_connections=${BENCH_MAX_CONNECTIONS:-$((connections + 1000))}
options=()
if [ -n "${BENCH_OPTIONS:-}" ]; then
  options=(--options)
fi

sip_port=${BENCH_SIP_PORT:-$(free_port 49060)}
rpc_port=$(free_port 49070)
http_port=$(free_port 49071)

binary=${BENCH_SERVER:-target/release/switchboard}
if [ -z "${BENCH_SERVER:-}" ]; then
  cargo build --release -q -p switchboard --bin switchboard
fi
make_work_dir
cat > "$work/bench.yaml" <<YAML
transports:
  udp: { transport: udp, bind: 127.0.0.1, port: $sip_port }
  tcp: { transport: tcp, bind: 127.0.0.1, port: $sip_port }
endpoints:
  local: { match: { type: ip, values: ["127.0.0.0/8"] } }
routes:
  default: [ { id: "", match: any, hangup: { code: 486 } } ]
media:
  rtp_ports: 20000-30000
agent_rpc:
  listen: 127.0.0.1:$rpc_port
http:
  listen: 127.0.0.1:$http_port
sip:
  tcp_max_connections: $max_connections
YAML
"$binary" check-config "$work/bench.yaml"

# Both ends need a descriptor per connection; the server raises its soft
# limit to the hard one itself and keeps a share for RTP.
want=$((2 * connections + 16384))
if [ "$(ulimit -Hn)" != unlimited ] && [ "$(ulimit -Hn)" -lt "$want" ]; then
  ulimit -Hn "$want" 2>/dev/null || echo "cannot raise the hard descriptor limit to $want (not root?)"
fi
ulimit -n "$(ulimit -Hn)"

RUST_LOG=info taskset -c 0 "$binary" --config "$work/bench.yaml" \
  > "$work/server.log" 2>&1 &
server=$!
for _ in $(seq 50); do
  grep -qs 'switchboard ready' "$work/server.log" && break
  sleep 0.1
done
grep -E 'descriptor' "$work/server.log" | sed 's/^.*INFO //' || true
sleep 1

sample() { echo "fds=$(find "/proc/$server/fd" -mindepth 1 -maxdepth 1 | wc -l) rss_kb=$(rss_kb)"; }

echo "storm: $connections connections, $per_ip per source address, held ${hold} s, $rounds rounds${options:+, one OPTIONS each}"
printf '%-6s %-8s %8s %10s  %s\n' round phase fds rss_kB client
for round in $(seq "$rounds"); do
  read -r fds rss <<<"$(sample)"
  printf '%-6s %-8s %8s %10s\n' "$round" before "${fds#fds=}" "${rss#rss_kb=}"
  set +e
  taskset -c 1 python3 bench/tcp-storm-client.py --port "$sip_port" --count "$connections" \
    --per-ip "$per_ip" --hold "$hold" --round "$round" "${options[@]}" |
    while IFS= read -r line; do
      case "$line" in
        HELD*)
          sleep 1 # the server may still be accepting the last ones
          read -r fds rss <<<"$(sample)"
          printf '%-6s %-8s %8s %10s  %s\n' "$round" held "${fds#fds=}" "${rss#rss_kb=}" "$opened ${line#HELD }"
          ;;
        OPEN*) opened=${line#OPEN } ;;
        AFTER*) printf '%-6s %-8s %8s %10s  %s\n' "$round" "" "" "" "after ${hold} s: ${line#AFTER }" ;;
      esac
    done
  client_status=${PIPESTATUS[0]}
  set -e
  if [ "$client_status" != 0 ]; then
    echo "storm client failed ($client_status)"
    exit 1
  fi
  sleep "$settle"
  read -r fds rss <<<"$(sample)"
  printf '%-6s %-8s %8s %10s\n' "$round" after "${fds#fds=}" "${rss#rss_kb=}"
done
kill -0 "$server" || { echo "server died"; tail -n 20 "$work/server.log"; exit 1; }
echo "server warnings and errors (count, first of each):"
grep -E ' (WARN|ERROR) ' "$work/server.log" | sed -E 's/^[^ ]+ +//; s/ [a-z_]+=.*$//' |
  sort | uniq -c | sort -rn | head -n 10 || true
