#!/usr/bin/env bash
# Looped Rayo outputs: rtp-load places CALLS calls (callers only), the
# server offers each to rayo-load over XMPP, which answers it and starts an
# <output repeat-times='0'> — a 10 s 1 kHz WAV from the playback dir, or
# with BENCH_TTS a cached TTS render of that text — until the caller hangs
# up; every output must complete `hangup`. Every caller must receive the
# stream without loss. Server on core 0, rtp-load and rayo-load on core 1
# (as bench/agent-play-load.sh, whose figure this one is compared with).
# Usage: bench/rayo-play-load.sh CALLS [DURATION_SEC]
#   DURATION_SEC: how long each call is held (default 70: 10 s warm-up,
#   then about 60 s measured once every call is up). Calls ramp at CALLS/10 per s.
# Environment: BENCH_TTS (text: speak it instead of the WAV; rendered once,
#   then served from the TTS cache; the callers' tone check then fails by
#   design and is not counted), BENCH_WARMUP (s, default 10), BENCH_RATE
#   (calls/s), BENCH_LATENCY_FROM (answers made with at least this many
#   calls up get their own latency line; default 90 % of CALLS),
#   BENCH_KEEP, BENCH_SIP_PORT, BENCH_RTP_PORTS.
# Prints rtp-load's and rayo-load's summaries and RESULT lines, the server's
# CPU over the measurement window (% of one core), its RSS idle, at full
# load (per call) and after, UDP RcvbufErrors, the server's warnings, and
# one FIGURE line: calls, server CPU %, loss, pacing p50/p99, RSS per call,
# output completions.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
calls=${1:?usage: bench/rayo-play-load.sh CALLS [DURATION_SEC]}
duration=${2:-70}
warmup=${BENCH_WARMUP:-10}
rate=${BENCH_RATE:-}
latency_from=${BENCH_LATENCY_FROM:-$((calls * 9 / 10))}
tts=${BENCH_TTS:-}
prompt_hz=1000

sip_port=${BENCH_SIP_PORT:-$(free_port 49060)}
xmpp_port=$(free_port 49070)
rpc_port=$(free_port 49071)
http_port=$(free_port 49072)
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 4 * calls + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rtp-load --bin agent-load --bin rayo-load
make_work_dir
target/release/agent-load --write-tone "$work/tone.wav" --tone-hz "$prompt_hz" --tone-secs 10
write_bench_config myrayo "{ match: { type: rayo } }" "rayo:
  domain: rayo.bench
  listen: 127.0.0.1:$xmpp_port
  users: [ { username: usera, password: '1' } ]
  allow_plain_without_tls: true" "  playback_dir: $work
  recordings_dir: $work/recordings"

start_server
wait_tcp "$xmpp_port" || { echo "the XMPP listener did not come up"; tail -n 20 "$work/server.log"; exit 1; }
kill -0 "$server"
rss_idle=$(rss_kb)

if [ -n "$tts" ]; then
  document=(--tts "$tts")
  doc_kind=tts
else
  document=(--url file://tone.wav)
  doc_kind=wav
fi
agent_cmd=(target/release/rayo-load --addr "127.0.0.1:$xmpp_port" --domain rayo.bench
  --user usera --password 1 --mechanism scram-sha-256 --mode play-loop "${document[@]}"
  --calls "$calls" --latency-from-calls "$latency_from" --duration $((duration + 120)) --quiet)
start_agent
rss_connected=$(rss_kb)
hz=$(getconf CLK_TCK)
# time, server CPU ticks, RSS kB, RcvbufErrors, rayo-load CPU ticks
sample() { echo "$(date +%s.%N) $(ticks "$server") $(rss_kb) $(rcvbuf_errors) $(ticks "$agent")"; }
rcvbuf_before=$(rcvbuf_errors)

cmd=(target/release/rtp-load --callers-only --expect-tone "$prompt_hz" --calls "$calls"
  --duration "$duration" --warmup "$warmup" --server "127.0.0.1:$sip_port")
[ -n "$rate" ] && cmd+=(--rate "$rate")
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, XMPP 127.0.0.1:$xmpp_port, rtp_ports $rtp_ports)"
echo "rayo:   taskset -c 1 ${agent_cmd[*]}"
echo "load:   taskset -c 1 ${cmd[*]}"
run_measured_logged "$work/load.out"
# rayo-load ends once every call has ended; stop it after 15 s otherwise.
for _ in $(seq 150); do
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$agent" 2>/dev/null || true
agent_status=0
wait "$agent" || agent_status=$?
agent=
echo "--- rayo-load (core 1)"
cat "$work/agent.out"
grep -v '^rayo-load: [0-9]* connection' "$work/agent.err" | head -n 20 || true
require_server
rss_after=$(rss_kb)
rcvbuf_after=$(rcvbuf_errors)

echo "--- server (pid $server, core 0)"
cpu_pct=-
rss_per_call=-
if [ -s "$work/start" ] && [ -s "$work/end" ]; then
  read -r t0 c0 rss0 e0 a0 < "$work/start"
  read -r t1 c1 rss1 e1 a1 < "$work/end"
  cpu_pct=$(awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" \
    'BEGIN { w = t1 - t0; printf "%.1f", (w > 0 ? 100 * (c1 - c0) / hz / w : 0) }')
  rss_per_call=$(awk -v a="$rss_connected" -v b="$rss1" -v n="$calls" 'BEGIN { printf "%.1f", (b - a) / n }')
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v a0="$a0" -v a1="$a1" -v hz="$hz" -v n="$calls" \
    'BEGIN { wall = t1 - t0; cpu = (c1 - c0) / hz;
             printf "window %.1f s: server CPU %.2f s = %.1f%% of one core, %.3f%% per call (%d calls asked); rayo-load %.1f%% of one core\n", wall, cpu, 100 * cpu / wall, 100 * cpu / wall / n, n, 100 * (a1 - a0) / hz / wall }'
  echo "RSS: idle ${rss_idle} kB, client connected ${rss_connected} kB, at full load ${rss1} kB (${rss_per_call} kB per call), after the calls ${rss_after} kB"
  echo "UDP RcvbufErrors: +$((e1 - e0)) in the window, +$((rcvbuf_after - rcvbuf_before)) over the run"
else
  echo "no measurement window (rtp-load did not reach it)"
  echo "RSS: idle ${rss_idle} kB, after the calls ${rss_after} kB"
fi
report_server_log

lost=$(result_field "$work/load.out" lost)
established=$(result_field "$work/load.out" established)
dropped=$(result_field "$work/load.out" dropped)
wrong_tone=$(result_field "$work/load.out" wrong_tone)
completes=$(result_field "$work/agent.out" completes_by)
rayo_failures=$(result_field "$work/agent.out" failures)
echo "FIGURE rayo-play-load calls=$calls document=$doc_kind server_cpu_pct=$cpu_pct lost=$lost" \
  "pacing_us_p50=$(result_field "$work/load.out" pacing_us_p50) pacing_us_p99=$(result_field "$work/load.out" pacing_us_p99)" \
  "rss_kb_per_call=$rss_per_call established=$established dropped=$dropped wrong_tone=$wrong_tone" \
  "completes_by=$completes rayo_failures=$rayo_failures"
# Speech is no tone: with BENCH_TTS, rtp-load's tone check is left out.
if [ -n "$tts" ]; then
  [ "$established" = "$calls" ] && [ "$dropped" = 0 ] && [ "$lost" = 0 ] || exit 1
elif [ "$load_status" -ne 0 ]; then
  exit "$load_status"
fi
exit "$agent_status"
