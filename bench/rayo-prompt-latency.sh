#!/usr/bin/env bash
# Prompt latency with Rayo: rayo-load places the calls itself (its
# built-in caller, so both ends share one clock), answers each offer and
# starts an <output> played once; the figure is the time from sending the
# output IQ to the kernel arrival of the first audible RTP packet at the
# caller. Three runs against one server: a 1 s WAV from the playback dir,
# a cached TTS render (the same text every call, rendered once before the
# run), and first renders (a different text every call: espeak-ng runs for
# each, at most tts.max_concurrent at once). Each call is hung up when its
# output completes `finish`. Server on core 0, rayo-load on core 1.
# Usage: bench/rayo-prompt-latency.sh [CALLS] [RATE]   (default 200 at 20/s)
# Environment: BENCH_TTS (text, default "Welcome to Switchboard."),
#   BENCH_TTS_FIRST_CALLS (default 50) and BENCH_TTS_FIRST_RATE (calls/s,
#   default 5) for the first-render run, BENCH_KEEP, BENCH_SIP_PORT,
#   BENCH_RTP_PORTS.
# Prints each run's rayo-load summary and RESULT line and one FIGURE line
# per run: first_audio_us p50/p99 (output IQ → first audible packet),
# ref_us (IQ → ref), completions and failures.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
calls=${1:-200}
rate=${2:-20}
text=${BENCH_TTS:-Welcome to Switchboard.}
first_calls=${BENCH_TTS_FIRST_CALLS:-50}
first_rate=${BENCH_TTS_FIRST_RATE:-5}

sip_port=${BENCH_SIP_PORT:-$(free_port 49160)}
xmpp_port=$(free_port 49170)
rpc_port=$(free_port 49171)
http_port=$(free_port 49172)
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 8 * calls + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin agent-load --bin rayo-load
make_work_dir
target/release/agent-load --write-tone "$work/tone.wav" --tone-hz 1000 --tone-secs 1
write_bench_config myrayo "{ match: { type: rayo } }" "rayo:
  domain: rayo.bench
  listen: 127.0.0.1:$xmpp_port
  users: [ { username: usera, password: '1' } ]
  allow_plain_without_tls: true" "  playback_dir: $work
  recordings_dir: $work/recordings"
start_server
wait_tcp "$xmpp_port" || { echo "the XMPP listener did not come up"; tail -n 20 "$work/server.log"; exit 1; }
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, XMPP 127.0.0.1:$xmpp_port)"

status=0
# run NAME CALLS RATE ARGS…: one rayo-load run on core 1.
run() {
  local name=$1 n=$2 r=$3
  shift 3
  local run_cmd=(target/release/rayo-load --addr "127.0.0.1:$xmpp_port" --domain rayo.bench
    --user usera --password 1 --mechanism scram-sha-256 --mode prompt-latency
    --sip "127.0.0.1:$sip_port" --calls "$n" --caller-rate "$r" --quiet
    --duration $((n / r + 60)) "$@")
  echo "--- $name: taskset -c 1 ${run_cmd[*]}"
  taskset -c 1 "${run_cmd[@]}" > "$work/$name.out" 2> "$work/$name.err" || status=1
  cat "$work/$name.out"
  grep -v '^rayo-load: [0-9]* connection' "$work/$name.err" | head -n 10 || true
  require_server
  echo "FIGURE rayo-prompt-latency run=$name calls=$n rate=$r" \
    "first_audio_us_p50=$(result_field "$work/$name.out" first_audio_us_p50)" \
    "first_audio_us_p99=$(result_field "$work/$name.out" first_audio_us_p99)" \
    "first_audio_us_max=$(result_field "$work/$name.out" first_audio_us_max)" \
    "first_audio_n=$(result_field "$work/$name.out" first_audio_us_n)" \
    "ref_us_p99=$(result_field "$work/$name.out" ref_us_p99)" \
    "completes_by=$(result_field "$work/$name.out" completes_by)" \
    "unjoined=$(result_field "$work/$name.out" unjoined) failures=$(result_field "$work/$name.out" failures)"
}

run wav "$calls" "$rate" --url file://tone.wav
# One call renders the text; every later call finds it in the cache.
run tts-warm 1 1 --tts "$text"
run tts-cached "$calls" "$rate" --tts "$text"
run tts-first "$first_calls" "$first_rate" --tts "$text" --tts-first
report_server_log
exit "$status"
