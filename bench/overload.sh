#!/usr/bin/env bash
# Overload: agent-played calls offered at BENCH_FACTOR (default 1.5) × RATE,
# where RATE is the sustainable rate. SIPp (bench/scenarios/uac_or_503.xml,
# UDP) places the calls, each held HOLD s, and takes either a 200 or a 503;
# agent-load answers every offer and plays a 1 kHz prompt in a loop; meanwhile
# BENCH_PROBES (default 50) calls set up by rtp-load before the flood hold
# for its whole length and measure the pacing and loss of calls already up.
# The server is pinned to core 0, SIPp, agent-load and rtp-load to core 1.
# Usage: bench/overload.sh RATE [SECONDS] [HOLD]   (SECONDS default 30, HOLD 5)
# Environment: BENCH_FACTOR (offered / RATE, default 1.5; 1 checks that RATE
#   is sustainable), BENCH_PROBES, BENCH_MAX_CALLS (sip.max_calls, default 0:
#   measured load only), BENCH_KEEP (keep the work dir and say where),
#   BENCH_SIP_PORT, BENCH_RTP_PORTS.
# Prints offered vs completed vs refused (503) vs failed calls, the server's
# CPU over SIPp's run, the UDP RcvbufErrors delta, the probe calls' summary
# (pacing p50/p99, loss), the time from the end of the load to /readyz 200,
# and the server's overload log lines. Exit status 0 only when every call
# was either completed or refused with 503 and the server recovered.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
base=${1:?usage: bench/overload.sh RATE [SECONDS] [HOLD]}
seconds=${2:-30}
hold=${3:-5}
factor=${BENCH_FACTOR:-1.5}
probes=${BENCH_PROBES:-50}
max_calls=${BENCH_MAX_CALLS:-0}
rate=$(awk -v r="$base" -v f="$factor" 'BEGIN { printf "%d", r * f + 0.5 }')
calls=$((rate * seconds))
# Every answered call keeps its INVITE and BYE transactions 32 s: room for
# them, so that the transaction limit is not what refuses calls.
max_transactions=$((96 * rate > 65536 ? 96 * rate : 65536))

sip_port=${BENCH_SIP_PORT:-$(free_port 48160)}
sipp_port=$(free_port 48170)
sipp_media_port=$(free_port 48180)
rpc_port=$(free_port 48190)
http_port=$(free_port 48191)
# Up to RATE × HOLD calls at once plus the probes, 2 ports each, and ports
# of calls that just ended.
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 6 * (rate * hold + probes) + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rtp-load --bin agent-load
make_work_dir
probe=
poller=
trap 'for p in $probe $poller; do kill "$p" 2>/dev/null || true; done; cleanup' EXIT
target/release/agent-load --write-tone "$work/tone.wav" --tone-hz 1000 --tone-secs 10
write_bench_config myagent "{ match: { type: agent } }" "sip:
  max_transactions: $max_transactions
  max_calls: $max_calls" "  playback_dir: $work"
start_server

agent_cmd=(target/release/agent-load --url "ws://127.0.0.1:$rpc_port/?endpoint=myagent"
  --mode play --prompt file://tone.wav --quiet)
start_agent
require_server

# The status of GET /readyz (000 when there is no answer).
readyz() {
  (exec 3<>"/dev/tcp/127.0.0.1/$http_port" &&
    printf 'GET /readyz HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n' >&3 &&
    head -n 1 <&3 | awk '{print $2}') 2>/dev/null || echo 000
}

# The probes: up before the flood, held until after it.
probe_cmd=(target/release/rtp-load --callers-only --expect-tone 1000 --calls "$probes"
  --rate "$probes" --warmup 3 --duration $((seconds + hold + 8)) --server "127.0.0.1:$sip_port" --quiet)
taskset -c 1 "${probe_cmd[@]}" > "$work/probes.out" 2> "$work/probes.err" &
probe=$!
sleep 3

sipp_cmd=(sipp "127.0.0.1:$sip_port" -sf "$PWD/bench/scenarios/uac_or_503.xml" -s 100
  -i 127.0.0.1 -p "$sipp_port" -mp "$sipp_media_port" -t u1 -r "$rate" -d $((hold * 1000))
  -m "$calls" -l $((rate * (hold + 10))) -recv_timeout 10000 -buff_size 4194304 -nostdin
  -timeout $((seconds + hold + 120))s -trace_stat -stf "$work/stat.csv" -fd 1)
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, sip.max_calls $max_calls, sip.max_transactions $max_transactions)"
echo "agent:  taskset -c 1 ${agent_cmd[*]}"
echo "probes: taskset -c 1 ${probe_cmd[*]}"
echo "sipp:   taskset -c 1 ${sipp_cmd[*]}"
echo "offered: $rate calls/s (${factor} × $base) for $seconds s, each held $hold s"
e0=$(rcvbuf_errors)
# /readyz every 50 ms through the run: when the server refused, and when
# it stopped refusing.
(while :; do echo "$(date +%s.%N) $(readyz)"; sleep 0.05; done) > "$work/readyz.log" &
poller=$!
taskset -pc 1 "$poller" > /dev/null 2>&1 || true
t0=$(date +%s.%N)
c0=$(ticks "$server")
(cd "$work" && taskset -c 1 "${sipp_cmd[@]}" > "$work/sipp.out" 2>&1) || true
t1=$(date +%s.%N)
c1=$(ticks "$server")
e1=$(rcvbuf_errors)

# Recovery: from the end of the load (SIPp's last call ended) to /readyz 200.
recovered=
for _ in $(seq 200); do
  if [ "$(readyz)" = 200 ]; then
    recovered=$(date +%s.%N)
    break
  fi
  sleep 0.05
done

kill "$poller" 2>/dev/null || true
wait "$poller" 2>/dev/null || true
poller=
wait "$probe" || true
probe=
kill -TERM "$agent" 2>/dev/null || true
wait "$agent" || true
agent=

report_sipp "$calls" "$rate"
# The 503s from SIPp's final screen: "503 <---------- N …".
refused=$(awk '$1 == "503" && $2 ~ /^<-/ { n = $3 } END { print n + 0 }' "$work/sipp.out")
completed=$((sipp_successful - refused))
echo "OVERLOAD offered=$sipp_created completed=$completed refused_503=$refused failed=$sipp_failed"

echo "--- agent-load (core 1)"
grep -E "^calls:|^failures:|lost" "$work/agent.out" "$work/agent.err" | cut -d: -f2- | head -n 5 || true

echo "--- probe calls (rtp-load, $probes calls up through the flood)"
grep -E "^RESULT|pacing|lost" "$work/probes.out" | head -n 8 || true

echo "--- server (pid $server, core 0)"
require_server
report_setup_cpu "$t0" "$t1" "$c0" "$c1" 0 0 "$sipp_created" ""
echo "UDP RcvbufErrors: +$((e1 - e0)) over SIPp's run"
if [ -n "$recovered" ]; then
  awk -v t1="$t1" -v r="$recovered" 'BEGIN { printf "recovery: /readyz 200 %.2f s after the load ended\n", r - t1 }'
else
  echo "recovery: /readyz still not 200 10 s after the load ended"
fi
# From the poll: seconds of 503 in all, and the last 503 against the end
# of the offered load (t0 + SECONDS; calls then still up for HOLD s).
awk -v t0="$t0" -v offered_end="$seconds" '
  $2 == 503 { n++; last = $1 - t0 }
  END {
    if (!n) { print "/readyz never 503 during the run"; exit }
    printf "/readyz 503 for ~%.1f s of the run; the last 503 %.2f s after the flood started (offered load stopped at %d s): ", n * 0.05, last, offered_end
    if (last <= offered_end) print "accepting again before the offered load stopped"
    else printf "%.2f s after it stopped\n", last - offered_end
  }' "$work/readyz.log"
grep -E "overloaded|back to normal|refused for load|backlogged" "$work/server.log" | head -n 12 || true
report_server_log
[ -n "$recovered" ] && [ "$sipp_failed" -eq 0 ] && [ "$sipp_created" -eq "$calls" ]
