#!/usr/bin/env bash
# Call setup rate with Rayo call control: SIPp places RATE calls per second
# for SECONDS seconds (UDP); the server offers each to rayo-load over XMPP,
# which answers it (`answer` IQ) and hangs it up BENCH_HOLD_MS later
# (`hangup` IQ); SIPp (bench/scenarios/uac_wait_bye.xml) waits for the
# server's BYE and answers it. The server is pinned to core 0, SIPp and
# rayo-load to core 1.
# Usage: bench/rayo-setup-rate.sh RATE [SECONDS]   (SECONDS default 30)
# Environment: BENCH_HOLD_MS (answer → hangup, default 1000; at RATE 50 and
#   10000 about 500 calls are up while answers are measured),
#   BENCH_MODE (answer-hangup, default; or hold: SIPp's built-in `uac`
#   hangs up BENCH_HOLD_MS after the 200 and rayo-load only answers),
#   BENCH_LATENCY_FROM (answers sent with at least this many other calls
#   up get their own latency line; default 90 % of RATE × hold),
#   BENCH_CONNECTIONS (XMPP connections, default 1; more than one sets
#   rayo.offer_policy random), BENCH_MECHANISM (scram-sha-256, default, or
#   plain, scram-sha-1), BENCH_KEEP (keep the work dir and say where),
#   BENCH_SETTLE (s before the last RSS reading, default 40: past SIP
#   Timer J), BENCH_MAX_TRANSACTIONS (default 96 per call per second, at
#   least 65536, as in agent-setup-rate.sh), BENCH_SIP_PORT, BENCH_RTP_PORTS.
# Prints SIPp's counts and achieved rate, rayo-load's summary and RESULT
# line (answer IQ → result latency, ends by reason, failures), the server's
# CPU over SIPp's run (% of one core, µs per call), its RSS idle, with the
# clients connected (per client), at the peak of SIPp's run (per call up),
# when SIPp ended and BENCH_SETTLE s later, and the warnings and errors it
# logged. Exit status 0 only when every call succeeded and rayo-load saw no
# failure.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
rate=${1:?usage: bench/rayo-setup-rate.sh RATE [SECONDS]}
seconds=${2:-30}
calls=$((rate * seconds))
hold_ms=${BENCH_HOLD_MS:-1000}
mode=${BENCH_MODE:-answer-hangup}
connections=${BENCH_CONNECTIONS:-1}
mechanism=${BENCH_MECHANISM:-scram-sha-256}
settle=${BENCH_SETTLE:-40}
max_transactions=${BENCH_MAX_TRANSACTIONS:-$((96 * rate > 65536 ? 96 * rate : 65536))}
# Calls up at once in the steady state, and the latency threshold.
up=$((rate * hold_ms / 1000))
latency_from=${BENCH_LATENCY_FROM:-$((up * 9 / 10))}
offer_policy=all
[ "$connections" -gt 1 ] && offer_policy=random
case "$mode" in
  answer-hangup) sipp_scenario=(-sf "$PWD/bench/scenarios/uac_wait_bye.xml") ;;
  hold) sipp_scenario=(-sn uac -d "$hold_ms") ;;
  *) echo "BENCH_MODE must be answer-hangup or hold"; exit 2 ;;
esac

sip_port=${BENCH_SIP_PORT:-$(free_port 48160)}
sipp_port=$(free_port 48170)
# SIPp's media port defaults to 6000: always give one.
sipp_media_port=$(free_port 48180)
xmpp_port=$(free_port 48190)
rpc_port=$(free_port 48191)
http_port=$(free_port 48192)
# One leg per call on the server; ports are kept a while after a call ends.
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 8 * (up + rate) + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rayo-load
make_work_dir
write_bench_config myrayo "{ match: { type: rayo } }" "rayo:
  domain: rayo.bench
  listen: 127.0.0.1:$xmpp_port
  users: [ { username: usera, password: '1' } ]
  allow_plain_without_tls: true
  offer_policy: $offer_policy
sip:
  max_transactions: $max_transactions"

start_server
# Idle: once the XMPP listener accepts, before any client logs in.
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$xmpp_port") 2>/dev/null && break
  sleep 0.1
done
kill -0 "$server"
rss_idle=$(rss_kb)

# start_agent (bench/lib.sh) runs `agent_cmd` and waits for its
# "connection(s) to" line; rayo-load stops by itself once every call ended.
agent_cmd=(target/release/rayo-load --addr "127.0.0.1:$xmpp_port" --domain rayo.bench
  --user usera --password 1 --mechanism "$mechanism" --connections "$connections"
  --mode "$mode" --hold-ms "$hold_ms" --calls "$calls" --latency-from-calls "$latency_from"
  --duration $((seconds + hold_ms / 1000 + 120)) --quiet)
start_agent
sleep 1
rss_connected=$(rss_kb)

sipp_cmd=(sipp "127.0.0.1:$sip_port" "${sipp_scenario[@]}" -s 100 -i 127.0.0.1 -p "$sipp_port"
  -mp "$sipp_media_port" -t u1 -r "$rate" -m "$calls" -l $((up + rate * 10))
  -recv_timeout $((hold_ms + 10000)) -buff_size 4194304 -nostdin
  -timeout $((seconds + hold_ms / 1000 + 120))s -trace_stat -stf "$work/stat.csv" -fd 1)
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, XMPP 127.0.0.1:$xmpp_port, offer_policy $offer_policy, sip.max_transactions $max_transactions)"
echo "rayo:   taskset -c 1 ${agent_cmd[*]}"
echo "sipp:   taskset -c 1 ${sipp_cmd[*]}"
# The server's highest RSS while SIPp runs, sampled every 0.5 s.
echo "$rss_connected" > "$work/rss.peak"
(
  while [ ! -e "$work/sipp.done" ] && kill -0 "$server" 2>/dev/null; do
    r=$(rss_kb)
    [ "$r" -gt "$(cat "$work/rss.peak")" ] && echo "$r" > "$work/rss.peak"
    sleep 0.5
  done
) &
sampler=$!
# With a hold of 2 s or more, one reading just before the first call ends:
# controlled calls only, no ended call's leftovers (SIP transactions).
if [ "$hold_ms" -ge 2000 ]; then
  (sleep "$(awk -v h="$hold_ms" 'BEGIN { print (h - 500) / 1000 }')" && rss_kb > "$work/rss.held") &
fi
t0=$(date +%s.%N)
c0=$(ticks "$server")
(cd "$work" && taskset -c 1 "${sipp_cmd[@]}" > "$work/sipp.out" 2>&1) || true
t1=$(date +%s.%N)
c1=$(ticks "$server")
rss_end=$(rss_kb)
touch "$work/sipp.done"
wait "$sampler" || true
rss_peak=$(cat "$work/rss.peak")
# rayo-load exits once its --calls have ended; a call that never ends
# (a failure) would keep it: stop it after 15 s.
for _ in $(seq 150); do
  kill -0 "$agent" 2>/dev/null || break
  sleep 0.1
done
kill -TERM "$agent" 2>/dev/null || true
agent_status=0
wait "$agent" || agent_status=$?
agent=

report_sipp "$calls" "$rate"

echo "--- rayo-load (core 1)"
cat "$work/agent.out"
grep -v '^rayo-load: [0-9]* connection' "$work/agent.err" | head -n 20 || true

echo "--- server (pid $server, core 0)"
require_server
# rayo-load has usually exited by now: its own CPU is tool_cpu_pct above.
report_setup_cpu "$t0" "$t1" "$c0" "$c1" 0 0 "$sipp_created" ""
awk -v idle="$rss_idle" -v conn="$rss_connected" -v peak="$rss_peak" -v n="$connections" -v up="$up" \
  'BEGIN { printf "RSS: idle %d kB; %d client(s) connected %d kB (%.1f kB per client); peak of the run %d kB (%.1f kB per call up, %d up at RATE × hold; includes ended calls'"'"' SIP transactions)\n", idle, n, conn, (conn - idle) / n, peak, up ? (peak - conn) / up : 0, up }'
if [ -s "$work/rss.held" ]; then
  held=$((rate * (hold_ms - 500) / 1000))
  awk -v conn="$rss_connected" -v r="$(cat "$work/rss.held")" -v n="$held" -v ms="$((hold_ms - 500))" \
    'BEGIN { printf "RSS: %d kB %.1f s into the run, about %d calls up and none ended yet: %.1f kB per controlled call\n", r, ms / 1000, n, n ? (r - conn) / n : 0 }'
fi
sleep "$settle"
echo "RSS: when SIPp ended $rss_end kB, ${settle} s later $(rss_kb) kB"
report_server_log
[ "$sipp_failed" -eq 0 ] && [ "$sipp_successful" -eq "$calls" ] || exit 1
exit "$agent_status"
