#!/usr/bin/env python3
"""Flow-semantics peers for tungate's end-to-end tests (Python 3 standard library only).

Server side (run in the server namespace):

  serve --bind ADDR [--bind ADDR6] [--tcp-port P] [--banner-port P] [--udp-port P]
        --results DIR --ready-file FILE
      TCP command server on --tcp-port. The client's first line picks the behaviour:
        SINK\\n              read to EOF, then reply "SHA256HEX LENGTH\\n" and close: the reply
                             only exists after the client's FIN (client half-close)
        SEND N SEED ID\\n    send gen(N, SEED) (httpd.py's generator), shutdown(SHUT_WR), then
                             keep reading to EOF; write "ok SHA256HEX LENGTH" to DIR/ID
                             (server half-closes first)
        RST\\n               close with SO_LINGER 0: the client must see a reset
        HOLD ID\\n           reply "READY\\n", then read until EOF or error; write
                             "eof|reset|ERRNAME UNIXTIME" to DIR/ID (client aborts)
      Banner server on --banner-port: sends "hello\\n" at once, then holds the connection
      until the client closes it.
      UDP echo server on --udp-port: echoes every datagram; the datagram "WHO?" is answered
      with "ADDR PORT" of the sender as the server sees it (to see NAT entries change).
      Every --bind address gets every server (IPv4 and IPv6 addresses both work).

Client side (run in the client namespace); each prints one line and exits 0 (the check
passed) or 1 (it failed), except probe/maxflows which print what happened for the caller to judge:

  half-close-client   ADDR PORT SIZE SEED
  half-close-server   ADDR PORT SIZE SEED UPLOAD_SIZE UPLOAD_SEED ID RESULTS_DIR [--idle S]
      (--idle: wait S seconds between the server's FIN and the upload)
  rst-client          ADDR PORT
  abort-client        ADDR PORT ID RESULTS_DIR
  probe               ADDR PORT [--timeout S]
      prints "connect=OK|TIMEOUT|ERRNAME ct=SECONDS recv=DATA|EOF[+...]|TIMEOUT|ERRNAME|- rt=SECONDS"
  maxflows            ADDR PORT HOLD [--timeout S]
  banner              ADDR PORT [--count N] [--timeout S]   (server speaks first, N times)
  udp-echo            ADDR PORT --count N --max-size N --seed S
  udp-burst           ADDR PORT --count N --size N --burst N
      N datagrams of SIZE bytes in bursts of BURST sent back to back; each burst waits for its
      echoes (so the average rate stays moderate): every datagram must come back once, in the
      order sent, byte-exact
  udp-refused         ADDR PORT
  udp-idle            ADDR PORT GAP_SECONDS

Bulk transfer with a stalled reader (either side; one connection, then exit):

  bulk --role send|recv --listen|--connect --addr A --port P --size N
       [--pause-after BYTES --pause SECONDS --rss-pids PID,PID,...] [--progress-file F]
       [--peer-progress F] [--ready-file F] --out JSON_FILE
"""

import argparse
import errno
import hashlib
import json
import os
import random
import socket
import struct
import sys
import threading
import time

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from httpd import gen_chunks  # noqa: E402  (same deterministic stream as httpd.py)

IO = 256 * 1024


def ename(e):
    if isinstance(e, TimeoutError) or isinstance(e, socket.timeout):
        return "TIMEOUT"
    if getattr(e, "errno", None) is None:
        return type(e).__name__
    return errno.errorcode.get(e.errno, str(e.errno))


def family(addr):
    return socket.AF_INET6 if ":" in addr else socket.AF_INET


def gen_sha(n, seed):
    h = hashlib.sha256()
    for c in gen_chunks(n, seed):
        h.update(c)
    return h.hexdigest()


def write_result(path, text):
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


def wait_result(path, timeout):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            with open(path) as f:
                return f.read().strip()
        except FileNotFoundError:
            time.sleep(0.05)
    return None


def read_line(conn, limit=256):
    buf = b""
    while not buf.endswith(b"\n"):
        b = conn.recv(1)
        if not b:
            break
        buf += b
        if len(buf) > limit:
            break
    return buf.decode(errors="replace").strip()


def linger0(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


# ---------------------------------------------------------------------------------------------
# server


def safe_id(s):
    return "".join(ch for ch in s if ch.isalnum() or ch in "-_")[:64] or "x"


def handle_cmd(conn, results):
    conn.settimeout(120)
    try:
        words = read_line(conn).split()
        if not words:
            return
        cmd = words[0]
        if cmd == "SINK":
            h, n = hashlib.sha256(), 0
            while True:
                b = conn.recv(IO)
                if not b:
                    break
                h.update(b)
                n += len(b)
            conn.sendall(("%s %d\n" % (h.hexdigest(), n)).encode())
        elif cmd == "SEND":
            n, seed, rid = int(words[1]), int(words[2]), safe_id(words[3])
            path = os.path.join(results, rid)
            try:
                for c in gen_chunks(n, seed):
                    conn.sendall(c)
                conn.shutdown(socket.SHUT_WR)
                h, got = hashlib.sha256(), 0
                while True:
                    b = conn.recv(IO)
                    if not b:
                        break
                    h.update(b)
                    got += len(b)
                write_result(path, "ok %s %d" % (h.hexdigest(), got))
            except OSError as e:
                write_result(path, "error %s" % ename(e))
        elif cmd == "RST":
            time.sleep(0.1)
            linger0(conn)
        elif cmd == "HOLD":
            path = os.path.join(results, safe_id(words[1]))
            conn.sendall(b"READY\n")
            try:
                b = conn.recv(IO)
                while b:
                    b = conn.recv(IO)
                write_result(path, "eof %.6f" % time.time())
            except OSError as e:
                write_result(path, "%s %.6f" % ("reset" if e.errno == errno.ECONNRESET else ename(e), time.time()))
    except (OSError, ValueError, IndexError):
        pass
    finally:
        conn.close()


def handle_banner(conn, _results):
    conn.settimeout(600)
    try:
        conn.sendall(b"hello\n")
        while conn.recv(IO):
            pass
    except OSError:
        pass
    finally:
        conn.close()


def tcp_listener(addr, port, handler, results):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family(addr) == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.bind((addr, port))
    s.listen(256)

    def loop():
        while True:
            c, _ = s.accept()
            threading.Thread(target=handler, args=(c, results), daemon=True).start()

    return threading.Thread(target=loop, daemon=True)


def udp_echo(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    if family(addr) == socket.AF_INET6:
        s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.bind((addr, port))

    def loop():
        while True:
            try:
                data, peer = s.recvfrom(65535)
                if data == b"WHO?":
                    s.sendto(("%s %d" % (peer[0], peer[1])).encode(), peer)
                else:
                    s.sendto(data, peer)
            except OSError:
                pass  # ICMP errors from earlier sends, a full buffer: keep serving

    return threading.Thread(target=loop, daemon=True)


def serve(a):
    threads = []
    for addr in a.bind:
        if a.tcp_port:
            threads.append(tcp_listener(addr, a.tcp_port, handle_cmd, a.results))
        if a.banner_port:
            threads.append(tcp_listener(addr, a.banner_port, handle_banner, a.results))
        if a.udp_port:
            threads.append(udp_echo(addr, a.udp_port))
    for t in threads:
        t.start()
    if a.ready_file:
        write_result(a.ready_file, str(os.getpid()))
    while True:
        time.sleep(3600)


# ---------------------------------------------------------------------------------------------
# clients


def connect(addr, port, timeout=10.0):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    s.connect((addr, port))
    return s


def c_half_close_client(a):
    t0 = time.monotonic()
    want = gen_sha(a.size, a.seed)
    stage = "connect"
    reply = b""
    try:
        s = connect(a.addr, a.port, 60)
        stage = "send"
        s.sendall(b"SINK\n")
        for c in gen_chunks(a.size, a.seed):
            s.sendall(c)
        stage = "shutdown(SHUT_WR)"
        s.shutdown(socket.SHUT_WR)
        stage = "recv after shutdown"
        while True:
            b = s.recv(4096)
            if not b:
                break
            reply += b
        s.close()
    except OSError as e:
        print("client half-close: %s in %s after %.2fs (reply so far: %d bytes %r, want '%s %d')"
              % (ename(e), stage, time.monotonic() - t0, len(reply), reply[:80], want[:16] + "...", a.size))
        return 1
    got = reply.decode(errors="replace").strip()
    if got == "%s %d" % (want, a.size):
        print("sent %d bytes, shut down its sending side, then received the server's reply "
              "(sha256 %s... of all %d bytes) in %.2fs" % (a.size, want[:16], a.size, time.monotonic() - t0))
        return 0
    print("after shutdown(SHUT_WR) the reply was %r, want '%s %d'" % (got[:100], want, a.size))
    return 1


def c_half_close_server(a):
    t0 = time.monotonic()
    want_down = gen_sha(a.size, a.seed)
    want_up = gen_sha(a.upload, a.upseed)
    path = os.path.join(a.results, safe_id(a.id))
    try:
        s = connect(a.addr, a.port, 60)
        s.sendall(("SEND %d %d %s\n" % (a.size, a.seed, a.id)).encode())
        h, got = hashlib.sha256(), 0
        while True:
            b = s.recv(IO)
            if not b:
                break
            h.update(b)
            got += len(b)
        if h.hexdigest() != want_down or got != a.size:
            print("server->client before the server's FIN: %d bytes sha256 %s..., want %d bytes %s..."
                  % (got, h.hexdigest()[:16], a.size, want_down[:16]))
            return 1
        t_eof = time.monotonic() - t0
        time.sleep(a.idle)  # half-closed and quiet: what does the gateway do meanwhile?
        for c in gen_chunks(a.upload, a.upseed):  # after EOF from the server: still sending
            s.sendall(c)
        s.shutdown(socket.SHUT_WR)
    except OSError as e:
        print("server half-close: client got %s after %.2fs" % (ename(e), time.monotonic() - t0))
        return 1
    res = wait_result(path, 30)
    s.close()
    if res == "ok %s %d" % (want_up, a.upload):
        print("received %d bytes then EOF (%.2fs), then sent %d more bytes that the server received "
              "byte-exact (sha256 %s...), %.2fs" % (a.size, t_eof, a.upload, want_up[:16], time.monotonic() - t0))
        return 0
    print("after the server's FIN the client sent %d bytes (sha256 %s...); server recorded %r"
          % (a.upload, want_up[:16], res))
    return 1


def c_rst_client(a):
    t0 = time.monotonic()
    try:
        s = connect(a.addr, a.port, 10)
        s.sendall(b"RST\n")
        s.settimeout(5)
        b = s.recv(100)
        r = "DATA %r" % b if b else "EOF"
    except OSError as e:
        r = ename(e)
    el = time.monotonic() - t0
    if r == "ECONNRESET":
        print("server closed with SO_LINGER 0: client recv() failed with ECONNRESET after %.3fs" % el)
        return 0
    print("server closed with SO_LINGER 0: client recv() gave %s after %.3fs, want ECONNRESET" % (r, el))
    return 1


def c_abort_client(a):
    path = os.path.join(a.results, safe_id(a.id))
    try:
        s = connect(a.addr, a.port, 10)
        s.sendall(("HOLD %s\n" % a.id).encode())
        if read_line(s) != "READY":
            print("server did not answer READY")
            return 1
        linger0(s)
        t_abort = time.time()
        s.close()
    except OSError as e:
        print("abort client: %s before the abort" % ename(e))
        return 1
    res = wait_result(path, 10)
    if not res:
        print("client aborted (SO_LINGER 0): the server's socket saw nothing within 10s")
        return 1
    what, t = res.split()
    delay = float(t) - t_abort
    msg = "client aborted (SO_LINGER 0): the server's recv() saw %s %.3fs later" % (
        "a reset (ECONNRESET)" if what == "reset" else what, delay)
    if what in ("reset", "eof") and delay < 2.0:
        print(msg)
        return 0
    print(msg + " (want reset or EOF within 2s)")
    return 1


def probe_once(addr, port, timeout):
    s = socket.socket(family(addr), socket.SOCK_STREAM)
    s.settimeout(timeout)
    t0 = time.monotonic()
    try:
        s.connect((addr, port))
        c = "OK"
    except OSError as e:
        c = ename(e)
    ct = time.monotonic() - t0
    r, rt = "-", 0.0
    if c == "OK":
        try:
            b = s.recv(100)
            r = "DATA" if b else "EOF"
        except OSError as e:
            r = ename(e)
        rt = time.monotonic() - t0
        if r == "EOF":  # what does the next write say?
            try:
                time.sleep(0.2)
                s.send(b"x")
                time.sleep(0.2)
                s.send(b"x")
                r += "+SENDOK"
            except OSError as e:
                r += "+" + ename(e)
    s.close()
    return "connect=%s ct=%.3f recv=%s rt=%.3f" % (c, ct, r, rt)


def c_probe(a):
    print(probe_once(a.addr, a.port, a.timeout))
    return 0


def c_banner(a):
    """N connections one after the other to a server that speaks first: each must get its banner."""
    ok = 0
    fails = []
    t0 = time.monotonic()
    for i in range(a.count):
        try:
            s = connect(a.addr, a.port, a.timeout)
            line = read_line(s)
            s.close()
            if line == "hello":
                ok += 1
            else:
                fails.append("#%d got %r" % (i, line))
        except OSError as e:
            fails.append("#%d %s" % (i, ename(e)))
    msg = "%d/%d connections got the server's greeting (sent at once on accept) within %.0fs, %.2fs in all" % (
        ok, a.count, a.timeout, time.monotonic() - t0)
    if fails:
        msg += "; failed: " + ", ".join(fails[:5])
    print(msg)
    return 0 if ok == a.count else 1


def c_maxflows(a):
    held = []
    for i in range(a.hold):
        try:
            s = connect(a.addr, a.port, a.timeout)
            if read_line(s) != "hello":
                raise OSError(errno.EPROTO, "no banner")
            held.append(s)
        except OSError as e:
            print("held=%d hold_error=%s" % (i, ename(e)))
            for s in held:
                s.close()
            return 0
    extra = probe_once(a.addr, a.port, a.timeout)
    for s in held:
        s.close()
    # After closing the held flows a new connection must work again (the flows were freed).
    t0 = time.monotonic()
    after = "never"
    tries = []
    while time.monotonic() - t0 < 10:
        r = probe_once(a.addr, a.port, 3)
        if "recv=DATA" in r:
            after = "DATA(%.2fs)" % (time.monotonic() - t0)
            break
        tries.append(r)
        time.sleep(0.3)
    if tries:
        after += " (%d failed tries before: %s)" % (len(tries), "; ".join(tries[:3]))
    print("held=%d extra: %s after_close=%s" % (len(held), extra, after))
    return 0


def udp_socket(addr, port):
    s = socket.socket(family(addr), socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 << 20)
    s.connect((addr, port))
    return s


def c_udp_echo(a):
    rng = random.Random(a.seed)
    s = udp_socket(a.addr, a.port)
    s.settimeout(a.timeout)
    seen = set()
    ok = retries = stale = bad = lost = 0
    total = 0
    first_problem = None
    t0 = time.monotonic()
    gave_up = ""
    for i in range(a.count):
        if lost >= 5 and lost == i - ok:  # nothing echoed for a while: stop, do not wait forever
            gave_up = "; gave up after %d datagrams without any echo" % i
            break
        if time.monotonic() - t0 > a.deadline:
            gave_up = "; gave up after %d datagrams: %.0fs deadline" % (i, a.deadline)
            break
        size = 1 if i == 0 else a.max_size if i == 1 else rng.randint(1, a.max_size)
        payload = rng.randbytes(size)
        digest = hashlib.sha256(payload).digest()
        done = False
        for attempt in range(a.retries + 1):
            if attempt:
                retries += 1
            try:
                s.send(payload)
            except OSError as e:
                first_problem = first_problem or "datagram %d (%d bytes): send %s" % (i, size, ename(e))
                continue
            end = time.monotonic() + a.timeout
            while time.monotonic() < end:
                try:
                    s.settimeout(max(0.001, end - time.monotonic()))
                    data = s.recv(65536)
                except OSError as e:
                    if ename(e) != "TIMEOUT":
                        first_problem = first_problem or "datagram %d (%d bytes): recv %s" % (i, size, ename(e))
                    break
                if data == payload:
                    done = True
                    break
                if hashlib.sha256(data).digest() in seen:
                    stale += 1  # a late echo of an earlier datagram (after a retry)
                    continue
                bad += 1
                first_problem = first_problem or "datagram %d: sent %d bytes, got %d different bytes" % (
                    i, size, len(data))
            if done:
                break
        seen.add(digest)
        total += size
        if done:
            ok += 1
        else:
            lost += 1
            first_problem = first_problem or "datagram %d (%d bytes): no echo after %d attempts" % (
                i, size, a.retries + 1)
    el = time.monotonic() - t0
    msg = "%d/%d datagrams of 1..%d bytes echoed byte-exact (%.1f MB each way, %.1fs), %d retries, " \
          "%d late duplicates, %d corrupt, %d lost" % (ok, a.count, a.max_size, total / 1e6, el, retries,
                                                       stale, bad, lost)
    if first_problem:
        msg += "; first problem: " + first_problem
    print(msg + gave_up)
    return 0 if ok == a.count and bad == 0 else 1


def burst_payload(seq, size):
    head = struct.pack("!I", seq)
    return (head * (size // 4 + 1))[:size]


def c_udp_burst(a):
    s = udp_socket(a.addr, a.port)
    expect = ok = lost = dup_or_reorder = corrupt = 0
    first_problem = None
    t0 = time.monotonic()
    for start in range(0, a.count, a.burst):
        n = min(a.burst, a.count - start)
        for seq in range(start, start + n):
            s.send(burst_payload(seq, a.size))
        end = time.monotonic() + a.timeout
        while expect < start + n and time.monotonic() < end:
            try:
                s.settimeout(max(0.001, end - time.monotonic()))
                data = s.recv(65536)
            except OSError as e:
                if ename(e) != "TIMEOUT":
                    first_problem = first_problem or "recv %s" % ename(e)
                break
            seq = struct.unpack("!I", data[:4])[0] if len(data) >= 4 else -1
            if data != burst_payload(seq, a.size):
                corrupt += 1
                first_problem = first_problem or "a corrupt echo of %d bytes" % len(data)
            elif seq < expect or seq >= start + n:
                dup_or_reorder += 1
                first_problem = first_problem or "datagram %d came after %d" % (seq, expect - 1)
            else:
                if seq > expect:
                    first_problem = first_problem or "datagrams %d..%d missing before %d" % (
                        expect, seq - 1, seq)
                lost += seq - expect
                ok += 1
                expect = seq + 1
        if expect < start + n:
            lost += start + n - expect
            first_problem = first_problem or "no echo for datagrams %d..%d" % (expect, start + n - 1)
            expect = start + n
    el = time.monotonic() - t0
    msg = "%d/%d datagrams of %d bytes echoed in order, byte-exact, in bursts of %d (%.2fs, " \
          "%.0f Mbit/s each way); %d lost, %d out of order or duplicated, %d corrupt" % (
              ok, a.count, a.size, a.burst, el, a.count * a.size * 8 / el / 1e6, lost, dup_or_reorder,
              corrupt)
    if first_problem:
        msg += "; first problem: " + first_problem
    print(msg)
    return 0 if ok == a.count and lost == 0 and dup_or_reorder == 0 and corrupt == 0 else 1


def c_udp_refused(a):
    s = udp_socket(a.addr, a.port)
    s.settimeout(2)
    t0 = time.monotonic()
    r = "TIMEOUT"
    for attempt in range(3):
        try:
            s.send(b"anyone there?")
            b = s.recv(100)
            r = "DATA %r" % b[:20]
            break
        except OSError as e:
            r = ename(e)
            if r != "TIMEOUT":
                break
    el = time.monotonic() - t0
    if r == "ECONNREFUSED":
        print("connected UDP socket to a closed port: recv() failed with ECONNREFUSED after %.3fs "
              "(%d send(s))" % (el, attempt + 1))
        return 0
    print("connected UDP socket to a closed port: recv() gave %s after %.3fs (%d sends), want ECONNREFUSED"
          % (r, el, attempt + 1))
    return 1


def ask_who(s, tries=4, timeout=1.0):
    s.settimeout(timeout)
    for _ in range(tries):
        try:
            s.send(b"WHO?")
            return s.recv(200).decode(errors="replace").replace(" ", ":")
        except OSError as e:
            last = ename(e)
            if last != "TIMEOUT":
                return last
    return "TIMEOUT"


def c_udp_idle(a):
    s = udp_socket(a.addr, a.port)
    w1 = ask_who(s)
    time.sleep(0.3)
    w2 = ask_who(s)
    time.sleep(a.gap)
    w3 = ask_who(s)
    print("first=%s again=%s after_gap=%s" % (w1, w2, w3))
    return 0


# ---------------------------------------------------------------------------------------------
# bulk transfer with a stalled reader

POOL_SEED = 4242
CHUNK = 256 * 1024


def bulk_chunks(n):
    pool = random.Random(POOL_SEED).randbytes(CHUNK + 61 * 4096)
    k = 0
    while n > 0:
        off = (k % 61) * 4096
        c = struct.pack(">Q", k) + pool[off:off + CHUNK - 8]
        if n < len(c):
            c = c[:n]
        n -= len(c)
        k += 1
        yield c


def rss_kib(pids):
    total = 0
    for p in pids:
        try:
            with open("/proc/%d/status" % p) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
        except OSError:
            return -1  # a process is gone: that is a failure the caller reports
    return total


def read_progress(path):
    try:
        with open(path) as f:
            t, n = f.read().split()
            return float(t), int(n)
    except (OSError, ValueError):
        return 0.0, -1


def c_bulk(a):
    out = {"role": a.role}
    if a.listen:
        ls = socket.socket(family(a.addr), socket.SOCK_STREAM)
        ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        ls.bind((a.addr, a.port))
        ls.listen(1)
        ls.settimeout(60)
        if a.ready_file:
            write_result(a.ready_file, str(os.getpid()))
        s, _ = ls.accept()
        ls.close()
    else:
        s = connect(a.addr, a.port, 30)
    s.settimeout(120)
    h = hashlib.sha256()
    n = 0
    t0 = time.monotonic()
    stage = "send" if a.role == "send" else "recv"
    try:
        if a.role == "send":
            sent = [0]
            done = threading.Event()

            def progress():  # the bytes written so far, every 0.1 s, even while send() blocks
                while not done.wait(0.1):
                    write_result(a.progress_file, "%.6f %d" % (time.time(), sent[0]))
                write_result(a.progress_file, "%.6f %d" % (time.time(), sent[0]))

            pt = threading.Thread(target=progress, daemon=True)
            if a.progress_file:
                pt.start()
            try:
                for c in bulk_chunks(a.size):
                    h.update(c)
                    mv = memoryview(c)
                    while mv:
                        k = s.send(mv)
                        mv = mv[k:]
                        n += k
                        sent[0] = n
            finally:
                done.set()
                if a.progress_file:
                    pt.join()
            stage = "shutdown(SHUT_WR) after sending everything"
            s.shutdown(socket.SHUT_WR)
            stage = "recv() waiting for the reader's FIN after sending everything"
            while s.recv(IO):  # the reader closes once it has everything
                pass
        else:
            pids = [int(p) for p in a.rss_pids.split(",") if p] if a.rss_pids else []
            paused = a.pause <= 0
            while True:
                if not paused and n >= a.pause_after:
                    paused = True
                    out["read_before_pause"] = n
                    out["peer_at_pause_start"] = read_progress(a.peer_progress)[1] if a.peer_progress else -1
                    samples = []
                    tp = time.monotonic()
                    for i in range(int(a.pause)):
                        samples.append(rss_kib(pids))
                        if i == int(a.pause) - 5:
                            out["peer_5s_before_pause_end"] = read_progress(a.peer_progress)[1] \
                                if a.peer_progress else -1
                        time.sleep(max(0.0, tp + i + 1 - time.monotonic()))
                    samples.append(rss_kib(pids))
                    out["rss_kib"] = samples
                    out["peer_at_pause_end"] = read_progress(a.peer_progress)[1] if a.peer_progress else -1
                want = IO if paused else min(IO, a.pause_after - n)
                b = s.recv(want)
                if not b:
                    break
                h.update(b)
                n += len(b)
    except OSError as e:
        out["error"] = ename(e)
        out["error_stage"] = stage
    out["bytes"] = n
    out["sha256"] = h.hexdigest()
    out["seconds"] = round(time.monotonic() - t0, 3)
    s.close()
    with open(a.out + ".tmp", "w") as f:
        json.dump(out, f)
    os.replace(a.out + ".tmp", a.out)
    return 0 if "error" not in out else 1


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", action="append", required=True)
    s.add_argument("--tcp-port", type=int, default=0)
    s.add_argument("--banner-port", type=int, default=0)
    s.add_argument("--udp-port", type=int, default=0)
    s.add_argument("--results", default="/nonexistent")
    s.add_argument("--ready-file")
    s.set_defaults(fn=serve)

    def client(name, fn, *extra):
        c = sub.add_parser(name)
        c.add_argument("addr")
        c.add_argument("port", type=int)
        for e in extra:
            c.add_argument(e[0], **e[1])
        c.set_defaults(fn=fn)
        return c

    client("half-close-client", c_half_close_client, ("size", {"type": int}), ("seed", {"type": int}))
    client("half-close-server", c_half_close_server, ("size", {"type": int}), ("seed", {"type": int}),
           ("upload", {"type": int}), ("upseed", {"type": int}), ("id", {}), ("results", {}),
           ("--idle", {"type": float, "default": 0.0}))
    client("rst-client", c_rst_client)
    client("abort-client", c_abort_client, ("id", {}), ("results", {}))
    client("probe", c_probe, ("--timeout", {"type": float, "default": 8.0}))
    client("banner", c_banner, ("--count", {"type": int, "default": 20}),
           ("--timeout", {"type": float, "default": 2.0}))
    client("maxflows", c_maxflows, ("hold", {"type": int}), ("--timeout", {"type": float, "default": 5.0}))
    client("udp-echo", c_udp_echo, ("--count", {"type": int, "default": 1000}),
           ("--max-size", {"type": int, "default": 65507}), ("--seed", {"type": int, "default": 1}),
           ("--timeout", {"type": float, "default": 0.5}), ("--retries", {"type": int, "default": 3}),
           ("--deadline", {"type": float, "default": 90.0}))
    client("udp-burst", c_udp_burst, ("--count", {"type": int, "default": 2000}),
           ("--size", {"type": int, "default": 1400}), ("--burst", {"type": int, "default": 50}),
           ("--timeout", {"type": float, "default": 2.0}))
    client("udp-refused", c_udp_refused)
    client("udp-idle", c_udp_idle, ("gap", {"type": float}))

    b = sub.add_parser("bulk")
    b.add_argument("--role", choices=("send", "recv"), required=True)
    g = b.add_mutually_exclusive_group(required=True)
    g.add_argument("--listen", action="store_true")
    g.add_argument("--connect", action="store_true")
    b.add_argument("--addr", required=True)
    b.add_argument("--port", type=int, required=True)
    b.add_argument("--size", type=int, default=0)
    b.add_argument("--pause-after", type=int, default=0)
    b.add_argument("--pause", type=float, default=0)
    b.add_argument("--rss-pids", default="")
    b.add_argument("--progress-file")
    b.add_argument("--peer-progress")
    b.add_argument("--ready-file")
    b.add_argument("--out", required=True)
    b.set_defaults(fn=c_bulk)

    a = p.parse_args()
    sys.exit(a.fn(a))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()
        sys.exit(1)
    except KeyboardInterrupt:
        sys.exit(130)
