#!/usr/bin/env python3
"""One round of a TCP connection storm against a SIP server on 127.0.0.1.

Opens COUNT connections, PER_IP from each source address 127.0.0.FIRST,
127.0.0.FIRST+1, ... (all of 127/8 is loopback on Linux), optionally sends
one OPTIONS on each and reads its answer, then holds them idle. Prints

    OPEN requested=N connected=N refused=N answered=N
    HELD open=N closed=N          (the moment to sample the server)
    AFTER open=N closed=N         (after --hold seconds)
    CLOSED

and exits once every socket is closed. "refused" counts connections the
server closed at accept (EOF or reset before or right after OPTIONS);
"closed" counts those found closed by the server while held. Every wait is
bounded by --deadline.
"""

import argparse
import errno
import selectors
import socket
import sys
import time

OPTIONS = (
    "OPTIONS sip:storm@127.0.0.1 SIP/2.0\r\n"
    "Via: SIP/2.0/TCP {src}:{sport};branch=z9hG4bK-storm-{n}\r\n"
    "Max-Forwards: 70\r\n"
    "From: <sip:storm@{src}>;tag=s{n}\r\n"
    "To: <sip:storm@127.0.0.1>\r\n"
    "Call-ID: storm-{round}-{n}\r\n"
    "CSeq: 1 OPTIONS\r\n"
    "Content-Length: 0\r\n\r\n"
)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--count", type=int, default=20000)
    p.add_argument("--per-ip", type=int, default=200)
    p.add_argument("--first-ip", type=int, default=2)
    p.add_argument("--options", action="store_true", help="send one OPTIONS on each")
    p.add_argument("--hold", type=float, default=10.0)
    p.add_argument("--round", type=int, default=1)
    p.add_argument("--deadline", type=float, default=120.0, help="bound on each phase, s")
    p.add_argument("--in-flight", type=int, default=256, help="connects pending at once")
    a = p.parse_args()
    requested = a.count

    if a.first_ip + (a.count - 1) // a.per_ip > 254:
        sys.exit("too many source addresses: lower --count or raise --per-ip")

    sel = selectors.DefaultSelector()
    socks = []  # (socket, state): state 'connecting' | 'open' | 'refused'
    state = {}
    refused = 0
    pending = 0
    n = 0
    end = time.monotonic() + a.deadline

    # Connect, keeping at most --in-flight handshakes pending (the listen
    # backlog is finite; a client that floods it measures SYN retries).
    while (n < a.count or pending) and time.monotonic() < end:
        while n < a.count and pending < a.in_flight:
            src = "127.0.0.%d" % (a.first_ip + n // a.per_ip)
            try:
                s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            except OSError as e:
                # The client's own descriptor limit: report what it reached.
                print("client out of descriptors after %d sockets: %s" % (n, e), file=sys.stderr)
                a.count = n
                break
            s.setblocking(False)
            s.bind((src, 0))
            rc = s.connect_ex(("127.0.0.1", a.port))
            n += 1
            if rc not in (0, errno.EINPROGRESS):
                refused += 1
                s.close()
                continue
            sel.register(s, selectors.EVENT_WRITE)
            state[s] = "connecting"
            pending += 1
        for key, _ in sel.select(timeout=0.5):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            if s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR) == 0:
                state[s] = "open"
                socks.append(s)
            else:
                refused += 1
                del state[s]
                s.close()
    connected = len(socks)

    answered = 0
    if a.options:
        buf = {}
        for i, s in enumerate(socks):
            src, sport = s.getsockname()
            try:
                s.send(OPTIONS.format(src=src, sport=sport, n=i, round=a.round).encode())
                sel.register(s, selectors.EVENT_READ)
                buf[s] = b""
            except OSError:
                state[s] = "refused"
        end = time.monotonic() + a.deadline
        while buf and time.monotonic() < end:
            for key, _ in sel.select(timeout=0.5):
                s = key.fileobj
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    state[s] = "refused"
                    sel.unregister(s)
                    del buf[s]
                    continue
                buf[s] += data
                if b"\r\n\r\n" in buf[s]:
                    answered += 1
                    sel.unregister(s)
                    del buf[s]
        for s in list(buf):
            sel.unregister(s)
    else:
        # Give the server a moment to close what it refuses.
        time.sleep(1.0)
    refused += sum(1 for s in socks if state[s] == "refused")
    refused += count_closed(socks, state)
    print(
        "OPEN requested=%d connected=%d refused=%d answered=%d"
        % (requested, connected, refused, answered),
        flush=True,
    )

    closed = count_closed(socks, state)
    live = sum(1 for s in socks if state[s] == "open")
    print("HELD open=%d closed=%d" % (live, closed), flush=True)
    time.sleep(a.hold)
    closed += count_closed(socks, state)
    live = sum(1 for s in socks if state[s] == "open")
    print("AFTER open=%d closed=%d" % (live, closed), flush=True)
    for s in socks:
        s.close()
    print("CLOSED", flush=True)


def count_closed(socks, state):
    """Marks and counts the open sockets the server has closed (EOF or reset)."""
    closed = 0
    for s in socks:
        if state[s] != "open":
            continue
        try:
            data = s.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)
            gone = data == b""
        except BlockingIOError:
            gone = False
        except OSError:
            gone = True
        if gone:
            state[s] = "closed"
            closed += 1
    return closed


if __name__ == "__main__":
    main()
