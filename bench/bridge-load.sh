#!/usr/bin/env bash
# Bridged calls: rtp-load plays both ends of CALLS calls through the server
# (caller → Switchboard → callee, real G.711 tones both ways, one RTP socket
# per leg). The server is pinned to core 0, rtp-load to core 1.
# Usage: bench/bridge-load.sh CALLS [DURATION_SEC]
#   DURATION_SEC: how long each call is held (default 70: 10 s warm-up, then
#   about 60 s measured once every call is up). Calls ramp at CALLS/10 per s.
# Environment: BENCH_WARMUP (s, default 10), BENCH_RATE (calls/s),
#   BENCH_SIP_PORT, BENCH_CALLEE_PORT, BENCH_RTP_PORTS (first-last).
# Prints rtp-load's summary and RESULT line, the server's CPU over the
# measurement window (utime+stime from /proc/PID/stat, % of one core), its
# RSS idle, at full load and after the calls, and the system's UDP
# RcvbufErrors delta (/proc/net/snmp).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
calls=${1:?usage: bench/bridge-load.sh CALLS [DURATION_SEC]}
duration=${2:-70}
warmup=${BENCH_WARMUP:-10}
rate=${BENCH_RATE:-}

sip_port=${BENCH_SIP_PORT:-$(free_port 46060)}
callee_port=${BENCH_CALLEE_PORT:-$(free_port 46080)}
rpc_port=$(free_port 46090)
http_port=$(free_port 46091)
# Each bridged call takes two RTP/RTCP pairs on the server: 4 ports a call,
# below the ephemeral range (32768+) where rtp-load's own sockets live (up
# to about 5,000 calls; set BENCH_RTP_PORTS beyond that).
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 4 * calls + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rtp-load
make_work_dir
write_bench_config far "{ uri: \"sip:127.0.0.1:$callee_port\" }"

# Thousands of legs, one socket each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
RUST_LOG=warn taskset -c 0 target/release/switchboard --config "$work/bench.yaml" &
server=$!
sleep 1
kill -0 "$server"
hz=$(getconf CLK_TCK)
# time, server CPU ticks, RSS kB, RcvbufErrors
sample() { echo "$(date +%s.%N) $(awk '{print $14+$15}' "/proc/$server/stat") $(rss_kb) $(rcvbuf_errors)"; }
rss_idle=$(rss_kb)
rcvbuf_before=$(rcvbuf_errors)

cmd=(target/release/rtp-load --calls "$calls" --duration "$duration" --warmup "$warmup"
  --server "127.0.0.1:$sip_port" --callee "127.0.0.1:$callee_port")
[ -n "$rate" ] && cmd+=(--rate "$rate")
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, rtp_ports $rtp_ports)"
echo "load:   taskset -c 1 ${cmd[*]}"
run_measured
sleep 1
if ! kill -0 "$server" 2>/dev/null; then
  echo "the server is gone (crashed?)"
  server=
  exit 1
fi
rss_after=$(rss_kb)
rcvbuf_after=$(rcvbuf_errors)

echo "--- server (pid $server, core 0)"
if [ -s "$work/start" ] && [ -s "$work/end" ]; then
  read -r t0 c0 rss0 e0 < "$work/start"
  read -r t1 c1 rss1 e1 < "$work/end"
  awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" -v n="$calls" \
    'BEGIN { wall = t1 - t0; cpu = (c1 - c0) / hz;
             if (wall <= 0) { print "measurement window empty"; exit }
             printf "window %.1f s: server CPU %.2f s = %.1f%% of one core, %.3f%% per call (%d calls asked)\n", wall, cpu, 100 * cpu / wall, 100 * cpu / wall / n, n }'
  echo "RSS: idle ${rss_idle} kB, at full load ${rss1} kB (window start ${rss0} kB), after the calls ${rss_after} kB"
  echo "UDP RcvbufErrors: +$((e1 - e0)) in the window, +$((rcvbuf_after - rcvbuf_before)) over the run"
else
  echo "no measurement window (rtp-load did not reach it)"
  echo "RSS: idle ${rss_idle} kB, after the calls ${rss_after} kB"
  echo "UDP RcvbufErrors: +$((rcvbuf_after - rcvbuf_before)) over the run"
fi
exit "$load_status"
