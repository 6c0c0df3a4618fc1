#!/usr/bin/env bash
# Duplex recordings with Rayo: two runs of CALLS calls placed by rtp-load
# (callers only, sending a 700 Hz tone) against one server, offered to
# rayo-load over XMPP. Both runs loop a 1 kHz WAV to every caller; the
# second also starts a duplex <record> on every call (max-duration past
# the call, so each completes `hangup` when the caller hangs up, with its
# <recording uri duration size>). The server's CPU over rtp-load's
# measurement window, and its write syscalls and bytes (/proc/PID/io
# syscw, wchar, write_bytes) over the same window, are compared: what
# recording adds, writes per second and bytes per write. At the end
# rayo-load fetches BENCH_FETCH recordings over HTTP by their signed URIs
# and checks each is a RIFF/WAVE of the announced size; the script checks
# the files in the recordings directory. Server on core 0, rtp-load and
# rayo-load on core 1.
# Usage: bench/rayo-record-load.sh [CALLS] [DURATION_SEC]   (default 200, 70)
# Environment: BENCH_WARMUP (s, default 10), BENCH_FETCH (default 20),
#   BENCH_RECORDINGS_DIR (default a directory in the work dir; on tmpfs no
#   write reaches a disk and write_bytes stays 0 — the type is printed),
#   BENCH_KEEP, BENCH_SIP_PORT, BENCH_RTP_PORTS.
# Prints both runs' summaries, then one FIGURE line: server CPU without and
# with recording and the difference (% of one core), write syscalls per
# second and bytes per write added, recordings complete (announced and
# found on disk), fetched and checked.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
calls=${1:-200}
duration=${2:-70}
warmup=${BENCH_WARMUP:-10}
fetch=${BENCH_FETCH:-20}
max_duration_ms=$(((duration + 30) * 1000))

sip_port=${BENCH_SIP_PORT:-$(free_port 49360)}
xmpp_port=$(free_port 49370)
rpc_port=$(free_port 49371)
http_port=$(free_port 49372)
rtp_ports=${BENCH_RTP_PORTS:-10000-$((10000 + 8 * calls + 2000))}

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rtp-load --bin agent-load --bin rayo-load
make_work_dir
recordings=${BENCH_RECORDINGS_DIR:-$work/recordings}
mkdir -p "$recordings"
target/release/agent-load --write-tone "$work/tone.wav" --tone-hz 1000 --tone-secs 10
write_bench_config myrayo "{ match: { type: rayo } }" "rayo:
  domain: rayo.bench
  listen: 127.0.0.1:$xmpp_port
  users: [ { username: usera, password: '1' } ]
  allow_plain_without_tls: true" "  playback_dir: $work
  recordings_dir: $recordings"
start_server
wait_tcp "$xmpp_port" || { echo "the XMPP listener did not come up"; tail -n 20 "$work/server.log"; exit 1; }
echo "server: taskset -c 0 target/release/switchboard --config bench.yaml (SIP 127.0.0.1:$sip_port, XMPP 127.0.0.1:$xmpp_port, HTTP 127.0.0.1:$http_port)"
echo "recordings: $recordings ($(df -T "$recordings" | awk 'NR == 2 { print $2 }'))"
hz=$(getconf CLK_TCK)
# time, server CPU ticks, RSS kB, syscw, wchar, write_bytes
sample() { echo "$(date +%s.%N) $(ticks "$server") $(rss_kb) $(proc_io "$server")"; }

# one_run NAME ARGS…: rtp-load's calls with rayo-load in mode ARGS.
one_run() {
  local name=$1
  shift
  agent_cmd=(target/release/rayo-load --addr "127.0.0.1:$xmpp_port" --domain rayo.bench
    --user usera --password 1 --mechanism scram-sha-256 --calls "$calls"
    --duration $((duration + 120)) --quiet "$@")
  start_agent
  cmd=(target/release/rtp-load --callers-only --expect-tone 1000 --calls "$calls"
    --duration "$duration" --warmup "$warmup" --server "127.0.0.1:$sip_port")
  echo "=== $name"
  echo "rayo: taskset -c 1 ${agent_cmd[*]}"
  echo "load: taskset -c 1 ${cmd[*]}"
  rm -f "$work/start" "$work/end"
  run_measured_logged "$work/$name.load"
  [ "$load_status" -eq 0 ] || status=1
  # rayo-load ends once every call has ended (and its fetches are done).
  for _ in $(seq 600); do
    kill -0 "$agent" 2>/dev/null || break
    sleep 0.1
  done
  kill -TERM "$agent" 2>/dev/null || true
  wait "$agent" || status=1
  agent=
  cp "$work/agent.out" "$work/$name.rayo"
  echo "--- rayo-load"
  cat "$work/$name.rayo"
  grep -v '^rayo-load: [0-9]* connection' "$work/agent.err" | head -n 10 || true
  require_server
  if [ -s "$work/start" ] && [ -s "$work/end" ]; then
    paste -d ' ' "$work/start" "$work/end" > "$work/$name.window"
  else
    echo "no measurement window in $name"
    status=1
  fi
}

status=0
one_run play --mode play-loop --url file://tone.wav
one_run record --mode record --record-output --url file://tone.wav \
  --max-duration-ms "$max_duration_ms" --fetch "$fetch"

echo "--- server (pid $server, core 0)"
report_server_log
# Window figures: wall s, CPU %, syscw/s, wchar/s, write_bytes/s.
window() {
  awk -v hz="$hz" '{ w = $7 - $1; printf "%.3f %.2f %.1f %.1f %.1f\n", w, 100 * ($8 - $2) / hz / w, ($10 - $4) / w, ($11 - $5) / w, ($12 - $6) / w }' "$work/$1.window"
}
files=$(find "$recordings" -type f -name '*.wav' | wc -l)
riff_ok=0
for f in $(find "$recordings" -type f -name '*.wav' | head -n 200); do
  [ "$(head -c 4 "$f")" = RIFF ] && riff_ok=$((riff_ok + 1))
done
if [ -s "$work/play.window" ] && [ -s "$work/record.window" ]; then
  read -r w0 cpu0 sysw0 wch0 wb0 <<< "$(window play)"
  read -r w1 cpu1 sysw1 wch1 wb1 <<< "$(window record)"
  echo "play only:  window ${w0} s, server CPU ${cpu0}%, ${sysw0} write syscalls/s, ${wch0} B/s through them, ${wb0} B/s to storage"
  echo "play+record: window ${w1} s, server CPU ${cpu1}%, ${sysw1} write syscalls/s, ${wch1} B/s through them, ${wb1} B/s to storage"
  awk -v c0="$cpu0" -v c1="$cpu1" -v s0="$sysw0" -v s1="$sysw1" -v b0="$wch0" -v b1="$wch1" -v d0="$wb0" -v d1="$wb1" \
    -v n="$calls" -v files="$files" -v riff="$riff_ok" \
    -v done="$(result_field "$work/record.rayo" recordings_complete)" \
    -v bad="$(result_field "$work/record.rayo" recordings_incomplete)" \
    -v ok="$(result_field "$work/record.rayo" fetched_ok)" -v nok="$(result_field "$work/record.rayo" fetched_bad)" \
    -v completes="$(result_field "$work/record.rayo" completes_by)" \
    'BEGIN { ds = s1 - s0; db = b1 - b0;
      printf "recording %d duplex calls adds %.1f%% of one core (%.3f%% per call), %.1f write syscalls/s of %.0f bytes each (%.0f kB/s; %.0f kB/s reached storage)\n", n, c1 - c0, (c1 - c0) / n, ds, (ds > 0 ? db / ds : 0), db / 1024, (d1 - d0) / 1024;
      printf "FIGURE rayo-record-load calls=%d cpu_play_pct=%.1f cpu_record_pct=%.1f cpu_added_pct=%.1f writes_per_s_added=%.1f bytes_per_write=%.0f storage_kBps_added=%.0f recordings_complete=%s recordings_incomplete=%s files=%d riff_ok=%d fetched_ok=%s fetched_bad=%s completes_by=%s\n", n, c0, c1, c1 - c0, ds, (ds > 0 ? db / ds : 0), (d1 - d0) / 1024, done, bad, files, riff, ok, nok, completes }'
else
  echo "FIGURE rayo-record-load calls=$calls incomplete (a run had no measurement window)"
fi
exit "$status"
