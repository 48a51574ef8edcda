#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets: fuzz/make-seeds.py OUTDIR

One directory per target under OUTDIR, a few dozen small files each, made from scratch every
time (nothing binary is committed). Each target's input format is described at the top of its
harness; the encoders below mirror them, so a change of format in a harness belongs here too:
  fuzz_stackd_input, fuzz_stackd_link,
  fuzz_stackd_tap                      fuzz/stackd_env.c
  fuzz_link_desc                       fuzz/fuzz_link_desc.c
  fuzz_config                          fuzz/fuzz_config.c (+ config.dict, written here too)
  fuzz_stats                           fuzz/fuzz_stats.c
  fuzz_vnet                            fuzz/fuzz_vnet.c
  fuzz_socks5                          fuzz/fuzz_socks5.c
  fuzz_socks5_udp                      fuzz/fuzz_socks5_udp.c
The configuration keys come from tungate/config.c's table, so new keys get seeds and
dictionary entries without an edit here.
"""

import os
import re
import socket
import struct
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# ---- packets (real checksums: the raw-packet operation sends them as they are) -------------


def csum(data):
    if len(data) % 2:
        data += b"\0"
    s = sum(struct.unpack("!%dH" % (len(data) // 2), data))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


def ip4(src, dst, proto, payload, ident=1, frag=0, ttl=64):
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(payload), ident, frag, ttl, proto, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))
    return hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:] + payload


def ip6(src, dst, nh, payload):
    return (struct.pack("!IHBB", 0x60000000, len(payload), nh, 64) +
            socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
            payload)


def pseudo(v6, src, dst, proto, length):
    if v6:
        return (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst) +
                struct.pack("!IxxxB", length, proto))
    return socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!xBH", proto, length)


def with_csum(seg, off, v6, src, dst, proto):
    ph = b"" if proto == 1 else pseudo(v6, src, dst, proto, len(seg))
    c = csum(ph + seg)
    return seg[:off] + struct.pack("!H", c) + seg[off + 2:]


def tcp(v6, src, dst, sport, dport, seq, ack, flags, opts=b"", data=b"", win=65535):
    hl = 20 + len(opts)
    seg = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hl // 4) << 4, flags, win, 0, 0)
    seg = with_csum(seg + opts + data, 16, v6, src, dst, 6)
    return ip6(src, dst, 6, seg) if v6 else ip4(src, dst, 6, seg)


def udp(v6, src, dst, sport, dport, data):
    seg = struct.pack("!HHHH", sport, dport, 8 + len(data), 0) + data
    seg = with_csum(seg, 6, v6, src, dst, 17)
    return ip6(src, dst, 17, seg) if v6 else ip4(src, dst, 17, seg)


def icmp(v6, src, dst, typ, code, body):
    seg = struct.pack("!BBH", typ, code, 0) + body
    proto = 58 if v6 else 1
    seg = with_csum(seg, 2, v6, src, dst, proto)
    return ip6(src, dst, 58, seg) if v6 else ip4(src, dst, 1, seg)


C4, D4, C6, D6 = "10.7.0.1", "198.51.100.1", "fd00::1", "2001:db8::1"
SYN_OPTS = bytes([2, 4, 0x05, 0xB4, 1, 3, 3, 7, 4, 2, 1, 1])


def raw_packets():
    """Whole packets for the raw-packet operation: every protocol, fragments, odd headers."""
    p = {}
    p["syn4"] = tcp(False, C4, D4, 40000, 80, 1000, 0, 0x02, SYN_OPTS)
    p["syn6"] = tcp(True, C6, D6, 40001, 443, 1000, 0, 0x02, SYN_OPTS)
    p["synport0"] = tcp(False, C4, D4, 40000, 0, 1000, 0, 0x02)
    p["rst4"] = tcp(False, C4, D4, 40000, 80, 1000, 0, 0x04)
    p["udp4"] = udp(False, C4, D4, 40002, 53, b"\x12\x34\x01\x00\x00\x01" + b"\0" * 6)
    p["udp6"] = udp(True, C6, D6, 40003, 53, b"q" * 40)
    p["udpbcast"] = udp(False, C4, "255.255.255.255", 68, 67, b"d" * 20)
    p["echo4"] = icmp(False, C4, D4, 8, 0, struct.pack("!HH", 7, 1) + b"ping" * 8)
    p["echo6"] = icmp(True, C6, D6, 128, 0, struct.pack("!HH", 7, 1) + b"ping" * 8)
    p["unreach4"] = icmp(False, C4, D4, 3, 3, b"\0" * 4 + p["udp4"][:28])
    p["ptb6"] = icmp(True, C6, D6, 2, 0, struct.pack("!I", 1280) + p["udp6"][:48])
    ns_target = socket.inet_pton(socket.AF_INET6, "fe80::1")
    p["ns6"] = icmp(True, "fe80::2", "ff02::1:ff00:1", 135, 0, b"\0" * 4 + ns_target)
    p["ra6"] = icmp(True, "fe80::2", "ff02::1", 134, 0, bytes([64, 0, 0, 30]) + b"\0" * 8)
    # IPv4 options (record route), and a header length beyond the packet.
    opt = bytes([7, 7, 4, 0, 0, 0, 0, 1])
    inner = struct.pack("!HHHH", 40002, 53, 12, 0) + b"abcd"
    hdr = struct.pack("!BBHHHBBH4s4s", 0x47, 0, 28 + len(inner), 9, 0, 64, 17, 0,
                      socket.inet_aton(C4), socket.inet_aton(D4)) + opt
    hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
    p["ipopts"] = hdr + inner
    p["badihl"] = bytes([0x4F]) + p["udp4"][1:24]
    # Two IPv4 fragments of one UDP datagram, and an IPv6 one with a fragment header.
    big = struct.pack("!HHHH", 40002, 9, 8 + 1600, 0) + bytes(range(256)) * 6 + b"x" * 64
    big = with_csum(big, 6, False, C4, D4, 17)
    p["frag4a"] = ip4(C4, D4, 17, big[:1024], ident=77, frag=0x2000)
    p["frag4b"] = ip4(C4, D4, 17, big[1024:], ident=77, frag=1024 // 8)
    fh = struct.pack("!BBHI", 17, 0, 1, 0x1234)
    p["frag6"] = ip6(C6, D6, 44, fh + udp(True, C6, D6, 40003, 9, b"z" * 100)[40:])
    p["hbh6"] = ip6(C6, D6, 0, bytes([17, 0, 1, 4, 0, 0, 0, 0]) + p["udp6"][40:])
    # Regressions (docs/fuzzing.md, findings): IPv6 packets that end where an extension
    # header should start (lwIP read its length byte past the packet), and SYNs whose options
    # end with a kind byte (lwIP read the length byte past the header). Their lengths are
    # multiples of 8: lwIP rounds allocations up to 8 bytes, and ASan sees a read beyond them.
    for nh, name in ((0, "hbh"), (60, "dest"), (43, "rout")):
        p["regress_ip6_%s_empty" % name] = ip6(C6, D6, nh, b"")
    p["regress_tcp_opt_kind_last"] = tcp(False, C4, D4, 40000, 80, 1000, 0, 0x02,
                                         bytes([1] * 7 + [2]))
    p["regress_tcp6_opt_kind_last"] = tcp(True, C6, D6, 40001, 80, 1000, 0, 0x02,
                                          bytes([1, 1, 1, 3]))
    p["tiny"] = b"\x45"
    p["v5"] = b"\x50" + b"\0" * 39
    return p


# ---- stackd harness operations (fuzz/stackd_env.c, env_op) --------------------------------

OP_TCP, OP_UDP, OP_ICMP, OP_RAW, OP_FRAG, OP_RELAY, OP_RELAY_RAW, OP_TIME, OP_STALL, OP_CONNECT = (
    0, 2, 3, 4, 5, 6, 8, 9, 10, 11)
OP_UDP_BURST = 12
CFG_CONSISTENT, CFG_FEW_A, CFG_SMALL_B, CFG_SMALL_WINDOW = 0x01, 0x02, 0x04, 0x08
CFG_AUTO_OPEN, CFG_AUTO_CREDIT, CFG_AUTO_REPLY, CFG_FEW_FLOWS = 0x10, 0x20, 0x40, 0x80
FIN, SYN, RST, PSH, ACK = 0x01, 0x02, 0x04, 0x08, 0x10
R_OPEN_RESULT, R_DATA, R_CREDIT, R_SHUT, R_RESET, R_CLOSED, R_UDP, R_UDP_ERR, R_ECHO = range(9)
MSG = {"HELLO": 1, "PACKET": 2, "TCP_OPEN": 10, "OPEN_RESULT": 11, "DATA": 12, "CREDIT": 13,
       "SHUT_WR": 14, "RESET": 15, "CLOSED": 16, "UDP": 20, "ICMP_ECHO": 21, "UDP_ERROR": 22,
       "UDP_BATCH": 23}


def u16(v):
    return struct.pack("!H", v & 0xFFFF)


def u32(v):
    return struct.pack("!I", v & 0xFFFFFFFF)


def s_tcp(conn, flags, paylen=0, seqd=0, ackd=0, wnd=0xFF, opts=b""):
    """A TCP segment of connection conn; seqd/ackd are the harness's delta bytes."""
    assert len(opts) % 4 == 0 and len(opts) <= 40
    return bytes([OP_TCP, conn, flags, seqd, ackd, wnd, len(opts) // 4]) + u16(paylen) + opts


def s_connect(conn):
    return bytes([OP_CONNECT, conn])


def s_udp(conn, mode=0, paylen=32, port=None):
    b = bytes([OP_UDP, conn, mode | (0x80 if port is not None else 0)]) + u16(paylen)
    return b + (u16(port) if port is not None else b"")


def s_echo(v6=False, ident=7, seq=1, length=64):
    return bytes([OP_ICMP, 1 if v6 else 0]) + u16(ident) + u16(seq) + u16(length)


def s_icmp_any(v6, typ, code, body, multicast=False):
    mode = 0x80 | (1 if v6 else 0) | (0x40 if multicast else 0)
    return bytes([OP_ICMP, mode, typ, code, len(body)]) + body


def s_raw(pkt, fix=0):
    return bytes([OP_RAW, fix]) + u16(len(pkt)) + pkt


def s_frag(kind, order, fsel, ident, args):
    return bytes([OP_FRAG, kind, order, fsel]) + u16(ident) + args


def s_relay(what, sel, *args):
    return bytes([OP_RELAY, what, sel]) + b"".join(args)


def s_time(mode):
    return bytes([OP_TIME, mode])


def seconds(n):
    return s_time(0x80 | ((n - 1) % 64))


def steps(n):
    return s_time((n - 1) % 64)


def relay_raw_body(typ, sel, arg=0, slot_mode=0, length=0, payload=b""):
    return bytes([typ, sel]) + u32(arg) + bytes([slot_mode]) + u16(length) + payload


def tg_addr(v6, ip, port):
    fam = 6 if v6 else 4
    raw = socket.inet_pton(socket.AF_INET6 if v6 else socket.AF_INET, ip)
    return struct.pack("<BBH16s", fam, 0, port, raw)


def stackd_input_seeds():
    s = {}
    hdr = lambda cfg, t=0: bytes([cfg, t])
    auto = CFG_AUTO_OPEN | CFG_AUTO_CREDIT | CFG_AUTO_REPLY
    # A whole TCP flow in fast mode, v4: handshake, data both ways, FIN both ways, CLOSED.
    s["tcp_fast_v4"] = (hdr(auto) + s_connect(0) + s_tcp(0, PSH | ACK, 100) +
                        s_relay(R_DATA, 0, u16(300)) + s_tcp(0, ACK) +
                        s_tcp(0, FIN | ACK) + s_relay(R_SHUT, 0) + s_tcp(0, ACK) +
                        s_relay(R_CLOSED, 0) + steps(12))
    s["tcp_fast_v6"] = (hdr(auto) + s_connect(1) + s_tcp(1, PSH | ACK, 1400) +
                        s_tcp(1, PSH | ACK, 1400) + s_relay(R_RESET, 0) + steps(4))
    # Consistent mode: the SYN waits for relayd's answer, each kind of answer.
    for name, result in (("ok", 0), ("refused", 1), ("unreach", 2), ("timeout", 3)):
        for v6 in (0, 1):
            s["tcp_consistent_%s_%d" % (name, v6)] = (
                hdr(CFG_CONSISTENT | CFG_AUTO_CREDIT) + s_tcp(v6, SYN, opts=SYN_OPTS) +
                s_tcp(v6, SYN, opts=SYN_OPTS) + s_relay(R_OPEN_RESULT, 0, bytes([result])) +
                s_tcp(v6, ACK) + s_tcp(v6, PSH | ACK, 50) + seconds(20))
    s["tcp_fast_refused"] = (hdr(0) + s_connect(2) + s_relay(R_OPEN_RESULT, 0, b"\x01") +
                             steps(8))
    # Out-of-order data, zero window, retransmissions, credit trickled by hand.
    s["tcp_ooo"] = (hdr(CFG_AUTO_OPEN | CFG_SMALL_WINDOW) + s_connect(4) +
                    s_tcp(4, ACK | PSH, 500, seqd=0xd8 + 10) + s_tcp(4, ACK | PSH, 4000) +
                    s_relay(R_CREDIT, 0, b"\x00") + s_tcp(4, ACK, wnd=0) +
                    s_relay(R_DATA, 0, u16(2000)) + steps(40) + s_tcp(4, ACK))
    s["tcp_idle"] = (bytes([auto, 0x05]) + s_connect(5) + s_tcp(5, ACK | PSH, 10) + seconds(64) +
                     seconds(64))
    s["tcp_stall"] = (hdr(auto | CFG_FEW_A | CFG_SMALL_B) + s_connect(6) + bytes([OP_STALL, 0]) +
                      s_relay(R_DATA, 0, u16(2000)) + s_relay(R_DATA, 0, u16(2000)) +
                      bytes([OP_STALL, 1]) + s_tcp(6, ACK | PSH, 1400) + steps(8) +
                      bytes([OP_STALL, 0, OP_STALL, 1]))
    s["tcp_limits"] = (hdr(CFG_AUTO_OPEN | CFG_FEW_FLOWS) + s_connect(0) + s_connect(2) +
                       s_connect(4) + s_connect(6))
    # UDP both ways, errors, a relayd that closes, the sweep.
    s["udp_v4"] = (hdr(CFG_AUTO_REPLY) + s_udp(0) + s_udp(0, paylen=1400) +
                   s_relay(R_UDP, 0, b"\x00", u16(100)) + s_relay(R_UDP_ERR, 0, b"\x00", u16(0), b"\x01") +
                   s_relay(R_CLOSED, 0) + s_udp(0) + seconds(30))
    s["udp_v6"] = (hdr(0) + s_udp(1, port=5353, paylen=200) + s_relay(R_UDP, 0, b"\x02", u16(10)) +
                   s_relay(R_UDP_ERR, 0, b"\x00", u16(0), b"\x02"))
    # UDP batches: bursts of one flow up (stackd packs them), echoed back as batches; relayd's
    # own batches, well-formed and broken (count off, cut short).
    burst = bytes([OP_UDP_BURST, 0, 0]) + u16(1400) + bytes([20])
    s["udp_batch"] = (hdr(CFG_AUTO_REPLY) + burst + bytes([OP_UDP_BURST, 1, 0]) + u16(100) +
                      bytes([7]) + s_relay(R_UDP, 0, b"\x10", u16(0), b"\x05", b"\x10" * 7) +
                      s_relay(R_UDP, 0, b"\x30", u16(0), b"\x03", b"\x20" * 5) +
                      s_relay(R_UDP, 0, b"\x50", u16(0), b"\x02", b"\x08" * 4) + burst +
                      s_relay(R_CLOSED, 0) + burst)
    s["udp_batch_small"] = (hdr(CFG_SMALL_B | CFG_AUTO_REPLY) + bytes([OP_UDP_BURST, 0, 0]) +
                            u16(3000) + bytes([9]) + bytes([OP_UDP_BURST, 2, 0]) + u16(0) +
                            bytes([40]))
    s["udp_odd"] = (hdr(CFG_SMALL_B) + s_udp(2, mode=0x10) + s_udp(2, mode=0x20) +
                    s_udp(3, mode=0x20) + s_udp(2, mode=2) + s_udp(2, mode=0x40, paylen=4000))
    # Pings both families, replies right and forged.
    s["echo"] = (hdr(0) + s_echo() + s_echo(True) + s_relay(R_ECHO, 0, b"\x00") +
                 s_relay(R_ECHO, 0, b"\x91", u16(1000)) + s_relay(R_ECHO, 0, b"\x21"))
    s["echo_auto"] = hdr(CFG_AUTO_REPLY) + s_echo(length=1400) + s_echo(True, length=8)
    s["icmp_misc"] = (hdr(0) + s_icmp_any(False, 3, 3, b"\0" * 4 + raw_packets()["udp4"][:28]) +
                      s_icmp_any(True, 135, 0, b"\0" * 20, True) +
                      s_icmp_any(True, 143, 0, b"\0\0\0\1" + b"\4\0\0\0" + b"\xff" * 16, True) +
                      s_icmp_any(True, 2, 0, b"\0\0\5\0" + b"\x60" + b"\0" * 47))
    # Fragments: UDP in order, reversed with a duplicate, overlapping; ping; TCP.
    s["frag_udp4"] = hdr(CFG_AUTO_REPLY) + s_frag(0, 0, 63, 1, bytes([0, 0]) + u16(3000))
    s["frag_udp6"] = hdr(0) + s_frag(0, 1 | 8, 31, 2, bytes([1, 0]) + u16(2000))
    s["frag_overlap"] = hdr(0) + s_frag(0, 4 | 2, 7, 3, bytes([0, 0]) + u16(500)) + seconds(20)
    s["frag_echo"] = hdr(0) + s_frag(1, 2, 15, 4, bytes([1]) + u16(7) + u16(2) + u16(2500))
    s["frag_tcp"] = (hdr(auto) + s_connect(0) + s_frag(2, 0, 31, 5, bytes([0]) + u16(1200)))
    # Raw packets, as they are and with repaired lengths and checksums.
    for name, pkt in raw_packets().items():
        s["raw_" + name] = hdr(CFG_AUTO_OPEN) + s_raw(pkt)
    s["raw_fixed"] = hdr(0) + s_raw(raw_packets()["udp4"][:40], fix=7)
    # Regression: consistent mode, idle timeout 5 s below the SYN hold's 10 s; a second SYN on
    # an established tuple leaves an approved SYN whose flow the idle sweep resets, and the
    # held-SYN sweep reset it a second time.
    s["regress_double_reset"] = (bytes([0xF7, 0x05]) + s_connect(7) + s_connect(7) +
                                 s_connect(4) + seconds(64))
    s["regress_relay_reset_held"] = (hdr(CFG_CONSISTENT) + s_tcp(3, SYN, opts=SYN_OPTS) +
                                     s_relay(R_OPEN_RESULT, 0, b"\x00") + s_relay(R_RESET, 0) +
                                     seconds(20))
    # relayd messages of any shape (flows 0.. are the known ones; 0xff: a fresh id).
    s["relay_raw"] = (hdr(auto) + s_connect(0) + s_udp(2) + bytes([OP_RELAY_RAW]) +
                      relay_raw_body(MSG["DATA"], 0, 0, 1, 10, b"0123456789") +
                      bytes([OP_RELAY_RAW]) + relay_raw_body(MSG["CREDIT"], 0, 1 << 20) +
                      bytes([OP_RELAY_RAW]) + relay_raw_body(MSG["UDP"], 1, 0, 1, 4, b"abcd") +
                      bytes([OP_RELAY_RAW]) + relay_raw_body(MSG["HELLO"], 0xff, 0, 2, 5, b"\x01"))
    return s


def stackd_link_seeds():
    """The link fuzzer: after its prelude, flows 0,1 are TCP (v4, v6), 2,3 UDP (v4, v6)."""
    s = {}
    auto = CFG_AUTO_OPEN | CFG_AUTO_CREDIT

    def raw(*a, **k):
        return bytes([0x00]) + relay_raw_body(*a, **k)  # < 0xaa: a raw relayd message

    def op(b):
        return bytes([0xff]) + b  # >= 0xaa: an operation of fuzz_stackd_input

    # Replies to the prelude's datagrams: {src = the original destination, dst = the client}.
    m4 = tg_addr(False, "198.51.100.2", 53) + tg_addr(False, "10.7.0.1", 40002)
    m6 = tg_addr(True, "2001:db8::2", 53) + tg_addr(True, "fd00::1", 40003)
    for cfg in (auto, auto | CFG_CONSISTENT, CFG_SMALL_WINDOW, CFG_SMALL_B | CFG_FEW_A):
        tag = "%02x" % cfg
        s["data_" + tag] = (bytes([cfg, 0]) + raw(MSG["DATA"], 0, 0, 1, 500, b"d" * 500) +
                            raw(MSG["CREDIT"], 0, 100) + raw(MSG["SHUT_WR"], 0) +
                            raw(MSG["CLOSED"], 0) + op(s_tcp(0, FIN | ACK)) +
                            op(steps(8)))
        s["udp_" + tag] = (bytes([cfg, 0]) + raw(MSG["UDP"], 2, 0, 1, len(m4) + 8, m4 + b"answer!!") +
                           raw(MSG["UDP"], 3, 0, 1, len(m6) + 4, m6 + b"v6v6") +
                           raw(MSG["UDP_ERROR"], 2, 1, 1, len(m4), m4) +
                           raw(MSG["UDP_ERROR"], 3, 2, 1, len(m6), m6) + raw(MSG["CLOSED"], 2) +
                           raw(MSG["RESET"], 3))
        echo = (tg_addr(False, "198.51.100.1", 0) + tg_addr(False, "10.7.0.1", 7) +
                bytes([0, 0, 0, 0, 0, 7, 0, 0]) + b"pong")
        s["echo_" + tag] = bytes([cfg, 0]) + raw(MSG["ICMP_ECHO"], 0xf0, 0, 1, len(echo), echo)
    # UDP_BATCH from relayd for the prelude's UDP flows: well-formed (an empty record among
    # them), a count beyond the records, a record past the end, bytes over; a burst from the
    # client that stackd packs, echoed back as a batch (CFG_AUTO_REPLY).
    def recs(*lens):
        return b"".join(struct.pack("<H", n) + bytes([0x41 + i]) * n for i, n in enumerate(lens))
    b4, b6 = m4 + recs(8, 0, 100, 3), m6 + recs(1200, 1200)
    s["udp_batch"] = (bytes([CFG_AUTO_REPLY, 0]) + raw(MSG["UDP_BATCH"], 2, 4, 1, len(b4), b4) +
                      raw(MSG["UDP_BATCH"], 3, 2, 1, len(b6), b6) +
                      raw(MSG["UDP_BATCH"], 2, 5, 1, len(b4), b4) +
                      raw(MSG["UDP_BATCH"], 2, 4, 1, len(b4) - 1, b4[:-1]) +
                      raw(MSG["UDP_BATCH"], 2, 3, 1, len(b4), b4) +
                      raw(MSG["UDP_BATCH"], 2, 0, 1, len(b4), b4) +
                      op(bytes([OP_UDP_BURST, 2, 0]) + u16(1400) + bytes([30])) +
                      op(bytes([OP_UDP_BURST, 3, 0]) + u16(0) + bytes([5])) +
                      raw(MSG["CLOSED"], 2) + raw(MSG["UDP_BATCH"], 2, 4, 1, len(b4), b4))
    # Regression: relayd sends SHUT_WR and CLOSED before stackd's SHUT_WR, then the client's
    # FIN ends the flow inside push_up(), which used it after freeing it.
    s["regress_closed_early"] = (bytes([auto, 0]) + raw(MSG["SHUT_WR"], 0) + raw(MSG["CLOSED"], 0) +
                                 op(s_tcp(0, FIN | ACK)) + op(steps(4)))
    # Regression, as libFuzzer found it (2026-11-24): both FINs passed while client bytes
    # still waited for relayd's credit; lwIP moved the pcb to TIME_WAIT and freed it 2 MSL
    # later without a callback, and the flow, still holding it, used it at the end.
    s["regress_time_wait_pcb"] = bytes.fromhex(
        "c9c9c9c9c9c9c9c9c9c9c9c9c9c9c90000000000c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9"
        "c6c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c9c93000000e00000000000000000010000002c8c8c8c8"
        "c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c8c80000000000ff000011"
        "0000ff000000ff0927")
    s["open_result"] = (bytes([CFG_CONSISTENT, 0]) + raw(MSG["OPEN_RESULT"], 0, 0) +
                        raw(MSG["OPEN_RESULT"], 1, 1) + raw(MSG["OPEN_RESULT"], 0xff, 2) +
                        op(seconds(30)))
    s["bad_shapes"] = (bytes([auto, 0]) + raw(MSG["DATA"], 0, 0, 0, 10) +
                       raw(MSG["CREDIT"], 1, 0, 1, 4, b"xxxx") + raw(0xE5, 0, 0) +
                       raw(MSG["DATA"], 1, 0, 0x81, 4, b"yyyy") + raw(MSG["DATA"], 0, 0, 2, 1, b"\x05") +
                       raw(MSG["TCP_OPEN"], 0xff, 0, 1, 44, b"\x04" * 44))
    s["window"] = (bytes([auto | CFG_SMALL_WINDOW, 0]) +
                   raw(MSG["DATA"], 0, 0, 1, 60000, b"w" * 64) * 5 + op(s_tcp(0, ACK)) +
                   op(steps(20)))
    return s


GW_MAC = bytes([0x02, 0x54, 0x47, 0x00, 0x00, 0xFE])
CLIENT_MAC = bytes([0x02, 0x00, 0x00, 0x00, 0x00, 0x01])


def frame(dst, src, ethertype, payload):
    return dst + src + struct.pack("!H", ethertype) + payload


def arp(op, sha, spa, tha, tpa):
    return struct.pack("!HHBBH", 1, 0x0800, 6, 4, op) + sha + socket.inet_aton(spa) + tha + \
        socket.inet_aton(tpa)


def stackd_tap_seeds():
    """TAP mode: every fuzz_stackd_input seed (packets get framed), and raw frames."""
    s = stackd_input_seeds()
    bcast = b"\xff" * 6
    f = {}
    f["arp_who_has_gw"] = frame(bcast, CLIENT_MAC, 0x0806,
                                arp(1, CLIENT_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.254"))
    f["arp_reply"] = frame(GW_MAC, CLIENT_MAC, 0x0806,
                           arp(2, CLIENT_MAC, "10.7.0.2", GW_MAC, "10.7.0.254"))
    f["arp_gratuitous"] = frame(bcast, CLIENT_MAC, 0x0806,
                                arp(1, CLIENT_MAC, "10.7.0.3", b"\0" * 6, "10.7.0.3"))
    # Regression (lwIP patch 0004): an ARP request cut after its types and lengths; lwIP read
    # the addresses past the frame.
    f["regress_arp_short"] = frame(GW_MAC, CLIENT_MAC, 0x0806,
                                   arp(1, CLIENT_MAC, "10.7.0.1", b"\0" * 6, "10.7.0.254")[:8])
    f["foreign_mac"] = frame(b"\x02\x99" * 3, CLIENT_MAC, 0x0800, raw_packets()["syn4"])
    f["broadcast_udp"] = frame(bcast, CLIENT_MAC, 0x0800, raw_packets()["udpbcast"])
    f["vlan"] = frame(GW_MAC, CLIENT_MAC, 0x8100, b"\x00\x05\x08\x00" + raw_packets()["syn4"])
    f["ethertype_mismatch"] = frame(GW_MAC, CLIENT_MAC, 0x0800, raw_packets()["syn6"])
    f["unknown_type"] = frame(GW_MAC, CLIENT_MAC, 0x88CC, b"lldp" * 10)
    ns_target = socket.inet_pton(socket.AF_INET6, "fd00::fe")
    ns = icmp(True, "fd00::1", "ff02::1:ff00:fe", 135, 0,
              b"\0" * 4 + ns_target + bytes([1, 1]) + CLIENT_MAC)
    ns = ns[:7] + b"\xff" + ns[8:]  # hop limit 255, as neighbour discovery requires
    f["ns_for_gw"] = frame(b"\x33\x33\xff\x00\x00\xfe", CLIENT_MAC, 0x86DD, ns)
    f["tiny"] = GW_MAC + CLIENT_MAC
    for name, fr in f.items():
        s["frame_" + name] = bytes([CFG_AUTO_OPEN | CFG_AUTO_REPLY, 0]) + s_raw(fr, fix=0x80)
    return s


# ---- the flow API fuzzer (fuzz/fuzz_link_desc.c, do_op) ----------------------------------

L_HELLO, L_RAW, L_OPEN, L_DATA, L_CREDIT, L_SHUT, L_RESET, L_CLOSED, L_UDP, L_ICMP, L_API, L_STALL, L_REPLACE = (
    0, 1, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13)
L_UDP_BATCH = 14
FRESH = 0xff  # selector: a fresh flow id


def l_addrs(v6, sport, dport):
    ip = socket.inet_pton(socket.AF_INET6, "2001:db8::5") if v6 else socket.inet_aton("192.0.2.5")
    return bytes([1 if v6 else 0]) + ip + u16(sport) + u16(dport)


def link_desc_seeds():
    s = {}
    open4 = bytes([L_OPEN, FRESH, 0]) + l_addrs(False, 40000, 80)
    open6 = bytes([L_OPEN, FRESH, 1]) + l_addrs(True, 40001, 443)
    for cfg in (0x01, 0x05, 0x25, 0xa5, 0x08 | 0x01, 0x02, 0x03):
        t = "%02x" % cfg
        s["tcp_" + t] = (bytes([cfg]) + open4 + bytes([L_DATA, 0]) + u16(1000) +
                         bytes([L_CREDIT, 0]) + u32(5000) + bytes([L_API, 1, 0]) + u16(3000) +
                         bytes([L_API, 2, 0]) + u32(1000) + bytes([L_SHUT, 0]) +
                         bytes([L_API, 3, 0, L_API, 5, 0]) + open6 + bytes([L_RESET, 1]))
    s["udp"] = (bytes([0x60]) + bytes([L_UDP, FRESH]) + u16(20) + l_addrs(False, 5353, 53) +
                b"q" * 16 + bytes([L_API, 6, 0]) + l_addrs(False, 53, 5353) + u16(10) +
                bytes([L_API, 7, 0]) + l_addrs(False, 53, 5353) + b"\x01" +
                bytes([L_CLOSED, 0, L_UDP, 0]) + u16(8) + l_addrs(True, 1, 2) + b"x" * 8)
    # UDP batches from stackd: well-formed (5 records, one empty), count off, cut, a forged
    # length, one whose first datagram makes the relay close the flow; the relay echoes each
    # datagram, so the API packs its answers. Odd and even lengths: on_udp_batch and on_udp.
    def batch(sel, mode, lens, first=0x61):
        b = bytes([L_UDP_BATCH, sel, mode, len(lens) - 1]) + l_addrs(False, 6000, 7)
        for n in lens:
            b += u16(n) + (bytes([first]) if n else b"")
        return b
    recs = [1400, 0, 1, 1400, 10]
    udp_batch = (bytes([0x60]) + batch(FRESH, 0, recs) + batch(0, 0, recs) + batch(0, 1, recs) +
                 batch(0, 0x81, recs) + batch(0, 2, recs) + batch(0, 3, recs) + u16(60000) +
                 batch(0, 0, [5, 5], 0xcc) + batch(0, 0, recs))
    s["udp_batch_even"] = udp_batch + (b"" if len(udp_batch) % 2 == 0 else bytes([L_STALL]))
    s["udp_batch_odd"] = udp_batch + (b"" if len(udp_batch) % 2 == 1 else bytes([L_STALL]))
    s["icmp"] = (bytes([0x40]) + bytes([L_ICMP]) + u16(16) + l_addrs(False, 7, 0) + b"\0" * 16 +
                 bytes([L_API, 9, 0]) + l_addrs(False, 0, 7) + u16(12))
    s["hello_again"] = (bytes([0x01]) + open4 + bytes([L_HELLO, 2]) + u32(65536) +
                        bytes([L_HELLO, 1]) + u32(0) + bytes([L_REPLACE]) + open4)
    s["no_hello"] = bytes([0x10]) + open4 + bytes([L_HELLO, 2]) + u32(1000) + open4
    s["stall"] = (bytes([0x21]) + open4 + bytes([L_STALL]) +
                  (bytes([L_API, 1, 0]) + u16(60000)) * 4 + bytes([L_STALL]))
    raw = bytes([L_RAW])
    s["raw"] = (bytes([0x01]) + open4 +
                raw + bytes([MSG["DATA"], 0]) + u32(0) + bytes([0, 1]) + u16(4) + b"abcd" +
                raw + bytes([MSG["DATA"], 0]) + u32(0) + bytes([0, 0x81]) + u16(4) + b"abcd" +
                raw + bytes([MSG["CREDIT"], 0]) + u32(1 << 31) + bytes([0, 0]) + u16(0) +
                raw + bytes([MSG["TCP_OPEN"], 0]) + u32(1) + bytes([0, 2]) + u16(44) + b"\x07" +
                raw + bytes([0xee, 0xf1]) + u32(0) + bytes([0, 0]) + u16(0))
    return s


# ---- fuzz_config ---------------------------------------------------------------------------


def config_keys():
    """(section, key) pairs from tungate/config.c's table of keys."""
    with open(os.path.join(ROOT, "tungate", "config.c")) as f:
        return re.findall(r'\{"([a-z0-9_]+)", "([a-z0-9_]+)", set_\w+\}', f.read())


VALUES = {
    "name": "tg0", "mtu": "1500", "address": "198.18.0.1/24", "netns": "client",
    "mode": "tap", "gateway_mac": "02:54:47:00:00:01", "gateway_ipv4": "192.168.7.1/24",
    "gateway_ipv6": "fd00::1", "max_flows": "4096", "connect_timeout": "10",
    "level": "debug", "handshake": "consistent", "tcp_idle_timeout": "7200",
    "tcp_half_close_timeout": "300", "udp_timeout": "60", "dns_timeout": "10",
    "upstream": "socks5", "socks5_server": "[2001:db8::1]:1080", "socks5_user": "alice",
    "socks5_password": "secret", "file": "/run/tungate/tg0.stats", "tunio_user": "_tungate-tunio",
    "stackd_user": "_tungate-stackd", "relayd_user": "_tungate-relayd",
    "chroot": "/run/tungate/empty", "relayd_nofile": "65536", "seccomp": "yes",
}


def config_seeds():
    s = {}
    keys = config_keys()
    by_section = {}
    for sec, key in keys:
        by_section.setdefault(sec, []).append(key)
    text = ""
    for sec, ks in by_section.items():
        text += "[%s]\n" % sec + "".join("%s = %s\n" % (k, VALUES.get(k, "1")) for k in ks) + "\n"
    s["all_keys"] = b"\x00\xff" + text.encode()
    s["comments"] = (b"\x00\xff; comment\n# another\n[tun]\nname=tg1 ; trailing\n\n[stack]\n"
                     b"handshake = fast\n")
    s["errors"] = b"\x00\x20[tun]\nmtu = 99999999999999999999\n"
    s["unknown"] = b"\x00\x40[nope]\nkey = v\n[tun]\nnope = 1\n"
    s["long_line"] = b"\x00\xff[tun]\nname = " + b"x" * 300 + b"\n"
    s["no_section"] = b"\x00\x08mtu = 1500\n"
    s["socks_pair"] = b"\x00\xff[relay]\nupstream = socks5\nsocks5_user = a\n"
    example = os.path.join(ROOT, "examples", "tungate.conf")
    if os.path.exists(example):
        with open(example, "rb") as f:
            s["example"] = b"\x00\xff" + f.read()
    for sec, key in keys:
        s["set_%s_%s" % (sec, key)] = b"\x01\xff" + ("%s\0%s\0%s" % (sec, key, VALUES.get(key, "1"))).encode()
    return s


def config_dict():
    words = set()
    for sec, key in config_keys():
        words.update(("[%s]" % sec, key, "%s = " % key))
    words.update(VALUES.values())
    words.update(("=", ";", "#", "\n", "[", "]", "/", ":", "yes", "no", "fast", "tun", "tap",
                  "direct", "0", "4294967296", "-1", " "))
    out = "# Dictionary for fuzz_config, written by fuzz/make-seeds.py from tungate/config.c.\n"
    for w in sorted(words):
        out += '"%s"\n' % "".join("\\x%02x" % ord(c) if c in '"\\' or not c.isprintable()
                                  else c for c in w)
    return out


# ---- fuzz_stats ----------------------------------------------------------------------------

STATS_MAGIC, STATS_VERSION, NAME_LEN, ENTRIES, NPROC = 0x53544754, 1, 40, 64, 4


def stats_file(regions):
    out = struct.pack("<IIII", STATS_MAGIC, STATS_VERSION, NPROC, 0)
    for i in range(NPROC):
        proc, pid, count, entries = regions[i] if i < len(regions) else (b"", 0, 0, [])
        body = b"".join(struct.pack("<%dsQ" % NAME_LEN, n, v) for n, v in entries)
        body = body.ljust(ENTRIES * (NAME_LEN + 8), b"\0")
        out += struct.pack("<16sIIQ", proc, pid, count, 1700000000000) + body
    return out


def stats_seeds():
    names = [b"pkts_in", b"pkts_out", b"flows_total", b"drop_malformed", b"credit_errors"]
    entries = [(n, i * 1000 + 7) for i, n in enumerate(names)]
    s = {}
    s["normal"] = stats_file([(b"tungate", 1, 0, []), (b"tunio", 2, 5, entries),
                              (b"stackd", 3, 5, entries), (b"relayd", 4, 5, entries)])
    s["empty"] = stats_file([])
    s["hostile"] = stats_file([(b'st"a\\ck\x1b[31m', 9, 1000, [(b'\x07"\\' + b"A" * 37, 2 ** 64 - 1)]),
                               (b"X" * 16, 0xFFFFFFFF, 64, [(b"Y" * 40, 1)] * 64)])
    s["short"] = s["normal"][:100]
    return s


# ---- fuzz_vnet -----------------------------------------------------------------------------


def vnet_seeds():
    """fuzz/fuzz_vnet.c: mode byte; even: virtio_net_hdr (host order) + packet; odd: segments."""
    s = {}

    def hdr(flags, gso, gso_size, start, off, hdr_len=0):
        return struct.pack("<BBHHHH", flags, gso, hdr_len, gso_size, start, off)

    for v6 in (False, True):
        src, dst = ("2001:db8::1", "2001:db8:1::2") if v6 else ("198.18.0.1", "198.18.1.2")
        gso, l4 = (4, 40) if v6 else (1, 20)
        name = "v6" if v6 else "v4"
        data = bytes(range(256)) * 8
        pkt = tcp(v6, src, dst, 40000, 80, 1000, 1, 0x10, data=data)
        s["rx-plain-" + name] = b"\0" + hdr(0, 0, 0, 0, 0) + pkt
        s["rx-csum-" + name] = b"\0" + hdr(1, 0, 0, l4, 16) + pkt
        s["rx-tso-" + name] = b"\0" + hdr(1, gso, 1448, l4, 16, l4 + 20) + pkt
        u = udp(v6, src, dst, 5353, 53, b"q" * 100)
        s["rx-udp-" + name] = b"\0" + hdr(1, 0, 0, l4, 6) + u
        segs = b""
        for i in range(4):
            flags = 0x18 if i == 3 else 0x10
            seg = tcp(v6, src, dst, 40000, 80, 1000 + 1000 * i, 1, flags, data=data[:1000])
            segs += u16(len(seg)) + seg
        s["gso-" + name] = b"\1" + segs
    return s


# ---- fuzz_socks5 ---------------------------------------------------------------------------


def socks5_seeds():
    """fuzz/fuzz_socks5.c: a configuration byte, then the proxy's bytes in chunks."""
    s = {}
    v4 = bytes([5, 0, 0, 1]) + socket.inet_aton("192.0.2.1") + u16(1080)
    v6 = bytes([5, 0, 0, 4]) + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + u16(1080)
    dom = bytes([5, 0, 0, 3, 11]) + b"example.com" + u16(80)

    def chunks(data, size=0):
        return bytes([size]) + data

    for cfg, name in ((0x00, "none"), (0x01, "auth")):
        method = bytes([5, 2 if cfg else 0])
        auth = bytes([1, 0]) if cfg else b""
        for rep, tag in ((v4, "v4"), (v6, "v6"), (dom, "domain")):
            s["%s_%s" % (name, tag)] = bytes([cfg]) + chunks(method + auth + rep + b"server")
        s["%s_bytewise" % name] = bytes([cfg]) + chunks(method + auth + v4, 1)
    for rep in range(1, 10):
        s["refused_%d" % rep] = bytes([0x00]) + chunks(bytes([5, 0, 5, rep, 0, 1]) + b"\0" * 6)
    s["no_method"] = bytes([0x00]) + chunks(bytes([5, 0xff]))
    s["auth_fail"] = bytes([0x01]) + chunks(bytes([5, 2, 1, 1]))
    s["bad_version"] = bytes([0x00]) + chunks(bytes([4, 0]))
    # UDP ASSOCIATE (bit 2): the relay address in the reply, "any" (zeros), a name, refused.
    any4 = bytes([5, 0, 0, 1, 0, 0, 0, 0]) + u16(40000)
    for cfg, name in ((0x04, "assoc"), (0x05, "assoc_auth"), (0x06, "assoc_v6")):
        method = bytes([5, 2 if cfg & 1 else 0])
        auth = bytes([1, 0]) if cfg & 1 else b""
        for rep, tag in ((v4, "v4"), (v6, "v6"), (dom, "domain"), (any4, "any")):
            s["%s_%s" % (name, tag)] = bytes([cfg]) + chunks(method + auth + rep)
    s["assoc_unsupported"] = bytes([0x04]) + chunks(bytes([5, 0, 5, 7, 0, 1]) + b"\0" * 6)
    return s


def socks5_udp_seeds():
    """fuzz/fuzz_socks5_udp.c: one datagram from a SOCKS5 UDP relay."""
    v4 = bytes([0, 0, 0, 1]) + socket.inet_aton("192.0.2.1") + u16(53)
    v6 = bytes([0, 0, 0, 4]) + socket.inet_pton(socket.AF_INET6, "2001:db8::1") + u16(443)
    return {
        "v4": v4 + b"payload",
        "v4_empty": v4,
        "v6": v6 + b"payload",
        "frag": bytes([0, 0, 1, 1]) + v4[4:] + b"x",
        "frag_last": bytes([0, 0, 0x81, 4]) + v6[4:] + b"x",
        "rsv": bytes([0, 1, 0, 1]) + v4[4:],
        "domain": bytes([0, 0, 0, 3, 7]) + b"example" + u16(53) + b"x",
        "atyp": bytes([0, 0, 0, 2]) + v4[4:],
        "short": v4[:7],
        "tiny": bytes([0, 0]),
    }


# ---- main ----------------------------------------------------------------------------------


def write(outdir, target, seeds):
    d = os.path.join(outdir, target)
    os.makedirs(d, exist_ok=True)
    for f in os.listdir(d):
        os.unlink(os.path.join(d, f))
    for name, data in seeds.items():
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    return len(seeds)


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: make-seeds.py OUTDIR")
    outdir = sys.argv[1]
    counts = {
        "fuzz_stackd_input": write(outdir, "fuzz_stackd_input", stackd_input_seeds()),
        "fuzz_stackd_link": write(outdir, "fuzz_stackd_link", stackd_link_seeds()),
        "fuzz_stackd_tap": write(outdir, "fuzz_stackd_tap", stackd_tap_seeds()),
        "fuzz_link_desc": write(outdir, "fuzz_link_desc", link_desc_seeds()),
        "fuzz_config": write(outdir, "fuzz_config", config_seeds()),
        "fuzz_stats": write(outdir, "fuzz_stats", stats_seeds()),
        "fuzz_vnet": write(outdir, "fuzz_vnet", vnet_seeds()),
        "fuzz_socks5": write(outdir, "fuzz_socks5", socks5_seeds()),
        "fuzz_socks5_udp": write(outdir, "fuzz_socks5_udp", socks5_udp_seeds()),
    }
    with open(os.path.join(outdir, "config.dict"), "w") as f:
        f.write(config_dict())
    print("make-seeds: " + ", ".join("%s %d" % kv for kv in counts.items()))


if __name__ == "__main__":
    main()
