#!/usr/bin/env bash
# Call-attempt rate: SIPp places INVITEs that the server routes to
# `hangup {code: 486}`; the server is pinned to core 0, SIPp to core 1.
# Usage: bench/reject-rate.sh [RATE_PER_SEC] [CALLS] [u1|t1]
# Prints SIPp's final statistics and the server's CPU time.
set -euo pipefail
cd "$(dirname "$0")/.."
rate=${1:-2000}
calls=${2:-60000}
transport=${3:-u1}
port=${BENCH_SIP_PORT:-45060}

cargo build --release -q -p switchboard
work=$(mktemp -d)
trap 'kill "$server" 2>/dev/null || true; rm -rf "$work"' EXIT
cat > "$work/bench.yaml" <<YAML
transports:
  udp: { transport: udp, bind: 127.0.0.1, port: $port }
  tcp: { transport: tcp, bind: 127.0.0.1, port: $port }
endpoints:
  local: { match: { type: ip, values: ["127.0.0.0/8"] } }
routes:
  default: [ { id: "", match: any, hangup: { code: 486 } } ]
agent_rpc: { listen: "127.0.0.1:0" }
http: { listen: "127.0.0.1:0" }
YAML
RUST_LOG=warn taskset -c 0 target/release/switchboard --config "$work/bench.yaml" &
server=$!
sleep 1
start_ticks=$(awk '{print $14+$15}' "/proc/$server/stat")
start=$(date +%s.%N)
taskset -c 1 sipp "127.0.0.1:$port" -sf bench/scenarios/invite_486.xml -s 486 \
  -i 127.0.0.1 -p 45070 -mp 45080 -t "$transport" -r "$rate" -m "$calls" -l 100000 \
  -buff_size 4194304 -nostdin -timeout 120s -trace_stat -stf "$work/stat.csv" \
  >"$work/sipp.out" 2>&1 || true
end=$(date +%s.%N)
end_ticks=$(awk '{print $14+$15}' "/proc/$server/stat")
hz=$(getconf CLK_TCK)
tail -n 1 "$work/stat.csv" | awk -F';' '{print "successful calls:", $16, " failed calls:", $18}' || true
grep -E "Successful call|Failed call|Retransmissions" "$work/sipp.out" | tail -n 3 || true
awk -v s="$start" -v e="$end" -v t0="$start_ticks" -v t1="$end_ticks" -v hz="$hz" -v n="$calls" \
  'BEGIN { wall=e-s; cpu=(t1-t0)/hz; printf "wall %.1f s, server CPU %.2f s (%.0f%% of one core), %.1f us CPU per call attempt\n", wall, cpu, 100*cpu/wall, 1e6*cpu/n }'
