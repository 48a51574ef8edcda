#!/usr/bin/env python3
"""SYN flood and real requests for test_synflood.sh. Standard library only; bounded in count
and time. Run inside the test's client namespace, as root (raw socket).

  synflood.py flood --net 198.18.1.0/24 --src-net 198.18.0.0/24 --count N --seconds S
      Sends N bare TCP SYNs (IPv4, built here with their checksums) spread evenly over S
      seconds, each to a random address of --net and a random port, from a random address of
      --src-net (never the network, broadcast or .1 address) and a random port. Only addresses
      inside 198.18.0.0/15 are accepted. Prints {"sent": N, "seconds": T, "errors": E}.

  synflood.py requests --url URL --count N --seconds S [--expect TEXT] [--timeout T]
      N HTTP GETs, one every S/N seconds (each with its own connection), each given T seconds.
      Prints {"ok": K, "failed": F, "errors": {...}, "max_seconds": M}.
"""

import argparse
import ipaddress
import json
import random
import socket
import struct
import sys
import time
import urllib.request

LAB = ipaddress.ip_network("198.18.0.0/15")


def checksum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def syn(src, dst, sport, dport, seq):
    # TCP: ports, seq, ack 0, data offset 6 words (MSS option), SYN, window, csum, urg; MSS 1460
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, 0, 6 << 4, 0x02, 64240, 0, 0)
    tcp += struct.pack("!BBH", 2, 4, 1460)
    pseudo = src + dst + struct.pack("!BBH", 0, 6, len(tcp))
    c = checksum(pseudo + tcp)
    tcp = tcp[:16] + struct.pack("!H", c) + tcp[18:]
    # IPv4: the kernel fills in the total length and header checksum (IP_HDRINCL), we set both
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(tcp), random.getrandbits(16), 0, 64, 6, 0,
                     src, dst)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return ip + tcp


def hosts(net):
    n = ipaddress.ip_network(net)
    if not n.subnet_of(LAB):
        sys.exit(f"synflood: {net} is outside 198.18.0.0/15: refusing")
    return [a.packed for a in n.hosts()]


def flood(args):
    dsts = hosts(args.net)
    srcs = [a for a in hosts(args.src_net) if a[3] != 1]
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    t0 = time.monotonic()
    sent = errors = 0
    batch = max(1, args.count // max(1, int(args.seconds * 100)))  # ~100 batches a second
    while sent + errors < args.count:
        due = t0 + (sent + errors) * args.seconds / args.count
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        if now - t0 > args.seconds + 30:
            break  # far behind: stop, bounded in time whatever happens
        for _ in range(min(batch, args.count - sent - errors)):
            dst = random.choice(dsts)
            pkt = syn(random.choice(srcs), dst, random.randint(1024, 65535),
                      random.randint(1, 65535), random.getrandbits(32))
            try:
                s.sendto(pkt, (socket.inet_ntoa(dst), 0))
                sent += 1
            except OSError:
                errors += 1  # ENOBUFS when the TUN queue is full: counted, not retried
    print(json.dumps({"sent": sent, "errors": errors, "seconds": round(time.monotonic() - t0, 3)}))
    return 0


def requests(args):
    t0 = time.monotonic()
    ok = failed = 0
    errors = {}
    worst = 0.0
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxy from env
    for i in range(args.count):
        due = t0 + i * args.seconds / args.count
        now = time.monotonic()
        if due > now:
            time.sleep(due - now)
        t = time.monotonic()
        try:
            with opener.open(args.url, timeout=args.timeout) as r:
                body = r.read().decode(errors="replace")
            if args.expect and body.strip() != args.expect:
                raise ValueError("unexpected body")
            ok += 1
        except Exception as e:  # any failure counts, by kind
            failed += 1
            name = type(e).__name__
            errors[name] = errors.get(name, 0) + 1
        worst = max(worst, time.monotonic() - t)
    print(json.dumps({"ok": ok, "failed": failed, "errors": errors, "max_seconds": round(worst, 3)}))
    return 0


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="mode", required=True)
    pf = sub.add_parser("flood")
    pf.add_argument("--net", required=True)
    pf.add_argument("--src-net", required=True)
    pf.add_argument("--count", type=int, required=True)
    pf.add_argument("--seconds", type=float, required=True)
    pr = sub.add_parser("requests")
    pr.add_argument("--url", required=True)
    pr.add_argument("--count", type=int, required=True)
    pr.add_argument("--seconds", type=float, required=True)
    pr.add_argument("--expect")
    pr.add_argument("--timeout", type=float, default=5)
    args = p.parse_args()
    return flood(args) if args.mode == "flood" else requests(args)


if __name__ == "__main__":
    sys.exit(main())
