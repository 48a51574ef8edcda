#!/usr/bin/env python3
"""Test peer for tungate's end-to-end tests (Python 3 standard library only).

Runs in the server namespace. Everything streams: no body is held in memory.

  serve   HTTP server (threaded, HTTP/1.1):
            GET  /bytes/N?seed=S[&wait=K]  N deterministic pseudo-random bytes (see gen);
                                           wait=K holds the response until K /bytes requests
                                           are in flight at once (or 30 s pass), to prove
                                           concurrency; peak concurrency is in /stats
            GET  /stats                    "peak_active N\\nrequests N\\n"
            GET  /<path>                   a file under --dir, if --dir is given
            PUT  or POST  /<anything>      replies "SHA256HEX LENGTH\\n" of the body received
                                           (Content-Length or chunked)
          and optionally (--tcp-port) a plain TCP server: the client sends one line "N SEED\\n",
          the server sends N bytes of gen(N, SEED) and closes.
  gen N SEED        writes the same N bytes to stdout
  sha256 N SEED...  prints "SHA256HEX" of gen(N, SEED) for each seed, one per line
  digest            reads stdin to EOF, prints "SHA256HEX LENGTH"

The byte stream of gen(N, S) is 64 KiB blocks, block k = random.Random((S << 32) | k).randbytes,
cut at N: the client computes what it expects without any network traffic.
"""

import argparse
import functools
import hashlib
import http.server
import os
import random
import socket
import socketserver
import sys
import threading
import urllib.parse

BLOCK = 65536
IO_CHUNK = 256 * 1024
WAIT_TIMEOUT = 30.0


def gen_chunks(n, seed):
    k = 0
    while n > 0:
        b = random.Random((seed << 32) | k).randbytes(BLOCK)
        if n < BLOCK:
            b = b[:n]
        n -= len(b)
        k += 1
        yield b


class Stats:
    def __init__(self):
        self.cond = threading.Condition()
        self.active = 0
        self.peak = 0
        self.requests = 0

    def enter(self, wait_for):
        with self.cond:
            self.active += 1
            self.requests += 1
            self.peak = max(self.peak, self.active)
            self.cond.notify_all()
            if wait_for > 0:
                self.cond.wait_for(lambda: self.peak >= wait_for, timeout=WAIT_TIMEOUT)

    def leave(self):
        with self.cond:
            self.active -= 1


STATS = Stats()
VERBOSE = False


class Handler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "tungate-e2e"

    def __init__(self, *args, serve_dir=None, **kwargs):
        self.serve_dir = serve_dir
        super().__init__(*args, directory=serve_dir or os.devnull, **kwargs)

    def log_message(self, fmt, *args):
        if VERBOSE:
            sys.stderr.write("httpd: %s %s\n" % (self.address_string(), fmt % args))

    def handle(self):
        try:
            super().handle()
        except (ConnectionError, TimeoutError):
            pass

    def _reply(self, code, text, ctype="text/plain"):
        body = text.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        url = urllib.parse.urlsplit(self.path)
        if url.path.startswith("/bytes/"):
            return self._bytes(url)
        if url.path == "/stats":
            with STATS.cond:
                text = "peak_active %d\nrequests %d\n" % (STATS.peak, STATS.requests)
            return self._reply(200, text)
        if self.serve_dir:
            return super().do_GET()
        return self._reply(404, "not found\n")

    def _bytes(self, url):
        try:
            n = int(url.path[len("/bytes/"):])
            q = urllib.parse.parse_qs(url.query)
            seed = int(q.get("seed", ["0"])[0])
            wait_for = int(q.get("wait", ["0"])[0])
            if n < 0 or seed < 0:
                raise ValueError
        except ValueError:
            return self._reply(400, "usage: /bytes/N?seed=S[&wait=K]\n")
        STATS.enter(wait_for)
        try:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            self.end_headers()
            for chunk in gen_chunks(n, seed):
                self.wfile.write(chunk)
        finally:
            STATS.leave()

    def _sink(self):
        h = hashlib.sha256()
        total = 0
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            while True:
                line = self.rfile.readline(1024)
                if not line:
                    raise ConnectionError("eof in chunked body")
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    break
                while size > 0:
                    b = self.rfile.read(min(size, IO_CHUNK))
                    if not b:
                        raise ConnectionError("eof in chunk")
                    h.update(b)
                    total += len(b)
                    size -= len(b)
                self.rfile.readline(16)  # CRLF after the chunk
        else:
            left = int(self.headers.get("Content-Length", "0"))
            while left > 0:
                b = self.rfile.read(min(left, IO_CHUNK))
                if not b:
                    raise ConnectionError("eof in body")
                h.update(b)
                total += len(b)
                left -= len(b)
        self._reply(200, "%s %d\n" % (h.hexdigest(), total))

    do_PUT = _sink
    do_POST = _sink


class HTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


class RawHandler(socketserver.StreamRequestHandler):
    def handle(self):
        try:
            line = self.rfile.readline(128).split()
            n, seed = int(line[0]), int(line[1])
            for chunk in gen_chunks(n, seed):
                self.wfile.write(chunk)
            self.request.shutdown(socket.SHUT_WR)
        except (ConnectionError, TimeoutError, ValueError, IndexError):
            pass


class RawServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 512


def serve(args):
    global VERBOSE
    VERBOSE = args.verbose
    handler = functools.partial(Handler, serve_dir=args.dir)
    http_cls, raw_cls = HTTPServer, RawServer
    if ":" in args.bind:  # an IPv6 address: same servers, AF_INET6 sockets

        class http_cls(HTTPServer):
            address_family = socket.AF_INET6

        class raw_cls(RawServer):
            address_family = socket.AF_INET6

    httpd = http_cls((args.bind, args.port), handler)
    threads = [threading.Thread(target=httpd.serve_forever, daemon=True)]
    if args.tcp_port:
        raw = raw_cls((args.bind, args.tcp_port), RawHandler)
        threads.append(threading.Thread(target=raw.serve_forever, daemon=True))
    for t in threads:
        t.start()
    if args.ready_file:
        with open(args.ready_file + ".tmp", "w") as f:
            f.write("%d\n" % os.getpid())
        os.rename(args.ready_file + ".tmp", args.ready_file)
    for t in threads:
        t.join()


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("serve")
    s.add_argument("--bind", default="127.0.0.1", help="IPv4 or IPv6 address")
    s.add_argument("--port", type=int, default=8080)
    s.add_argument("--tcp-port", type=int, default=0)
    s.add_argument("--dir", default=None)
    s.add_argument("--ready-file", default=None)
    s.add_argument("--verbose", action="store_true")
    g = sub.add_parser("gen")
    g.add_argument("n", type=int)
    g.add_argument("seed", type=int)
    h = sub.add_parser("sha256")
    h.add_argument("n", type=int)
    h.add_argument("seeds", type=int, nargs="+")
    sub.add_parser("digest")
    args = p.parse_args()

    if args.cmd == "serve":
        serve(args)
    elif args.cmd == "gen":
        out = sys.stdout.buffer
        for chunk in gen_chunks(args.n, args.seed):
            out.write(chunk)
        out.flush()
    elif args.cmd == "sha256":
        for seed in args.seeds:
            h = hashlib.sha256()
            for chunk in gen_chunks(args.n, seed):
                h.update(chunk)
            print(h.hexdigest())
    elif args.cmd == "digest":
        h = hashlib.sha256()
        total = 0
        inp = sys.stdin.buffer
        while True:
            b = inp.read(IO_CHUNK)
            if not b:
                break
            h.update(b)
            total += len(b)
        print("%s %d" % (h.hexdigest(), total))


if __name__ == "__main__":
    try:
        main()
    except BrokenPipeError:
        sys.stderr.close()  # the reader went away (a test was stopped): no traceback
        sys.exit(1)
