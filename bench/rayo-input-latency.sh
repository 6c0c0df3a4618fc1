#!/usr/bin/env bash
# Digits → <match> latency with Rayo inputs: rayo-load places CALLS calls
# itself (its built-in caller shares its clock), answers each offer and
# starts a DTMF <input> with a 4-digit SRGS grammar. The caller keys 1234
# as RFC 4733 telephone-events (100 ms each, three end packets, 60 ms
# apart) once every call's input is running: the keys wait for the ramp
# (CALLS / RATE s) plus 2 s, so about CALLS inputs run at once. The figure
# is the time from sending the last key's first end packet to receiving
# the <match> (whose NLSML instance must be 1234); the call is then hung
# up. Server on core 0, rayo-load on core 1.
# Usage: bench/rayo-input-latency.sh [CALLS] [RATE]   (default 500 at 50/s)
# Environment: BENCH_KEEP, BENCH_SIP_PORT, BENCH_RTP_PORTS.
# Prints rayo-load's summary and RESULT line, the server's CPU over the
# run, and one FIGURE line: match_us p50/p99/max, most calls up at once,
# completions, wrong instances, failures.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
calls=${1:-500}
rate=${2:-50}
key_delay_ms=$(((calls + rate - 1) / rate * 1000 + 2000))

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
  allow_plain_without_tls: true" "  playback_dir: $work
  recordings_dir: $work/recordings"
start_server
wait_tcp "$xmpp_port" || { echo "the XMPP listener did not come up"; tail -n 20 "$work/server.log"; exit 1; }
run_cmd=(target/release/rayo-load --addr "127.0.0.1:$xmpp_port" --domain rayo.bench
  --user usera --password 1 --mechanism scram-sha-256 --mode input-latency --digits 1234
  --sip "127.0.0.1:$sip_port" --calls "$calls" --caller-rate "$rate"
  --key-delay-ms "$key_delay_ms" --max-call-ms $((key_delay_ms + 20000))
  --duration $((key_delay_ms / 1000 + 60)) --quiet)
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, XMPP 127.0.0.1:$xmpp_port)"
echo "load:   taskset -c 1 ${run_cmd[*]}"
hz=$(getconf CLK_TCK)
t0=$(date +%s.%N)
c0=$(ticks "$server")
status=0
taskset -c 1 "${run_cmd[@]}" > "$work/load.out" 2> "$work/load.err" || status=$?
t1=$(date +%s.%N)
c1=$(ticks "$server")
echo "--- rayo-load (core 1)"
cat "$work/load.out"
grep -v '^rayo-load: [0-9]* connection' "$work/load.err" | head -n 10 || true
echo "--- server (pid $server, core 0)"
require_server
awk -v t0="$t0" -v t1="$t1" -v c0="$c0" -v c1="$c1" -v hz="$hz" \
  'BEGIN { w = t1 - t0; printf "run %.1f s: server CPU %.2f s = %.1f%% of one core (ramp, inputs waiting, keys, hangups)\n", w, (c1 - c0) / hz, 100 * (c1 - c0) / hz / w }'
report_server_log
f() { result_field "$work/load.out" "$1"; }
echo "FIGURE rayo-input-latency calls=$calls rate=$rate key_delay_ms=$key_delay_ms up_max=$(f up_max)" \
  "match_us_p50=$(f match_us_p50) match_us_p99=$(f match_us_p99) match_us_max=$(f match_us_max) match_n=$(f match_us_n)" \
  "completes_by=$(f completes_by) wrong_instances=$(f wrong_instances) unjoined=$(f unjoined) failures=$(f failures)"
exit "$status"
