#!/usr/bin/env bash
# What a Prometheus scrape of /metrics costs with CALLS agent-answered calls
# up, each playing a prompt (the agent-play-load setup: rtp-load places the
# calls, agent-load answers them over Agent RPC and plays a 1 kHz prompt).
# Once every call is up, SCRAPES scrapes one second apart: each one's size and
# round trip (curl's time_total, over 127.0.0.1), and the handler's own
# time as the server logs it ("metrics scraped ... micros=").
# The server is pinned to core 0, rtp-load, agent-load and curl to core 1.
# Usage: bench/metrics-scrape.sh CALLS [SCRAPES]
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/lib.sh
source bench/lib.sh
calls=${1:?usage: bench/metrics-scrape.sh CALLS [SCRAPES]}
scrapes=${2:-20}
warmup=${BENCH_WARMUP:-10}
duration=$((warmup + scrapes + 10))
prompt_hz=1000

sip_port=$(free_port 47060)
rpc_port=$(free_port 47090)
http_port=$(free_port 47091)
rtp_ports=10000-$((10000 + 4 * calls + 2000))

cargo build --release -q -p switchboard --bin switchboard
cargo build --release -q -p testkit --bin rtp-load --bin agent-load
make_work_dir
target/release/agent-load --write-tone "$work/tone.wav" --tone-hz "$prompt_hz" --tone-secs 10
write_bench_config myagent "{ match: { type: agent } }" "" "  playback_dir: $work"
# The handler's debug line gives its own time per scrape.
BENCH_RUST_LOG=warn,switchboard::http::metrics=debug start_server
agent_cmd=(target/release/agent-load --url "ws://127.0.0.1:$rpc_port/?endpoint=myagent"
  --mode play --prompt file://tone.wav --quiet)
start_agent

url="http://127.0.0.1:$http_port/metrics"
# Scrapes once a second from the start of rtp-load's measurement window
# (the file `measuring` appears then).
scrape_loop() {
  while [ ! -e "$work/measuring" ]; do
    kill -0 "$server" 2>/dev/null || return 0
    sleep 0.2
  done
  for _ in $(seq "$scrapes"); do
    taskset -c 1 curl -s -o "$work/last.txt" -w '%{size_download} %{time_total}\n' "$url" \
      >> "$work/scrapes.txt"
    sleep 1
  done
}
cmd=(target/release/rtp-load --callers-only --expect-tone "$prompt_hz" --calls "$calls"
  --duration "$duration" --warmup "$warmup" --server "127.0.0.1:$sip_port")
echo "server: taskset -c 0 target/release/switchboard (HTTP 127.0.0.1:$http_port)"
echo "load:   taskset -c 1 ${cmd[*]}"
echo "scrape: taskset -c 1 curl -s -w '%{size_download} %{time_total}' $url (x$scrapes, 1/s)"
scrape_loop &
scraper=$!
# run_measured samples at MEASURE start: that opens the scrapes.
sample() { touch "$work/measuring"; }
run_measured
touch "$work/measuring"
wait "$scraper" || true
echo "--- scrapes with $calls calls up"
if [ ! -s "$work/scrapes.txt" ]; then
  echo "no scrape (rtp-load did not reach its measurement window)"
  exit 1
fi
grep -E '^switchboard_(calls_active|rtp_sessions|agent_connections) ' "$work/last.txt" || true
sort -n -k2 "$work/scrapes.txt" | awk '{ t[NR] = $2 * 1000; b = $1 } END {
  printf "bytes %d; round trip (ms): min %.2f, median %.2f, max %.2f over %d scrapes\n",
    b, t[1], t[int((NR + 1) / 2)], t[NR], NR }'
grep 'metrics scraped' "$work/server.log" | sed -E 's/.*micros=([0-9]+).*/\1/' | sort -n |
  awk 'NR > 0 { m[NR] = $1 } END { if (NR) printf "handler (µs, server log): min %d, median %d, max %d over %d scrapes\n", m[1], m[int((NR + 1) / 2)], m[NR], NR }'
exit "$load_status"
