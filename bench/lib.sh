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

# Starts agent-load (`agent_cmd`, pinned to core 1) and waits until it is
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
  echo "agent-load could not connect:"
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
