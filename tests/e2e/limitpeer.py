#!/usr/bin/env python3
"""Client side of test_limits.sh: connections that must be refused, evicted or kept.
Standard library only; every wait is bounded.

  limitpeer.py probe --connect ADDR:PORT [--wait S]
      One connection; prints {"result": R, "seconds": T} where R is "refused" (connect failed),
      "reset" (ECONNRESET after the handshake), "eof" (closed after the handshake), or "alive"
      (still open after --wait seconds: nothing came back).

  limitpeer.py evict --connect ADDR:PORT --ready FILE --go FILE [--wait S]
      Opens the "oldest" connection, writes FILE --ready, waits (at most 60 s) for --go to
      exist, then opens a new connection and watches both for --wait seconds. Prints
      {"oldest": R, "newest": R} with R as for probe.
"""

import argparse
import errno
import json
import os
import select
import socket
import sys
import time


def connect(dst):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(5)
    try:
        s.connect(dst)
    except OSError as e:
        s.close()
        if e.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
            return None, "refused" if e.errno == errno.ECONNREFUSED else "reset"
        return None, errno.errorcode.get(e.errno, str(e))
    s.setblocking(False)
    return s, None


def state(s, deadline):
    """What becomes of an established connection until deadline: reset, eof or alive."""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return "alive"
        r, _, _ = select.select([s], [], [], left)
        if not r:
            return "alive"
        try:
            data = s.recv(4096)
        except ConnectionResetError:
            return "reset"
        except OSError as e:
            return errno.errorcode.get(e.errno, str(e))
        if not data:
            return "eof"


def parse_dst(text):
    host, port = text.rsplit(":", 1)
    return host, int(port)


def probe(args):
    t0 = time.monotonic()
    s, err = connect(parse_dst(args.connect))
    result = err if s is None else state(s, time.monotonic() + args.wait)
    if s is not None:
        s.close()
    print(json.dumps({"result": result, "seconds": round(time.monotonic() - t0, 3)}))
    return 0


def evict(args):
    dst = parse_dst(args.connect)
    oldest, err = connect(dst)
    if oldest is None:
        print(json.dumps({"oldest": err, "newest": "not tried"}))
        return 1
    with open(args.ready, "w") as f:
        f.write("ready\n")
    end = time.monotonic() + 60
    while not os.path.exists(args.go) and time.monotonic() < end:
        time.sleep(0.05)
    newest, err = connect(dst)
    deadline = time.monotonic() + args.wait
    old_state = state(oldest, deadline)
    new_state = err if newest is None else state(newest, deadline)
    print(json.dumps({"oldest": old_state, "newest": new_state}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    pp = sub.add_parser("probe")
    pp.add_argument("--connect", required=True)
    pp.add_argument("--wait", type=float, default=3)
    pe = sub.add_parser("evict")
    pe.add_argument("--connect", required=True)
    pe.add_argument("--ready", required=True)
    pe.add_argument("--go", required=True)
    pe.add_argument("--wait", type=float, default=3)
    args = p.parse_args()
    return probe(args) if args.mode == "probe" else evict(args)


if __name__ == "__main__":
    sys.exit(main())
