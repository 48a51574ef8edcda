#!/usr/bin/env python3
"""bench/run.sh's bookkeeping: raw records in, latest.{json,md,png} out. Standard library only
(and gnuplot for the chart).

  report.py meta FILE KEY=VALUE...                 merge run facts into FILE (made on first use,
                                                   with the machine's nproc, CPU model, kernel)
  report.py record RAW KEY=VALUE... [--iperf F | --wrk F | --json F]
                                                   append one measurement to RAW (JSON lines);
                                                   exit 1 if the attached output shows a failure
  report.py udp-ok F                               exit 0 if iperf3 -u output F got packets through
  report.py report RAW META OUTDIR                 medians, ratios, targets: OUTDIR/latest.json,
                                                   latest.md (also printed), latest.png
"""

import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time


def num(v):
    try:
        if re.fullmatch(r"-?\d+", v):
            return int(v)
        return float(v) if re.fullmatch(r"-?\d+\.\d*(e-?\d+)?", v) else v
    except TypeError:
        return v


def kv(args):
    out = {}
    for a in args:
        k, _, v = a.partition("=")
        out[k] = num(v)
    return out


# ---- parsers ---------------------------------------------------------------------------------
def parse_iperf(path):
    try:
        with open(path) as f:
            d = json.load(f)
    except (OSError, ValueError) as e:
        return {"ok": False, "error": f"no iperf3 JSON ({e.__class__.__name__})"}
    if d.get("error"):
        return {"ok": False, "error": d["error"]}
    end = d.get("end", {})
    start = d.get("start", {}).get("test_start", {})
    r = {"ok": True, "protocol": start.get("protocol"), "streams": start.get("num_streams"),
         "reverse": start.get("reverse"), "blksize": start.get("blksize")}
    if r["protocol"] == "UDP":
        rcv = end.get("sum_received") or end.get("sum", {})
        snd = end.get("sum_sent") or end.get("sum", {})
        pk, lost, secs = rcv.get("packets", 0), rcv.get("lost_packets", 0), rcv.get("seconds", 0) or 1e-9
        got = max(pk - lost, 0) * (r["blksize"] or 0)
        r.update(sent_bps=snd.get("bits_per_second"), packets=pk, lost_packets=lost,
                 lost_percent=rcv.get("lost_percent"), goodput_bps=got * 8 / secs, bytes=got,
                 seconds=secs, jitter_ms=rcv.get("jitter_ms"))
        if pk == 0:
            r.update(ok=False, error="no UDP packets counted")
    else:
        rcv, snd = end.get("sum_received", {}), end.get("sum_sent", {})
        r.update(bps=rcv.get("bits_per_second"), bytes=rcv.get("bytes"), seconds=rcv.get("seconds"),
                 retransmits=snd.get("retransmits"))
        if not rcv.get("bytes"):
            r.update(ok=False, error="no bytes received")
    return r


UNIT_US = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6, "h": 3600e6}


def to_us(s):
    m = re.fullmatch(r"([\d.]+)(us|ms|s|m|h)", s)
    return float(m.group(1)) * UNIT_US[m.group(2)] if m else None


def parse_wrk(path):
    try:
        text = open(path).read()
    except OSError as e:
        return {"ok": False, "error": str(e)}
    r = {"ok": True}
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    if not m:
        return {"ok": False, "error": "no Requests/sec in wrk output: " + text[-300:]}
    r["rps"] = float(m.group(1))
    m = re.search(r"(\d+) requests in ([\d.]+\w+)", text)
    if m:
        r["requests"] = int(m.group(1))
    m = re.search(r"Latency\s+(\S+)\s+(\S+)\s+(\S+)", text)
    if m:
        r["lat_avg_us"] = to_us(m.group(1))
    for p, v in re.findall(r"^\s+(\d+)%\s+(\S+)\s*$", text, re.M):
        r[f"p{p}_us"] = to_us(v)
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    errs = sum(map(int, m.groups())) if m else 0
    m2 = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    r["errors"] = errs
    r["non2xx"] = int(m2.group(1)) if m2 else 0
    if not r.get("requests"):
        r.update(ok=False, error="no request completed")
    # A few connect/read errors are normal for Connection: close at high rate (the server closes);
    # call the run failed only when errors outnumber the successful requests.
    elif r["non2xx"] or errs > r.get("requests", 0):
        r.update(ok=False, error=f"{errs} socket errors, {r['non2xx']} non-2xx")
    return r


# ---- meta ------------------------------------------------------------------------------------
def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1048576:.1f} GiB"
    except OSError:
        pass
    return {"nproc": os.cpu_count(), "cpu_model": model, "kernel": platform.release(), "memory": mem,
            "os": debian_version()}


def debian_version():
    try:
        return "Debian " + open("/etc/debian_version").read().strip()
    except OSError:
        return platform.platform()


def cmd_meta(path, args):
    try:
        meta = json.load(open(path))
    except (OSError, ValueError):
        meta = {"started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "machine": machine()}
        for tool, cmd in (("iperf3", ["iperf3", "--version"]), ("wrk", ["wrk", "--version"]),
                          ("nginx", ["nginx", "-v"])):
            try:
                p = subprocess.run(cmd, capture_output=True, text=True, timeout=5)
                meta.setdefault("tools", {})[tool] = (p.stdout + p.stderr).strip().splitlines()[0]
            except (OSError, IndexError, subprocess.SubprocessError):
                pass
    meta.update(kv(args))
    with open(path, "w") as f:
        json.dump(meta, f, indent=1)
    return 0


def cmd_record(raw, args):
    extra = None
    if len(args) >= 2 and args[-2] in ("--iperf", "--wrk", "--json"):
        kind, path = args[-2], args[-1]
        args = args[:-2]
        if kind == "--iperf":
            extra = parse_iperf(path)
        elif kind == "--wrk":
            extra = parse_wrk(path)
        else:
            try:
                extra = json.load(open(path))
            except (OSError, ValueError) as e:
                extra = {"ok": False, "error": str(e)}
    rec = kv(args)
    rec["time"] = time.time()
    if extra:
        rec.update(extra)
    rec.setdefault("ok", True)
    with open(raw, "a") as f:
        f.write(json.dumps(rec) + "\n")
    return 0 if rec["ok"] else 1


def cmd_udp_ok(path):
    r = parse_iperf(path)
    return 0 if r.get("ok") and r.get("packets", 0) > r.get("lost_packets", 0) else 1


# ---- report ----------------------------------------------------------------------------------
def stats(vals):
    vals = [v for v in vals if v is not None]
    if not vals:
        return None
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "n": len(vals)}


class Data:
    def __init__(self, recs):
        self.recs = recs

    def sel(self, phase, mtu=None, **kw):
        out = []
        for r in self.recs:
            if r.get("phase") != phase or (mtu is not None and r.get("mtu") != mtu):
                continue
            if all(r.get(k) == v for k, v in kw.items()):
                out.append(r)
        return out

    def ok(self, phase, mtu, test):
        return [r for r in self.sel(phase, mtu, test=test) if r.get("ok")]

    def failed(self, phase, mtu, test):
        return [r for r in self.sel(phase, mtu, test=test) if not r.get("ok")]

    def phase_failed(self, phase, mtu):
        return bool(self.sel(phase, mtu, test="phase_failed"))


def cpu_s_per_gb(r, keys):
    b = r.get("bytes") or 0
    if b <= 0:
        return None
    ticks = sum(r.get(f"cpu_{k}", 0) for k in keys)
    return ticks / r.get("clk_tck", 100) / (b / 1e9)


def fmt(v, nd=2):
    if v is None:
        return "–"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    return f"{v:.{nd}f}"


def fmt_stats(s, nd=2):
    if not s:
        return "–"
    if s["n"] == 1:
        return fmt(s["median"], nd)
    return f"{fmt(s['median'], nd)} [{fmt(s['min'], nd)}–{fmt(s['max'], nd)}]"


def build(recs, meta):
    d = Data(recs)
    large = meta.get("large_mtu", 65520)
    kernel_only = bool(meta.get("kernel_only"))
    udp_sup = [r.get("value") for r in d.sel("tungate", 1500, test="udp_supported")]
    udp_supported = bool(udp_sup and udp_sup[-1] == 1)
    figs = []

    def tg_missing(mtu, test):
        if kernel_only:
            return "not run (" + (meta.get("build_note") or "--kernel-only") + ")"
        if d.phase_failed("tungate", mtu):
            return "tungate did not come up"
        f = d.failed("tungate", mtu, test)
        if f:
            return "failed: " + str(f[-1].get("error", "?"))[:80]
        return "not measured"

    def add(fid, label, unit, k, t, *, kind="ratio", target=None, goal=None, note="", nd=2,
            tmiss=None, higher_better=True):
        """kind: ratio (tungate/kernel), delta (tungate-kernel), abs (tungate value only)."""
        fig = {"id": fid, "label": label, "unit": unit, "kernel": k, "tungate": t, "kind": kind,
               "target": target, "note": note, "nd": nd, "higher_better": higher_better}
        if t and k and kind == "ratio" and k["median"]:
            fig["ratio"] = t["median"] / k["median"]
        if t and k and kind == "delta":
            fig["delta"] = t["median"] - k["median"]
        if goal is not None:
            if t is None:
                fig["status"] = tmiss or "NOT RUN"
            else:
                v = {"ratio": fig.get("ratio"), "delta": fig.get("delta"), "abs": t["median"]}[kind]
                if kind == "cost":
                    v = fig.get("cost")
                fig["status"] = "NOT RUN" if v is None else ("MET" if goal(v) else "NOT MET")
        elif t is None and tmiss:
            fig["status"] = tmiss
        figs.append(fig)
        return fig

    # TCP throughput
    for mtu in (1500, large):
        for s in (1, 8):
            for dirn, dname in (("up", "upload"), ("down", "download")):
                test = f"tcp_{s}_{dirn}"
                k = stats([r["bps"] / 1e9 for r in d.ok("kernel", mtu, test)])
                t = stats([r["bps"] / 1e9 for r in d.ok("tungate", mtu, test)])
                thr = (0.30 if mtu == 1500 else 0.50) if s == 1 else None
                add(f"{test}_{mtu}", f"TCP {s} stream{'s' if s > 1 else ''} {dname}, MTU {mtu}", "Gbit/s",
                    k, t, target=f"≥ {thr:.2f}×" if thr else None,
                    goal=(lambda v, thr=thr: v >= thr) if thr else None, tmiss=tg_missing(mtu, test))
    # CPU per GB
    for mtu in (1500, large):
        for dirn, dname in (("up", "upload"), ("down", "download")):
            test = f"tcp_1_{dirn}"
            t = stats([cpu_s_per_gb(r, ("tunio", "stackd", "relayd")) for r in d.ok("tungate", mtu, test)])
            if mtu == 1500:
                add(f"cpu_tg_{dirn}_{mtu}", f"CPU s/GB in tunio+stackd+relayd, 1-stream {dname}, MTU {mtu}",
                    "s/GB", None, t, kind="abs", target="≤ 1.5 s" if mtu == 1500 else None,
                    goal=(lambda v: v <= 1.5) if mtu == 1500 else None, tmiss=tg_missing(mtu, test),
                    higher_better=False)
            kb = stats([cpu_s_per_gb(r, ("busy",)) for r in d.ok("kernel", mtu, test)])
            tb = stats([cpu_s_per_gb(r, ("busy",)) for r in d.ok("tungate", mtu, test)])
            add(f"cpu_machine_{dirn}_{mtu}", f"CPU s/GB, whole machine (all processes + kernel), 1-stream {dname}, MTU {mtu}",
                "s/GB", kb, tb, higher_better=False, tmiss=tg_missing(mtu, test))
            if mtu == 1500:
                ks = stats([cpu_s_per_gb(r, ("sys",)) for r in d.ok("kernel", mtu, test)])
                ts = stats([cpu_s_per_gb(r, ("sys",)) for r in d.ok("tungate", mtu, test)])
                add(f"cpu_sys_{dirn}_{mtu}", f"CPU s/GB, machine system+irq+softirq, 1-stream {dname}, MTU {mtu}",
                    "s/GB", ks, ts, higher_better=False, tmiss=tg_missing(mtu, test))
    # request/response
    for p in ("p50", "p99"):
        k = stats([r.get(f"{p}_us") for r in d.ok("kernel", 1500, "rr")])
        t = stats([r.get(f"{p}_us") for r in d.ok("tungate", 1500, "rr")])
        add(f"rr_{p}", f"HTTP request/response latency {p} (1 connection)", "µs", k, t, kind="delta",
            target="added ≤ 30 µs" if p == "p50" else None, goal=(lambda v: v <= 30) if p == "p50" else None,
            nd=1, tmiss=tg_missing(1500, "rr"), higher_better=False)
    k = stats([r.get("rps") for r in d.ok("kernel", 1500, "rr")])
    t = stats([r.get("rps") for r in d.ok("tungate", 1500, "rr")])
    add("rr_rps", "HTTP requests/s (1 connection, keep-alive)", "req/s", k, t, nd=0, tmiss=tg_missing(1500, "rr"))
    k = stats([r.get("rps") for r in d.ok("kernel", 1500, "cps")])
    t = stats([r.get("rps") for r in d.ok("tungate", 1500, "cps")])
    add("cps", "Connections/s (HTTP, Connection: close, 64 connections)", "conn/s", k, t, target="≥ 0.50×",
        goal=lambda v: v >= 0.5, nd=0, tmiss=tg_missing(1500, "cps"))
    # UDP
    udp_miss = "not supported yet" if not kernel_only and not udp_supported and d.sel("tungate", 1500, test="udp_supported") else None
    k = stats([r.get("lost_percent") for r in d.ok("kernel", 1500, "udp_200m")])
    t = stats([r.get("lost_percent") for r in d.ok("tungate", 1500, "udp_200m")])
    add("udp_200m_loss", "UDP at 200 Mbit/s: loss", "%", k, t, kind="abs", target="< 0.1 %",
        goal=lambda v: v < 0.1, nd=3, tmiss=udp_miss or tg_missing(1500, "udp_200m"), higher_better=False)
    k = stats([r.get("goodput_bps", 0) / 1e6 for r in d.ok("kernel", 1500, "udp_max")])
    t = stats([r.get("goodput_bps", 0) / 1e6 for r in d.ok("tungate", 1500, "udp_max")])
    add("udp_max", "UDP unlimited (-b 0): goodput at the receiver", "Mbit/s", k, t, target="≥ 0.50×",
        goal=lambda v: v >= 0.5, nd=0, tmiss=udp_miss or tg_missing(1500, "udp_max"))
    k = stats([r.get("lost_percent") for r in d.ok("kernel", 1500, "udp_max")])
    t = stats([r.get("lost_percent") for r in d.ok("tungate", 1500, "udp_max")])
    add("udp_max_loss", "UDP unlimited (-b 0): loss", "%", k, t, kind="abs", nd=1,
        tmiss=udp_miss or tg_missing(1500, "udp_max"), higher_better=False)
    # memory
    mem = {r.get("stage"): r for r in d.sel("tungate", 1500, test="mem")}

    def msum(r, kind):
        vals = [r.get(f"{kind}_{n}", -1) for n in ("tunio", "stackd", "relayd")]
        return None if any(v is None or v < 0 for v in vals) else sum(vals)

    mem_rows = {}
    for stage in ("idle", "small", "large", "after_load"):
        r = mem.get(stage)
        if r:
            mem_rows[stage] = {"conns": r.get("conns"), "pss_kb": msum(r, "pss"), "rss_kb": msum(r, "rss"),
                               "per_process": {n: {"rss_kb": r.get(f"rss_{n}"), "pss_kb": r.get(f"pss_{n}")}
                                               for n in ("tunio", "stackd", "relayd")}}
    idle = mem_rows.get("idle")
    one = lambda v: {"median": v, "min": v, "max": v, "n": 1} if v is not None else None  # noqa: E731
    add("mem_idle_pss", "Memory idle, PSS of the three", "MiB", None,
        one(idle["pss_kb"] / 1024 if idle and idle["pss_kb"] is not None else None), kind="abs",
        target="≤ 8 MiB", goal=lambda v: v <= 8, tmiss=tg_missing(1500, "mem"), higher_better=False,
        note=f"RSS sum {idle['rss_kb'] / 1024:.1f} MiB" if idle and idle["rss_kb"] is not None else "")
    al = mem_rows.get("after_load")
    add("mem_after_load", "Memory after the load tests, no connections open, PSS of the three", "MiB", None,
        one(al["pss_kb"] / 1024 if al and al["pss_kb"] is not None else None), kind="abs",
        tmiss=tg_missing(1500, "mem"), higher_better=False,
        note=f"RSS sum {al['rss_kb'] / 1024:.1f} MiB" if al and al["rss_kb"] is not None else "")
    for stage, target in (("small", None), ("large", 8192)):
        r = mem_rows.get(stage)
        per = None
        if r and idle and r["pss_kb"] is not None and idle["pss_kb"] is not None and r["conns"]:
            per = (r["pss_kb"] - idle["pss_kb"]) * 1024 / r["conns"]
            per_rss = (r["rss_kb"] - idle["rss_kb"]) * 1024 / r["conns"]
            r["bytes_per_conn_pss"], r["bytes_per_conn_rss"] = per, per_rss
        add(f"mem_{stage}_per_conn", f"Memory per idle TCP connection at {r['conns'] if r else '?'} connections (PSS)",
            "bytes", None, one(per), kind="abs", nd=0, target="≤ 8 KiB" if target else None,
            goal=(lambda v: v <= 8192) if target else None, tmiss=tg_missing(1500, "mem"), higher_better=False,
            note=(f"PSS sum {r['pss_kb'] / 1024:.1f} MiB, RSS {r.get('bytes_per_conn_rss', 0):.0f} B/conn" if r and per is not None else ""))
    # bulk flow with idle connections
    ka = stats([r["bps"] / 1e9 for r in d.ok("kernel", 1500, "bulk_alone")])
    kw = stats([r["bps"] / 1e9 for r in d.ok("kernel", 1500, "bulk_with_idle")])
    ta = stats([r["bps"] / 1e9 for r in d.ok("tungate", 1500, "bulk_alone")])
    tw = stats([r["bps"] / 1e9 for r in d.ok("tungate", 1500, "bulk_with_idle")])
    held = {ph: max([r.get("client_total", 0) for r in d.sel(ph, 1500, test="hold")] or [0]) for ph in ("kernel", "tungate")}
    add("bulk_alone", "Bulk flow alone (1-stream upload, MTU 1500)", "Gbit/s", ka, ta, tmiss=tg_missing(1500, "bulk_alone"))
    f = add("bulk_with_idle", f"Same flow with {held['tungate'] or held['kernel']} idle connections open",
            "Gbit/s", kw, tw, tmiss=tg_missing(1500, "bulk_with_idle"))
    cost_k = 1 - kw["median"] / ka["median"] if ka and kw and ka["median"] else None
    cost_t = 1 - tw["median"] / ta["median"] if ta and tw and ta["median"] else None
    c = {"id": "bulk_cost", "label": "Throughput lost to the idle connections (1 − with/alone)", "unit": "%",
         "kernel": one(cost_k * 100 if cost_k is not None else None),
         "tungate": one(cost_t * 100 if cost_t is not None else None), "kind": "abs", "target": "≤ 20 %",
         "nd": 1, "higher_better": False, "note": ""}
    c["status"] = ("MET" if cost_t <= 0.20 else "NOT MET") if cost_t is not None else tg_missing(1500, "bulk_with_idle")
    figs.append(c)
    hold_info = {ph: [{k: r.get(k) for k in ("name", "requested", "established", "failed", "errors", "seconds",
                                              "server_open", "client_total")} for r in d.sel(ph, 1500, test="hold")]
                 for ph in ("kernel", "tungate")}
    cpu_split = {}
    for mtu in (1500, large):
        for dirn in ("up", "down"):
            rs = d.ok("tungate", mtu, f"tcp_1_{dirn}")
            if rs:
                cpu_split[f"tcp_1_{dirn}_{mtu}"] = {n: statistics.median([cpu_s_per_gb(r, (n,)) or 0 for r in rs])
                                                    for n in ("tunio", "stackd", "relayd")}
    ctxsw = {}
    for mtu in (1500, large):
        for dirn in ("up", "down"):
            rs = d.ok("tungate", mtu, f"tcp_1_{dirn}")
            if rs:
                ctxsw[f"tcp_1_{dirn}_{mtu}"] = {n: statistics.median([r.get(f"ctxsw_{n}", 0) / (r["bytes"] / 1e6)
                                                                      for r in rs if r.get("bytes")])
                                                for n in ("tunio", "stackd", "relayd")}
    bg = [r for r in recs if r.get("test") == "background"]
    counters = {}
    for r in recs:
        if r.get("test") == "stats" and r.get("ok"):
            counters[f"{r.get('phase')} mtu {r.get('mtu')} {r.get('stage')}"] = {
                k: v for k, v in r.items() if k not in ("phase", "mtu", "test", "stage", "time", "ok")}
    return figs, {"background": [{k: r.get(k) for k in ("phase", "mtu", "busy_pct", "loadavg", "other_netns")}
                                 for r in bg],
                  "tungate_counters": counters, "ctxsw_per_mb": ctxsw, "memory": mem_rows, "held_connections": hold_info, "cpu_split_s_per_gb": cpu_split,
                  "udp_supported": udp_supported}


def cell_cmp(f):
    if "ratio" in f:
        return f"{f['ratio']:.2f}×"
    if "delta" in f:
        return f"{f['delta']:+.1f} {f['unit']}"
    return ""


def markdown(figs, extra, meta):
    m = meta.get("machine", {})
    lines = []
    mode = "quick (1 run per figure, short durations)" if meta.get("quick") else f"full (median of {meta.get('reps')} runs, [min–max])"
    lines.append(f"### tungate benchmark, {meta.get('started', '?')}")
    lines.append("")
    lines.append(f"Machine: {m.get('nproc')} × {m.get('cpu_model')}, {m.get('memory')}, kernel {m.get('kernel')}, {m.get('os')}. "
                 f"Commit {meta.get('git', '?')}. Mode: {mode}. TCP runs {meta.get('t_tcp')} s, UDP {meta.get('t_udp')} s, "
                 f"wrk {meta.get('t_wrk')} s (request/response: {meta.get('reps_rr')} runs of {meta.get('t_rr')} s). Large MTU: {meta.get('large_mtu')} (tungate built with lwIP TCP_MSS {meta.get('jumbo_tcp_mss')} for it). Run time {meta.get('runtime_s', '?')} s"
                 f"{', ' + str(meta.get('errors')) + ' measurement error(s)' if meta.get('errors') else ''}.")
    lines.append("")
    bg = extra.get("background", [])
    busy = [b["busy_pct"] for b in bg if isinstance(b.get("busy_pct"), (int, float))]
    if busy:
        busy = [b["busy_pct"] for b in bg if isinstance(b.get("busy_pct"), (int, float))]
        others = max([b.get("other_netns") or 0 for b in bg] or [0])
        line = (f"Background load (CPU busy in 1 s of idle before each phase): {min(busy):.0f}–{max(busy):.0f} %"
                f", load average up to {max(float(b.get('loadavg') or 0) for b in bg):.1f}"
                f"{f', {others} network namespaces of other tests present' if others else ''}.")
        if max(busy) > 10:
            line += (" **WARNING: the machine was busy with other work during this run; the figures are"
                     " unreliable. Run it again on a quiet machine.**")
        lines.append(line)
        lines.append("")
    lines.append("| Figure | Kernel path | tungate | tungate vs kernel | Target | Status |")
    lines.append("|---|---|---|---|---|---|")
    for f in figs:
        nd = f.get("nd", 2)
        k = fmt_stats(f["kernel"], nd)
        t = fmt_stats(f["tungate"], nd) if f["tungate"] else (f.get("status") or "–")
        label = f"{f['label']} ({f['unit']})"
        if f.get("note"):
            label += f"; {f['note']}"
        st = f.get("status", "")
        if st and st not in ("MET", "NOT MET"):
            st = "NOT RUN" if st.startswith(("not run", "tungate did not", "failed", "not measured")) else st
        st = f"**{st}**" if st == "NOT MET" else st
        lines.append(f"| {label} | {k} | {t} | {cell_cmp(f)} | {f.get('target') or ''} | {st} |")
    lines.append("")
    mem = extra.get("memory", {})
    if mem:
        lines.append("Memory of tunio / stackd / relayd (kB, RSS and PSS; RSS counts the shared link memory in "
                     "every process that maps it, PSS divides it among them, so the PSS sum is the real total):")
        lines.append("")
        lines.append("| Stage | connections | tunio RSS/PSS | stackd RSS/PSS | relayd RSS/PSS | sum RSS | sum PSS |")
        lines.append("|---|---|---|---|---|---|---|")
        for stage, r in mem.items():
            pp = r["per_process"]
            cells = [f"{pp[n]['rss_kb']}/{pp[n]['pss_kb']}" for n in ("tunio", "stackd", "relayd")]
            lines.append(f"| {stage} | {r['conns']} | {' | '.join(cells)} | {r['rss_kb']} | {r['pss_kb']} |")
        lines.append("")
    split = extra.get("cpu_split_s_per_gb", {})
    if split:
        lines.append("CPU s/GB per process (tungate, 1 stream): " + "; ".join(
            f"{k}: " + ", ".join(f"{n} {v:.2f}" for n, v in s.items()) for k, s in split.items()) + ".")
        lines.append("")
    cs = extra.get("ctxsw_per_mb", {})
    if cs:
        lines.append("Context switches per MB moved (tungate, 1 stream): " + "; ".join(
            f"{k}: " + ", ".join(f"{n} {v:.1f}" for n, v in s.items()) for k, s in cs.items()) + ".")
        lines.append("")
    ctr = extra.get("tungate_counters", {})
    interesting = re.compile(r"refus|drop|reset|bad|fail|error|full|shed|reject|overflow|limit", re.I)
    ctxt = []
    for stage, c in ctr.items():
        flat = {}

        def walk(prefix, v):
            if isinstance(v, dict):
                for k2, v2 in v.items():
                    walk(f"{prefix}.{k2}" if prefix else k2, v2)
            elif isinstance(v, (int, float)) and v and interesting.search(prefix):
                flat[prefix] = v
        walk("", c)
        if flat:
            ctxt.append(f"{stage}: " + ", ".join(f"{k} {v}" for k, v in sorted(flat.items())[:12]))
    if ctxt:
        lines.append("tungate counters (non-zero drops/refusals/errors, `tungate stats`): " + "; ".join(ctxt) + ".")
        lines.append("")
    held = extra.get("held_connections", {})
    txt = []
    for ph, hs in held.items():
        for h in hs:
            txt.append(f"{ph} {h.get('name')}: {h.get('established')}/{h.get('requested')} established in "
                       f"{h.get('seconds')} s, {h.get('server_open')} open at the server"
                       + (f", errors {h.get('errors')}" if h.get("errors") else ""))
    if txt:
        lines.append("Idle connections: " + "; ".join(txt) + ".")
        lines.append("")
    return "\n".join(lines) + "\n"


def chart(figs, meta, out_png, workdir, busy_warning=False):
    """Two panels: tungate/kernel ratios (higher is better, with the minimum targets), and the
    figures whose target is a limit, as a share of that limit (at most 1.0 meets it)."""
    short = {"cps": "conn/s\\n64 conns", "udp_max": "UDP -b 0\\ngoodput", "rr_rps": "req/s\\n1 conn",
             "bulk_alone": "bulk\\nalone", "bulk_with_idle": "bulk with\\nidle conns"}
    rows = []
    for f in figs:
        if "ratio" not in f or not f.get("higher_better", True) or f["id"].startswith("bulk"):
            continue
        thr = None
        if (f.get("target") or "").startswith("≥"):
            thr = float(re.findall(r"[\d.]+", f["target"])[0])
        m = re.match(r"TCP (\d+) streams? (upload|download), MTU (\d+)", f["label"])
        label = (f"TCP {m.group(1)}x {'up' if m.group(2) == 'upload' else 'down'}\\n{m.group(3)}" if m
                 else short.get(f["id"], f["id"]))
        rows.append((label, f["ratio"], thr))
    limits = []
    for f in figs:
        t, tgt = f.get("tungate"), f.get("target") or ""
        if not t or not tgt.startswith(("≤", "<", "added")):
            continue
        lim = float(re.findall(r"[\d.]+", tgt)[0])
        val = f.get("delta") if f["kind"] == "delta" else t["median"]
        if val is None:
            continue
        if "KiB" in tgt:
            lim *= 1024
        if f["id"] == "bulk_cost":
            val = max(val, 0)
        name = {"cpu_tg_up_1500": "CPU s/GB\\n1x up", "cpu_tg_down_1500": "CPU s/GB\\n1x down",
                "rr_p50": "added p50\\nlatency", "udp_200m_loss": "UDP 200M\\nloss",
                "mem_idle_pss": "idle\\nmemory", "mem_large_per_conn": "memory\\nper conn",
                "bulk_cost": "bulk flow\\ncost"}.get(f["id"], f["id"])
        limits.append((name, val / lim))
    if not rows and not limits:
        return False
    d1 = os.path.join(workdir, "chart-ratio.dat")
    d2 = os.path.join(workdir, "chart-limit.dat")
    with open(d1, "w") as fh:
        for i, (label, ratio, thr) in enumerate(rows):
            fh.write(f'{i} "{label}" {ratio:.4f} {thr if thr is not None else "NaN"}\n')
    with open(d2, "w") as fh:
        for i, (label, share) in enumerate(limits):
            fh.write(f'{i} "{label}" {share:.4f}\n')
    y1 = max([1.15] + [r[1] * 1.15 for r in rows])
    y2 = max([1.3] + [r[1] * 1.15 for r in limits])
    mode = "quick run (1 run per figure)" if meta.get("quick") else f"median of {meta.get('reps')} runs"
    m = meta.get("machine", {})
    n1, n2 = max(len(rows), 1), max(len(limits), 1)
    warn = "\\nWARNING: the machine was busy with other work during this run (see latest.md)" if busy_warning else ""
    script = f"""
set terminal pngcairo size 1600,760 font "DejaVu Sans,11"
set output "{out_png}"
set multiplot title "tungate benchmark: {mode}, {m.get('nproc')} cores {m.get('cpu_model')}, kernel {m.get('kernel')}, {meta.get('started', '')}, commit {meta.get('git', '?')}{warn}" font ",12"
set style fill solid 0.8 border -1
set boxwidth 0.6
set grid ytics
set xtics nomirror font ",10"
set bmargin 5
set tmargin 4
set key top left
set size 0.62,0.95
set origin 0,0
set title "tungate / kernel path (1.0 = as fast as the kernel; higher is better)"
set yrange [0:{y1:.2f}]
set xrange [-0.6:{n1 - 0.4}]
set ylabel "ratio"
set arrow 1 from -0.6,1 to {n1 - 0.4},1 nohead lc rgb "#444444" dt 2
plot "{d1}" using 1:3:xtic(2) with boxes lc rgb "#4878a8" title "tungate / kernel", \\
     "" using 1:3:(sprintf("%.2f", $3)) with labels offset 0,0.8 notitle, \\
     "" using 1:4 with points pt 9 ps 2.2 lc rgb "#c03030" title "target (minimum ratio)"
unset arrow 1
set size 0.38,0.95
set origin 0.62,0
set title "tungate figure / its limit (at most 1.0 meets the target)"
set yrange [0:{y2:.2f}]
set xrange [-0.6:{n2 - 0.4}]
set ylabel "share of the limit"
set arrow 2 from -0.6,1 to {n2 - 0.4},1 nohead lc rgb "#c03030" dt 2 lw 1.5
plot "{d2}" using 1:3:xtic(2) with boxes lc rgb "#8a6bb0" notitle, \\
     "" using 1:3:(sprintf("%.2f", $3)) with labels offset 0,0.8 notitle
unset multiplot
"""
    try:
        p = subprocess.run(["gnuplot"], input=script, text=True, capture_output=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as e:
        print(f"report: gnuplot failed: {e}", file=sys.stderr)
        return False
    if p.returncode != 0 or p.stderr.strip():
        print(f"report: gnuplot: {p.stderr}", file=sys.stderr)
    return p.returncode == 0


def cmd_report(raw, meta_path, outdir):
    recs = [json.loads(line) for line in open(raw) if line.strip()]
    meta = json.load(open(meta_path))
    figs, extra = build(recs, meta)
    os.makedirs(outdir, exist_ok=True)
    md = markdown(figs, extra, meta)
    for f in figs:
        f.pop("nd", None)
    with open(os.path.join(outdir, "latest.json"), "w") as fh:
        json.dump({"meta": meta, "figures": figs, "details": extra, "raw": recs}, fh, indent=1)
    with open(os.path.join(outdir, "latest.md"), "w") as fh:
        fh.write(md)
    busy = [b.get("busy_pct") for b in extra.get("background", []) if isinstance(b.get("busy_pct"), (int, float))]
    ok = chart(figs, meta, os.path.join(outdir, "latest.png"), os.path.dirname(os.path.abspath(raw)),
               busy_warning=bool(busy) and max(busy) > 10)
    sys.stdout.write(md)
    print(f"results: {outdir}/latest.json, latest.md" + (", latest.png" if ok else " (no chart)"))
    return 0


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    cmd = argv[1]
    if cmd == "meta":
        return cmd_meta(argv[2], argv[3:])
    if cmd == "record":
        return cmd_record(argv[2], argv[3:])
    if cmd == "udp-ok":
        return cmd_udp_ok(argv[2])
    if cmd == "report":
        return cmd_report(argv[2], argv[3], argv[4])
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
