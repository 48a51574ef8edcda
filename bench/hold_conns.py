#!/usr/bin/env python3
"""Open and hold many idle TCP connections, for tungate's memory and "bulk flow among idle
connections" benchmarks. Standard library only; every mode is bounded in time.

  hold_conns.py serve --bind ADDR --port P [--duration S] [--status FILE]
      Accept every connection and hold it open (data read is discarded; closed on EOF).
      Writes {"accepted": N, "open": N, "t": ...} to FILE (atomically) whenever the count
      changes, at most every 0.1 s. Stops after --duration seconds or on SIGTERM/SIGINT.

  hold_conns.py hold --connect ADDR:PORT --count N [--parallel K] [--timeout S]
                     [--hold S] [--ready FILE]
      Open N connections, at most K handshakes in flight at once, giving up on what is not
      established after --timeout seconds. Then writes {"established": ..., "failed": ...,
      "seconds": ...} to FILE and holds the connections until --hold seconds have passed or
      SIGTERM/SIGINT arrives; then closes them all and exits 0 (1 if none was established).

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


def hold(args):
    limit = raise_nofile(args.count + 1024)
    if limit < args.count + 64:
        print(f"hold_conns hold: RLIMIT_NOFILE {limit} is too low for {args.count}", file=sys.stderr)
        return 1
    host, port = args.connect.rsplit(":", 1)
    dst = (host, int(port))
    sel = selectors.EpollSelector()
    established = []
    failed = 0
    errors = {}
    pending = 0
    started = 0
    t0 = time.monotonic()
    deadline = t0 + args.timeout
    while not stop and (started < args.count or pending) and time.monotonic() < deadline:
        while started < args.count and pending < args.parallel:
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setblocking(False)
            started += 1
            rc = s.connect_ex(dst)
            if rc in (0, errno.EINPROGRESS):
                sel.register(s, selectors.EVENT_WRITE)
                pending += 1
            else:
                failed += 1
                errors[errno.errorcode.get(rc, str(rc))] = errors.get(errno.errorcode.get(rc, str(rc)), 0) + 1
                s.close()
        for key, _ in sel.select(timeout=0.05):
            s = key.fileobj
            sel.unregister(s)
            pending -= 1
            rc = s.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if rc == 0:
                established.append(s)
            else:
                failed += 1
                name = errno.errorcode.get(rc, str(rc))
                errors[name] = errors.get(name, 0) + 1
                s.close()
    # whatever is still in flight at the deadline counts as failed
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
        key.fileobj.close()
        failed += 1
        errors["timeout"] = errors.get("timeout", 0) + 1
    elapsed = time.monotonic() - t0
    write_json(args.ready, {"requested": args.count, "established": len(established),
                            "failed": failed, "errors": errors, "seconds": round(elapsed, 3)})
    end = time.monotonic() + args.hold
    while not stop and time.monotonic() < end:
        time.sleep(0.1)
    for s in established:
        s.close()
    return 0 if established else 1


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
    ph.add_argument("--timeout", type=float, default=60)
    ph.add_argument("--hold", type=float, default=300)
    ph.add_argument("--ready")
    args = p.parse_args()
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return serve(args) if args.mode == "serve" else hold(args)


if __name__ == "__main__":
    sys.exit(main())
