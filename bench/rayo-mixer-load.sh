#!/usr/bin/env bash
# Rayo mixers under load: rayo-load places ROOMS × SIZE calls itself (its
# built-in SIP/RTP caller), answers each offer and joins the call to mixer
# room-<k> (call i in room i / SIZE); every caller sends a tone of its own
# (BENCH_SPEAKERS per room, default all; the others silence), the server
# mixes each room. Once every call is up and BENCH_WARMUP s have passed,
# rayo-load measures BENCH_HOLD s (MEASURE start / MEASURE end), then hangs
# every call up and checks the joined/unjoined and speaking presences and
# every room's unavailable presence. Server on core 0, rayo-load on core 1.
# Usage: bench/rayo-mixer-load.sh ROOMS SIZE
# Environment: BENCH_HOLD (s measured, default 60), BENCH_WARMUP (s, default
#   5), BENCH_RATE (calls/s, default ROOMS × SIZE / 10, at least 10),
#   BENCH_SPEAKERS (callers per room sending a tone, default SIZE),
#   BENCH_MAX_MIXED (most tones a caller may hear, default 3),
#   BENCH_HANGUP_RATE (hangups/s after the window, default BENCH_RATE), BENCH_KEEP,
#   BENCH_SIP_PORT, BENCH_RTP_PORTS.
# Prints rayo-load's summary and RESULT line, the server's CPU over the
# window (% of one core), its RSS idle / at the window's end (per
# participant) / after, UDP RcvbufErrors, the server's warnings, and one
# FIGURE line.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
rooms=${1:?usage: bench/rayo-mixer-load.sh ROOMS SIZE}
size=${2:?usage: bench/rayo-mixer-load.sh ROOMS SIZE}
calls=$((rooms * size))
hold=${BENCH_HOLD:-60}
warmup=${BENCH_WARMUP:-5}
rate=${BENCH_RATE:-$((calls / 10 > 10 ? calls / 10 : 10))}
speakers=${BENCH_SPEAKERS:-$size}
max_mixed=${BENCH_MAX_MIXED:-3}
hangup_rate=${BENCH_HANGUP_RATE:-$rate}

sip_port=${BENCH_SIP_PORT:-$(free_port 49260)}
xmpp_port=$(free_port 49270)
rpc_port=$(free_port 49271)
http_port=$(free_port 49272)
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 4 * calls + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rayo-load
make_work_dir
write_bench_config myrayo "{ match: { type: rayo } }" "rayo:
  domain: rayo.bench
  listen: 127.0.0.1:$xmpp_port
  users: [ { username: usera, password: '1' } ]
  allow_plain_without_tls: true"
start_server
wait_tcp "$xmpp_port" || { echo "the XMPP listener did not come up"; tail -n 20 "$work/server.log"; exit 1; }
kill -0 "$server"
sleep 1
rss_idle=$(rss_kb)
hz=$(getconf CLK_TCK)
# time, server CPU ticks, RSS kB, RcvbufErrors
sample() { echo "$(date +%s.%N) $(ticks "$server") $(rss_kb) $(rcvbuf_errors)"; }
rcvbuf_before=$(rcvbuf_errors)

cmd=(target/release/rayo-load --addr "127.0.0.1:$xmpp_port" --domain rayo.bench
  --user usera --password 1 --mechanism scram-sha-256 --mode mixer
  --sip "127.0.0.1:$sip_port" --rooms "$rooms" --room-size "$size" --speakers "$speakers"
  --max-mixed "$max_mixed" --caller-rate "$rate" --hangup-rate "$hangup_rate" --warmup "$warmup" --hold "$hold"
  --duration $((2 * calls / rate + warmup + hold + 60)) --quiet)
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, XMPP 127.0.0.1:$xmpp_port, rtp_ports $rtp_ports)"
echo "load:   taskset -c 1 ${cmd[*]}"
run_measured_logged "$work/load.out"
require_server
sleep 2
rss_after=$(rss_kb)
rcvbuf_after=$(rcvbuf_errors)

echo "--- server (pid $server, core 0)"
cpu_pct=-
rss_per=-
if [ -s "$work/start" ] && [ -s "$work/end" ]; then
  read -r t0 c0 _ e0 < "$work/start"
  read -r t1 c1 rss1 e1 < "$work/end"
  cpu_pct=$(awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" \
    'BEGIN { w = t1 - t0; printf "%.1f", (w > 0 ? 100 * (c1 - c0) / hz / w : 0) }')
  rss_per=$(awk -v a="$rss_idle" -v b="$rss1" -v n="$calls" 'BEGIN { printf "%.1f", (b - a) / n }')
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v n="$calls" \
    'BEGIN { wall = t1 - t0; cpu = (c1 - c0) / hz;
             printf "window %.1f s: server CPU %.2f s = %.1f%% of one core, %.4f%% per participant (%d)\n", wall, cpu, 100 * cpu / wall, 100 * cpu / wall / n, n }'
  echo "RSS: idle ${rss_idle} kB, at the window's end ${rss1} kB (${rss_per} kB per participant), after the calls ${rss_after} kB"
  echo "UDP RcvbufErrors: +$((e1 - e0)) in the window, +$((rcvbuf_after - rcvbuf_before)) over the run"
else
  echo "no measurement window (rayo-load did not reach it)"
  echo "RSS: idle ${rss_idle} kB, after the calls ${rss_after} kB"
fi
report_server_log

f() { result_field "$work/load.out" "$1"; }
# The server's pacer skips ticks it is too late for (its media clocks fall
# behind, sequence numbers stay contiguous): frames a caller got fewer than
# 50 a second over the window.
short=$(awk -v p="$(f window_packets)" -v n="$(f measured_calls)" -v h="$hold" \
  'BEGIN { if (n > 0 && p != "-") printf "%.1f", h * 50 - p / n; else print "-" }')
echo "FIGURE rayo-mixer-load rooms=$rooms size=$size participants=$calls speakers=$speakers" \
  "server_cpu_pct=$cpu_pct lost=$(f lost) window_packets=$(f window_packets)" \
  "pacing_us_p50=$(f pacing_us_p50) pacing_us_p99=$(f pacing_us_p99) pacing_us_max=$(f pacing_us_max)" \
  "rss_kb_per_participant=$rss_per established=$(f caller_established) measured=$(f measured_calls)" \
  "frames_short_per_call=$short" \
  "deaf=$(f deaf) tones_heard=$(f tones_heard) over_mixed=$(f over_mixed) self_heard=$(f self_heard)" \
  "joined=$(f joined) missing_events=$(f missing_events) started_speaking=$(f started_speaking)" \
  "speakers_announced=$(f speakers_announced)/$(f speakers_expected) rooms_gone=$(f rooms_gone)/$(f rooms)" \
  "failures=$(f failures) tool_cpu_pct=$(f tool_cpu_pct)"
exit "$load_status"
