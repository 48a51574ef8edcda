#!/usr/bin/env python3
"""Open and hold many idle TCP connections, for tungate's memory and "bulk flow among idle
connections" benchmarks. Standard library only; every mode is bounded in time.

  hold_conns.py serve --bind ADDR --port P [--duration S] [--status FILE]
      Accept every connection and hold it open (data read is discarded; closed on EOF).
      Writes {"accepted": N, "open": N, "t": ...} to FILE (atomically) whenever the count
      changes, at most every 0.1 s. Stops after --duration seconds or on SIGTERM/SIGINT.

  hold_conns.py hold --connect ADDR:PORT --count N [--parallel K] [--retries R] [--timeout S]
                     [--hold S] [--ready FILE]
      Open N connections, at most K handshakes in flight at once; a failed attempt is replaced
      by a new one (at most R*N extra attempts), and what is not established after --timeout
      seconds is given up. Then writes {"established": ..., "failed": ..., "errors": {...},
      "seconds": ...} to FILE and holds the connections (counting "dropped_later" when the peer
      closes or resets one) until --hold seconds have passed or SIGTERM/SIGINT arrives; then
      closes them all and exits 0 (1 if none was established).

Both raise RLIMIT_NOFILE to the hard limit; the caller raises the hard limit (ulimit -n).
"""

import argparse
import errno
import json
import os
import resource
import selectors
import signal
import socket
import sys
import time

stop = False


def on_signal(signum, frame):
    global stop
    stop = True


def raise_nofile(want):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = hard if hard != resource.RLIM_INFINITY else max(want, soft)
    if soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def write_json(path, obj):
    if not path:
        return
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(obj, f)
        f.write("\n")
    os.replace(tmp, path)


def serve(args):
    raise_nofile(1 << 20)
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind((args.bind, args.port))
    ls.listen(65535)
    ls.setblocking(False)
    sel = selectors.EpollSelector()
    sel.register(ls, selectors.EVENT_READ, None)
    accepted = 0
    conns = 0
    end = time.monotonic() + args.duration
    last_write = 0.0
    dirty = True
    while not stop and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            if key.data is None:
                for _ in range(256):
                    try:
                        c, _ = ls.accept()
                    except (BlockingIOError, InterruptedError):
                        break
                    except OSError as e:
                        if e.errno in (errno.EMFILE, errno.ENFILE):
                            print(f"hold_conns serve: {e}", file=sys.stderr)
                            break
                        raise
                    c.setblocking(False)
                    sel.register(c, selectors.EVENT_READ, 1)
                    accepted += 1
                    conns += 1
                    dirty = True
            else:
                s = key.fileobj
                try:
                    data = s.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                if not data:
                    sel.unregister(s)
                    s.close()
                    conns -= 1
                    dirty = True
        now = time.monotonic()
        if dirty and now - last_write >= 0.1:
            write_json(args.status, {"accepted": accepted, "open": conns, "t": time.time()})
            last_write = now
            dirty = False
    write_json(args.status, {"accepted": accepted, "open": conns, "t": time.time(), "stopped": True})
    return 0


def drained(s):
    """Read what a held connection received; False once it is closed or reset."""
    try:
        return bool(s.recv(4096))
    except (BlockingIOError, InterruptedError):
        return True
    except OSError:
        return False


def hold(args):
    limit = raise_nofile(args.count + 1024)
    if limit < args.count + 64:
        print(f"hold_conns hold: RLIMIT_NOFILE {limit} is too low for {args.count}", file=sys.stderr)
        return 1
    host, port = args.connect.rsplit(":", 1)
    dst = (host, int(port))
    sel = selectors.EpollSelector()
    established = set()
    failed = 0
    errors = {}
    pending = 0
    attempts = 0
    max_attempts = args.count * (1 + args.retries)

    def count_error(name):
        nonlocal failed
        failed += 1
        errors[name] = errors.get(name, 0) + 1

    t0 = time.monotonic()
    deadline = t0 + args.timeout
    # A connection that fails is replaced by a new attempt (up to --retries times the count),
    # so that N connections are open when the gateway resets some under the burst; every
    # failure is counted and reported.
    while not stop and len(established) < args.count and time.monotonic() < deadline:
        while (len(established) + pending < args.count and pending < args.parallel
               and attempts < max_attempts):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            attempts += 1
            rc = s.connect_ex(dst)
            if rc in (0, errno.EINPROGRESS):
                sel.register(s, selectors.EVENT_WRITE, "connecting")
                pending += 1
            else:
                count_error(errno.errorcode.get(rc, str(rc)))
                s.close()
        if not pending:
            break
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            if key.data == "open":  # an established one closed or reset by the other side
                if not drained(s):
                    sel.unregister(s)
                    established.discard(s)
                    s.close()
                    count_error("reset_after_established")
                continue
            sel.unregister(s)
            pending -= 1
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc == 0:
                established.add(s)
                sel.register(s, selectors.EVENT_READ, "open")
            else:
                count_error(errno.errorcode.get(rc, str(rc)))
                s.close()
    # whatever is still in flight at the deadline counts as failed
    for key in list(sel.get_map().values()):
        if key.data == "connecting":
            sel.unregister(key.fileobj)
            key.fileobj.close()
            count_error("timeout")
    elapsed = time.monotonic() - t0
    report = {"requested": args.count, "established": len(established), "attempts": attempts,
              "parallel": args.parallel,
              "failed": failed, "errors": errors, "seconds": round(elapsed, 3), "dropped_later": 0}
    write_json(args.ready, report)
    # Hold. A connection that the other side closes or resets while held is counted as dropped.
    end = time.monotonic() + args.hold
    dropped = 0
    while not stop and time.monotonic() < end:
        for key, _ in sel.select(timeout=0.1):
            s = key.fileobj
            if not drained(s):
                sel.unregister(s)
                established.discard(s)
                s.close()
                dropped += 1
        if dropped != report["dropped_later"]:
            report["dropped_later"] = dropped
            write_json(args.ready, report)
    for s in established:
        s.close()
    return 0 if report["established"] else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    ps = sub.add_parser("serve")
    ps.add_argument("--bind", required=True)
    ps.add_argument("--port", type=int, required=True)
    ps.add_argument("--duration", type=float, default=600)
    ps.add_argument("--status")
    ph = sub.add_parser("hold")
    ph.add_argument("--connect", required=True)
    ph.add_argument("--count", type=int, required=True)
    ph.add_argument("--parallel", type=int, default=256)
    ph.add_argument("--retries", type=int, default=1, help="extra attempts, as a multiple of --count")
    ph.add_argument("--timeout", type=float, default=60)
    ph.add_argument("--hold", type=float, default=300)
    ph.add_argument("--ready")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return serve(args) if args.mode == "serve" else hold(args)


if __name__ == "__main__":
    sys.exit(main())
