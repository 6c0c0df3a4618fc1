#!/usr/bin/env bash
# Call setup rate with one agent round trip per call: SIPp (built-in `uac`
# scenario, UDP) places RATE calls per second for SECONDS seconds; the server
# offers each to agent-load over Agent RPC, which accepts the invite and
# sends `answer` at once (`--mode hold`); SIPp hangs up after 1 s. The server
# is pinned to core 0, SIPp and agent-load to core 1.
# Usage: bench/agent-setup-rate.sh RATE [SECONDS]   (SECONDS default 30)
# Environment: BENCH_CONNECTIONS (agent connections, default 1), BENCH_KEEP
#   (keep the work dir and say where),
#   BENCH_SETTLE (s to wait before the last RSS reading, default 40: past
#   SIP Timer J, 32 s, so finished transactions are gone),
#   BENCH_MAX_TRANSACTIONS (sip.max_transactions; default 96 per call per
#   second, at least the server's default 65536: each call leaves its INVITE
#   and BYE server transactions alive 32 s after they end, so the default
#   caps a sustained rate near 1,000 calls/s), BENCH_SIP_PORT,
#   BENCH_RTP_PORTS.
# Prints SIPp's counts (calls created, successful, failed, retransmissions),
# the achieved rate, agent-load's summary and RESULT line (answer → 200
# latency), the server's CPU over SIPp's run (% of one core, µs per call) and
# its RSS idle, right after the calls and BENCH_SETTLE s later, and the
# warnings and errors the server logged. Exit status 0 only when every
# call succeeded and the agent saw no failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
rate=${1:?usage: bench/agent-setup-rate.sh RATE [SECONDS]}
seconds=${2:-30}
calls=$((rate * seconds))
connections=${BENCH_CONNECTIONS:-1}
settle=${BENCH_SETTLE:-40}
max_transactions=${BENCH_MAX_TRANSACTIONS:-$((96 * rate > 65536 ? 96 * rate : 65536))}

sip_port=${BENCH_SIP_PORT:-$(free_port 48060)}
sipp_port=$(free_port 48070)
# SIPp's media port defaults to 6000: always give one.
sipp_media_port=$(free_port 48080)
rpc_port=$(free_port 48090)
http_port=$(free_port 48091)
# About RATE calls are up at once (1 s each), one leg each on the server;
# ports are kept a while after a call ends, so leave plenty.
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 8 * rate + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin agent-load
make_work_dir
write_bench_config myagent "{ match: { type: agent } }" "sip:
  max_transactions: $max_transactions"

start_server

# The agent connects once the server listens (retrying for up to 10 s).
agent_cmd=(target/release/agent-load --url "ws://127.0.0.1:$rpc_port/?endpoint=myagent"
  --connections "$connections" --mode hold --quiet)
start_agent
kill -0 "$server"
rss_idle=$(rss_kb)

sipp_cmd=(sipp "127.0.0.1:$sip_port" -sn uac -s 100 -i 127.0.0.1 -p "$sipp_port"
  -mp "$sipp_media_port" -t u1 -r "$rate" -d 1000 -m "$calls" -l $((rate * 10))
  -recv_timeout 10000 -buff_size 4194304 -nostdin -timeout $((seconds + 120))s
  -trace_stat -stf "$work/stat.csv" -fd 1)
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, Agent RPC 127.0.0.1:$rpc_port, sip.max_transactions $max_transactions)"
echo "agent:  taskset -c 1 ${agent_cmd[*]}"
echo "sipp:   taskset -c 1 ${sipp_cmd[*]}"
t0=$(date +%s.%N)
c0=$(ticks "$server")
a0=$(ticks "$agent")
(cd "$work" && taskset -c 1 "${sipp_cmd[@]}" > "$work/sipp.out" 2>&1) || true
t1=$(date +%s.%N)
c1=$(ticks "$server")
a1=$(ticks "$agent")
rss_end=$(rss_kb)
sleep 1
kill -TERM "$agent" 2>/dev/null || true
agent_status=0
wait "$agent" || agent_status=$?
agent=

report_sipp "$calls" "$rate"

echo "--- agent-load (core 1)"
cat "$work/agent.out"
grep -v '^agent-load: [0-9]* connection' "$work/agent.err" | grep -v 'stopping$' | head -n 20 || true

echo "--- server (pid $server, core 0)"
require_server
report_setup_cpu "$t0" "$t1" "$c0" "$c1" "$a0" "$a1" "$sipp_created" agent-load
sleep "$settle"
echo "RSS: idle $rss_idle kB, when SIPp ended $rss_end kB, ${settle} s later $(rss_kb) kB"
report_server_log
[ "$sipp_failed" -eq 0 ] && [ "$sipp_successful" -eq "$calls" ] || exit 1
exit "$agent_status"
