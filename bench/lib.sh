# Shared by the bench scripts (sourced): ports, process and system counters.
# The caller sets `server` (and `agent`, `agent_cmd` for start_agent) once it
# has started them; `make_work_dir` sets `work`.

server=
agent=

# A free port on 127.0.0.1 (UDP and TCP), from the kernel; without python3,
# the fallback given (override with the BENCH_* variables).
free_port() {
  if ! command -v python3 >/dev/null; then
    echo "$1"
    return
  fi
  python3 -c 'import socket
while True:
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); u.bind(("127.0.0.1", 0)); p = u.getsockname()[1]
    t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        t.bind(("127.0.0.1", p)); print(p); break
    except OSError:
        pass'
}

# CPU ticks (utime + stime) of a process; 0 once it is gone.
ticks() { awk '{print $14+$15}' "/proc/$1/stat" 2>/dev/null || echo 0; }

# The server's resident memory, kB.
rss_kb() { awk '/^VmRSS:/ {print $2}' "/proc/$server/status"; }

# The system's UDP receive-buffer drops so far (/proc/net/snmp).
rcvbuf_errors() {
  awk '/^Udp:/ { if (!n) { for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; n = 1 } else print $c }' /proc/net/snmp
}

# Starts the load client `agent_cmd` (agent-load, rayo-load; pinned to core 1) and waits until it is
# connected, restarting it while the server's listener is not up yet.
start_agent() {
  for _ in $(seq 50); do
    if [ -z "$agent" ]; then
      taskset -c 1 "${agent_cmd[@]}" > "$work/agent.out" 2> "$work/agent.err" &
      agent=$!
    fi
    sleep 0.2
    grep -q 'connection(s) to' "$work/agent.err" && return 0
    if ! kill -0 "$agent" 2>/dev/null; then
      wait "$agent" 2>/dev/null || true
      agent=
    fi
  done
  echo "$(basename "${agent_cmd[0]}") could not connect:"
  cat "$work/agent.err"
  return 1
}

# A fresh work directory in `work` (kept with BENCH_KEEP=1), removed with
# the server and agent-load when the script exits.
make_work_dir() {
  work=$(mktemp -d)
  if [ -n "${BENCH_KEEP:-}" ]; then
    echo "work dir: $work"
  fi
  trap cleanup EXIT
  trap 'exit 130' INT TERM HUP
}

cleanup() {
  for pid in $agent $server; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  if [ -z "${BENCH_KEEP:-}" ]; then
    rm -rf "$work"
  fi
}

# Runs the load command `cmd` on core 1, passing its output through and
# taking a `sample` (the script's own) of the server when the tool prints
# MEASURE start / MEASURE end; sets `load_status` to the tool's exit status.
run_measured() {
  set +e
  taskset -c 1 "${cmd[@]}" | while IFS= read -r line; do
    case "$line" in
      "MEASURE start") sample > "$work/start" ;;
      "MEASURE end") sample > "$work/end" ;;
    esac
    printf '%s\n' "$line"
  done
  load_status=${PIPESTATUS[0]}
  set -e
}

# Prints SIPp's counts from its -trace_stat CSV ($work/stat.csv) and
# $work/sipp.out for `calls` asked at `rate` per second, and sets
# sipp_created, sipp_successful, sipp_failed, sipp_retransmissions,
# sipp_rate_median and sipp_rate_overall; fails when SIPp wrote no statistics.
report_sipp() {
  local calls=$1 rate=$2 sipp_summary
  echo "--- SIPp"
  if [ ! -s "$work/stat.csv" ]; then
    echo "no statistics from SIPp:"
    tail -n 20 "$work/sipp.out"
    return 1
  fi
  # Columns of SIPp's -trace_stat CSV: 3 CurrentTime ("date<TAB>time<TAB>epoch"),
  # 11 OutgoingCall(P), 13 TotalCallCreated, 16 SuccessfulCall(C),
  # 18 FailedCall(C), 58 Retransmissions(C). The achieved rate is the median
  # of the per-second creation rates while calls were being created (the first
  # and the last second left out), and calls created / the time it took.
  sipp_summary=$(awk -F';' -v want="$calls" '
    NR == 1 { next }
    { split($3, now, "\t"); t = now[3] + 0 }
    NR == 2 { start = t }
    $11 > 0 && last_t != "" { rates[++n] = $11 / (t - last_t) }
    $13 >= want && done == "" { done = t }
    { last_t = t; created = $13; ok = $16; failed = $18; retrans = $58 }
    END {
      m = 0
      for (i = 2; i < n; i++) kept[++m] = rates[i]
      for (i = 1; i <= m; i++) for (j = i + 1; j <= m; j++) if (kept[j] < kept[i]) { x = kept[i]; kept[i] = kept[j]; kept[j] = x }
      median = m ? kept[int((m + 1) / 2)] : 0
      overall = (done != "" && done > start) ? created / (done - start) : 0
      printf "created=%d successful=%d failed=%d retransmissions=%d rate_median=%.0f rate_overall=%.0f\n", created, ok, failed, retrans, median, overall
    }' "$work/stat.csv")
  echo "SIPP $sipp_summary"
  eval "$(echo "$sipp_summary" | tr ' ' '\n' | sed 's/^/sipp_/')"
  echo "calls asked $calls at $rate/s: created $sipp_created, successful $sipp_successful, failed $sipp_failed, SIP retransmissions $sipp_retransmissions"
  echo "achieved rate: median $sipp_rate_median calls/s per second of creation, $sipp_rate_overall calls/s overall (1 s resolution)"
  grep -E "Failed call|Unexpected|Timeout" "$work/sipp.out" | tail -n 5 || true
  if [ -s "$work/sipp.out" ] && grep -q -i "error" "$work/sipp.out"; then
    grep -i "error" "$work/sipp.out" | sort | uniq -c | sort -rn | head -n 5
  fi
}

# Prints the server's CPU over SIPp's run (wall t0 → t1, server ticks c0 →
# c1) as % of one core and µs per call for `n` calls, and the load tool's
# (ticks a0 → a1, named `tool`; left out when `tool` is empty: a process
# that has exited reads 0) as % of one core.
report_setup_cpu() {
  awk -v t0="$1" -v t1="$2" -v c0="$3" -v c1="$4" -v a0="$5" -v a1="$6" -v n="$7" -v tool="$8" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { wall = t1 - t0; cpu = (c1 - c0) / hz;
             printf "SIPp run %.1f s: server CPU %.2f s = %.1f%% of one core, %.1f µs per call", wall, cpu, 100 * cpu / wall, n ? 1e6 * cpu / n : 0;
             if (tool != "") printf "; %s %.1f%% of one core", tool, 100 * (a1 - a0) / hz / wall;
             printf "\n" }'
}

# Writes $work/bench.yaml and checks it: UDP on $sip_port, 127.0.0.0/8 as
# endpoint `local`, endpoint `$1` (YAML value `$2`) as the route for every
# number, media.rtp_ports $rtp_ports, Agent RPC on $rpc_port, HTTP on
# $http_port, then `$3` (more top-level YAML sections, may be empty); `$4`
# (optional) adds keys to `media`, each line indented two spaces.
write_bench_config() {
  cat > "$work/bench.yaml" <<YAML
transports:
  udp: { transport: udp, bind: 127.0.0.1, port: $sip_port }
endpoints:
  local: { match: { type: ip, values: ["127.0.0.0/8"] } }
  $1: $2
routes:
  default: [ { id: "", match: any, endpoint: $1 } ]
media:
  rtp_ports: $rtp_ports
${4:-}
agent_rpc:
  listen: 127.0.0.1:$rpc_port
http:
  listen: 127.0.0.1:$http_port
${3:-}
YAML
  target/release/switchboard check-config "$work/bench.yaml"
}

# Starts the release server on $work/bench.yaml under `taskset -c 0`, its
# log in $work/server.log (RUST_LOG is $BENCH_RUST_LOG, default warn: its
# warnings and errors); sets `server`.
start_server() {
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  RUST_LOG=${BENCH_RUST_LOG:-warn} taskset -c 0 target/release/switchboard --config "$work/bench.yaml" \
    > "$work/server.log" 2>&1 &
  server=$!
}

# Exits 1, with the end of its log, when the server is no longer running.
require_server() {
  if ! kill -0 "$server" 2>/dev/null; then
    echo "the server is gone (crashed?)"
    tail -n 20 "$work/server.log"
    server=
    exit 1
  fi
}

# How many warnings and errors the server logged, and the first ten.
report_server_log() {
  local logged
  logged=$(grep -c -E 'WARN|ERROR' "$work/server.log" || true)
  echo "server log: $logged warning/error lines"
  grep -E 'WARN|ERROR' "$work/server.log" | head -n 10 || true
}

# Like run_measured, and also keeps every line the tool printed in `$1`.
run_measured_logged() {
  local log=$1
  : > "$log"
  set +e
  taskset -c 1 "${cmd[@]}" | while IFS= read -r line; do
    case "$line" in
      "MEASURE start") sample > "$work/start" ;;
      "MEASURE end") sample > "$work/end" ;;
    esac
    printf '%s\n' "$line" >> "$log"
    printf '%s\n' "$line"
  done
  load_status=${PIPESTATUS[0]}
  set -e
}

# The value of `key` in the last `RESULT key=value …` line of file `$1`
# (`-` when absent).
result_field() {
  awk -v key="$2" '/^RESULT / { line = $0 } END {
    n = split(line, kv, " "); v = "-"
    for (i = 2; i <= n; i++) { split(kv[i], p, "="); if (p[1] == key) v = substr(kv[i], length(key) + 2) }
    print v }' "$1"
}

# A process's write syscalls and the bytes they wrote: `syscw wchar
# write_bytes` from /proc/PID/io (0 0 0 once it is gone).
proc_io() {
  awk '/^syscw:/ { w = $2 } /^wchar:/ { c = $2 } /^write_bytes:/ { b = $2 } END { printf "%d %d %d\n", w, c, b }' \
    "/proc/$1/io" 2>/dev/null || echo "0 0 0"
}

# Waits up to 10 s for a TCP listener on 127.0.0.1:$1.
wait_tcp() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  return 1
}
