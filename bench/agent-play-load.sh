#!/usr/bin/env bash
# Prompt playback for agent-answered calls: rtp-load places CALLS calls
# (callers only), the server offers each to agent-load over Agent RPC, which
# answers and plays a 10 s 1 kHz prompt in a loop; every caller must hear the
# tone without loss. The server is pinned to core 0, rtp-load and agent-load
# to core 1.
# Usage: bench/agent-play-load.sh CALLS [DURATION_SEC]
#   DURATION_SEC: how long each call is held (default 70: 10 s warm-up, then
#   about 60 s measured once every call is up). Calls ramp at CALLS/10 per s.
# Environment: BENCH_WARMUP (s, default 10), BENCH_RATE (calls/s),
#   BENCH_LATENCY_FROM (answers made with at least this many calls up get
#   their own latency figures; default 90 % of CALLS), BENCH_CONNECTIONS
#   (agent connections, default 1), BENCH_KEEP (keep the work dir and say
#   where), BENCH_SIP_PORT, BENCH_RTP_PORTS, BENCH_PACER_REALTIME (true|false,
#   media.pacer_realtime; default true), BENCH_PACER_CPU (media.pacer_cpu).
# Prints rtp-load's and agent-load's summaries and RESULT lines, the
# server's CPU over the measurement window (utime+stime from /proc/PID/stat,
# % of one core), agent-load's CPU over it, the server's RSS idle, at full
# load and after the calls, the system's UDP RcvbufErrors delta, and the
# warnings and errors the server logged.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
calls=${1:?usage: bench/agent-play-load.sh CALLS [DURATION_SEC]}
duration=${2:-70}
warmup=${BENCH_WARMUP:-10}
rate=${BENCH_RATE:-}
latency_from=${BENCH_LATENCY_FROM:-$((calls * 9 / 10))}
connections=${BENCH_CONNECTIONS:-1}
prompt_hz=1000

sip_port=${BENCH_SIP_PORT:-$(free_port 47060)}
rpc_port=$(free_port 47090)
http_port=$(free_port 47091)
# One leg a call on the server (2 ports); 4 a call leaves room for ports
# still in use by calls that just ended. Below the ephemeral range (32768+)
# where rtp-load's own sockets live.
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 4 * calls + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rtp-load --bin agent-load
make_work_dir
target/release/agent-load --write-tone "$work/tone.wav" --tone-hz "$prompt_hz" --tone-secs 10
write_bench_config myagent "{ match: { type: agent } }" "" "  playback_dir: $work
  pacer_realtime: ${BENCH_PACER_REALTIME:-true}
${BENCH_PACER_CPU:+  pacer_cpu: $BENCH_PACER_CPU}"
# Thousands of legs, one socket each (start_server lifts the file limit).
start_server

# The agent connects once the server listens (retrying for up to 10 s).
agent_cmd=(target/release/agent-load --url "ws://127.0.0.1:$rpc_port/?endpoint=myagent"
  --connections "$connections" --mode play --prompt file://tone.wav
  --latency-from-calls "$latency_from" --quiet)
start_agent
kill -0 "$server"
hz=$(getconf CLK_TCK)
# time, server CPU ticks, RSS kB, RcvbufErrors, agent CPU ticks
sample() { echo "$(date +%s.%N) $(ticks "$server") $(rss_kb) $(rcvbuf_errors) $(ticks "$agent")"; }
rss_idle=$(rss_kb)
rcvbuf_before=$(rcvbuf_errors)

cmd=(target/release/rtp-load --callers-only --expect-tone "$prompt_hz" --calls "$calls"
  --duration "$duration" --warmup "$warmup" --server "127.0.0.1:$sip_port")
[ -n "$rate" ] && cmd+=(--rate "$rate")
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, Agent RPC 127.0.0.1:$rpc_port, rtp_ports $rtp_ports)"
echo "agent:  taskset -c 1 ${agent_cmd[*]}"
echo "load:   taskset -c 1 ${cmd[*]}"
run_measured
sleep 1
kill -TERM "$agent" 2>/dev/null || true
agent_status=0
wait "$agent" || agent_status=$?
agent=
echo "--- agent-load (core 1)"
cat "$work/agent.out"
grep -v '^agent-load: [0-9]* connection' "$work/agent.err" | grep -v 'stopping$' | head -n 20 || true
if ! kill -0 "$server" 2>/dev/null; then
  echo "the server is gone (crashed?)"
  tail -n 20 "$work/server.log"
  server=
  exit 1
fi
rss_after=$(rss_kb)
rcvbuf_after=$(rcvbuf_errors)

echo "--- server (pid $server, core 0)"
if [ -s "$work/start" ] && [ -s "$work/end" ]; then
  read -r t0 c0 rss0 e0 a0 < "$work/start"
  read -r t1 c1 rss1 e1 a1 < "$work/end"
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v a0="$a0" -v a1="$a1" -v hz="$hz" -v n="$calls" \
    'BEGIN { wall = t1 - t0; cpu = (c1 - c0) / hz;
             if (wall <= 0) { print "measurement window empty"; exit }
             printf "window %.1f s: server CPU %.2f s = %.1f%% of one core, %.3f%% per call (%d calls asked); agent-load %.1f%% of one core\n", wall, cpu, 100 * cpu / wall, 100 * cpu / wall / n, n, 100 * (a1 - a0) / hz / wall }'
  echo "RSS: idle ${rss_idle} kB, at full load ${rss1} kB (window start ${rss0} kB), after the calls ${rss_after} kB"
  echo "UDP RcvbufErrors: +$((e1 - e0)) in the window, +$((rcvbuf_after - rcvbuf_before)) over the run"
else
  echo "no measurement window (rtp-load did not reach it)"
  echo "RSS: idle ${rss_idle} kB, after the calls ${rss_after} kB"
  echo "UDP RcvbufErrors: +$((rcvbuf_after - rcvbuf_before)) over the run"
fi
logged=$(grep -c -E 'WARN|ERROR' "$work/server.log" || true)
echo "server log: $logged warning/error lines"
grep -E 'WARN|ERROR' "$work/server.log" | head -n 10 || true
[ "$load_status" -ne 0 ] && exit "$load_status"
exit "$agent_status"
