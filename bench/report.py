#!/usr/bin/env python3
"""Writes BENCHMARKS.md and the chart from bench/results/*.json (bench/run's last step).

    python bench/report.py --results DIR --out BENCHMARKS.md --chart DIR/chart.png
        [--total-seconds N] [--quick]

Every number in BENCHMARKS.md comes from the JSON files of the run; nothing is
typed in by hand. Prints the headline table on stdout.
"""

import argparse
import datetime
import json
import os
import statistics

CORE = None
ORDER = ["llm-failover-workerd", "floor-workerd", "floor-js-workerd", "llm-failover", "tensorzero", "portkey", "litellm", "workerd-floor", "llm-failover-entry", "direct"]
PEERS = ["tensorzero", "portkey", "litellm"]
LABEL = {
    "llm-failover-workerd": "llm-failover (workerd serve)",
    "floor-workerd": "pass-through floor (workerd serve)",
    "floor-js-workerd": "JS-reading floor (workerd serve)",
    "llm-failover": "llm-failover (workerd, wrangler dev)",
    "llm-failover-entry": "llm-failover, workerd entry (no dev proxy)",
    "workerd-floor": "workerd floor (pass-through Worker)",
    "tensorzero": "TensorZero",
    "portkey": "Portkey",
    "litellm": "LiteLLM",
    "direct": "direct (client → mock)",
}


def load(results, name, default=None):
    p = os.path.join(results, name)
    if not os.path.exists(p):
        return default
    with open(p) as f:
        return json.load(f)


def ms(us):
    return None if us is None else us / 1000.0


def fmt_ms(x, digits=2):
    if x is None:
        return "—"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.{digits}f}"


def fmt_ratio(x):
    if x is None:
        return "—"
    if x >= 10:
        return f"{x:.0f}×"
    return f"{x:.2f}×"


def fmt_int(n):
    return "—" if n is None else f"{n:,}".replace(",", " ")


def fmt_bytes(n):
    return "—" if n is None else f"{n:,}".replace(",", " ")


class Latency:
    """Medians over the repeats of each percentile, per (system, concurrency, stream)."""

    def __init__(self, data):
        self.plan = data["plan"]
        self.runs = data["runs"]
        self.systems = [s for s in ORDER if any(r["system"] == s for r in self.runs)]
        self.conc = sorted({r["concurrency"] for r in self.runs})

    def rows(self, sys, c, stream):
        return [r for r in self.runs if r["system"] == sys and r["concurrency"] == c and r["stream"] == stream]

    def q(self, sys, c, stream, q, field=None):
        field = field or ("ttfb_us" if stream else "total_us")
        v = [r[field][q] for r in self.rows(sys, c, stream) if r.get(field)]
        return ms(statistics.median(v)) if v else None

    def added(self, sys, c, stream, q):
        a, d = self.q(sys, c, stream, q), self.q("direct", c, stream, q)
        return None if a is None or d is None else a - d

    def errors(self, sys, c=None, stream=None):
        return sum(r["errors"] for r in self.runs if r["system"] == sys and (c is None or r["concurrency"] == c) and (stream is None or r["stream"] == stream))

    def requests(self, sys):
        return sum(r["count"] for r in self.runs if r["system"] == sys)

    def rps(self, sys, c, stream=False):
        v = [r["rps"] for r in self.rows(sys, c, stream)]
        return statistics.median(v) if v else None

    def loads(self):
        return [r["loadavg_before"][0] for r in self.runs]


def ratio(a, b):
    """a / b for added latencies (how many times llm-failover's a peer adds)."""
    if a is None or b is None or b <= 0:
        return None
    return a / b


def goal_rows(L, fb):
    rows = []
    for stream in (False, True):
        what = "TTFB (stream)" if stream else "non-streaming"
        for q in ("p50", "p99"):
            for c in L.conc:
                us = L.added("llm-failover", c, stream, q)
                tz = L.added("tensorzero", c, stream, q)
                pk = L.added("portkey", c, stream, q)
                if us is None:
                    continue
                parts, ok = [], True
                if tz is not None:
                    good = us <= tz
                    ok &= good
                    parts.append(f"vs TensorZero {fmt_ms(us)} vs {fmt_ms(tz)} ms: " + ("met" if good else f"missed by {fmt_ms(us - tz)} ms ({fmt_ratio(ratio(us, tz))})"))
                else:
                    parts.append("TensorZero not measured")
                if pk is not None:
                    good = us < pk / 3
                    ok &= good
                    parts.append(f"vs Portkey/3 {fmt_ms(us)} vs {fmt_ms(pk / 3)} ms: " + ("met" if good else f"missed by {fmt_ms(us - pk / 3)} ms ({fmt_ratio(ratio(us, pk))} of Portkey's)"))
                else:
                    parts.append("Portkey not measured")
                rows.append((f"added {q}, {what}, c={c}", "met" if ok else "**missed**", "; ".join(parts)))
    if fb:
        own = ms(fb["own"]["total_us"]["p50"])
        r = fb["scenarios"].get("refused", {}).get("llm-failover")
        if r and r.get("total_us"):
            p50, p99, mx = ms(r["total_us"]["p50"]), ms(r["total_us"]["p99"]), ms(r["total_us"]["max"])
            good = p99 - own <= 5
            rows.append(("fallback within 5 ms of the fallback's own latency (primary refuses)", "met" if good else "**missed**",
                         f"wait p50 {fmt_ms(p50)} ms, p99 {fmt_ms(p99)} ms, max {fmt_ms(mx)} ms; the fallback's own p50 {fmt_ms(own)} ms; "
                         f"p99 − own = {fmt_ms(p99 - own)} ms" + ("" if good else f" (missed by {fmt_ms(p99 - own - 5)} ms)")))
    errs = L.errors("llm-failover")
    rows.append(("no errors at any concurrency measured", "met" if errs == 0 else "**missed**",
                 f"{errs} errors in {fmt_int(L.requests('llm-failover'))} llm-failover requests (concurrency {', '.join(map(str, L.conc))}, streaming and not)"))
    return rows


def production(L, fb, cpu, chunks, soak):
    """The headline: llm-failover and the pass-through floor Worker, both in `workerd
    serve` (no wrangler), as ratios and differences of numbers from this run; each of
    the targets met or missed. Returns (markdown lines, goal rows)."""
    lf, fl = "llm-failover-workerd", "floor-workerd"
    out, goals = [], []
    if lf not in L.systems or fl not in L.systems:
        return ["(llm-failover or the floor did not run in `workerd serve` in this run)"], goals

    def diff(c, stream, q):
        a, b = L.q(lf, c, stream, q), L.q(fl, c, stream, q)
        return None if a is None or b is None else a - b

    def goal(name, ok, detail):
        goals.append((name, "—" if ok is None else ("met" if ok else "**missed**"), detail))

    out.append("Both Workers run in `workerd serve` with a generated config (bench/peers/workerd-serve/): no wrangler, no dev "
               "proxy, no inspector, no Node process on the request path, KV served in memory by a second Worker in the same "
               "process. The floor is a pass-through Worker doing the same upstream call without any gateway logic. "
               "Added = llm-failover's percentile minus the floor's, in ms.")
    out.append("")
    out.append("| c | floor p50 | floor p99 | llm-failover p50 | llm-failover p99 | added p50 | added p99 | p50 ÷ floor | rps floor | rps llm-failover | rps ÷ floor | errors |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in L.conc:
        f50, f99, l50, l99 = (L.q(fl, c, False, "p50"), L.q(fl, c, False, "p99"), L.q(lf, c, False, "p50"), L.q(lf, c, False, "p99"))
        rf, rl = L.rps(fl, c), L.rps(lf, c)
        out.append(f"| {c} | {fmt_ms(f50)} | {fmt_ms(f99)} | {fmt_ms(l50)} | {fmt_ms(l99)} | {fmt_ms(diff(c, False, 'p50'))} | {fmt_ms(diff(c, False, 'p99'))} | "
                   f"{fmt_ratio(l50 / f50) if l50 and f50 else '—'} | {fmt_int(round(rf)) if rf else '—'} | {fmt_int(round(rl)) if rl else '—'} | "
                   f"{fmt_ratio(rl / rf) if rl and rf else '—'} | {L.errors(lf, c)} |")
    out.append("")
    d50, d99 = diff(1, False, "p50"), diff(1, False, "p99")
    goal("added latency over the floor, non-streaming, c=1: p50 ≤ 0.30 ms", None if d50 is None else d50 <= 0.30, f"{fmt_ms(d50)} ms")
    goal("added latency over the floor, non-streaming, c=1: p99 ≤ 1 ms", None if d99 is None else d99 <= 1.0, f"{fmt_ms(d99)} ms")
    for c in [c for c in L.conc if c > 1]:
        a, b = L.q(lf, c, False, "p50"), L.q(fl, c, False, "p50")
        r = a / b if a and b else None
        goal(f"p50 at c={c} ≤ 1.2× the floor's", None if r is None else r <= 1.2, f"{fmt_ms(a)} vs {fmt_ms(b)} ms: {fmt_ratio(r)}")
    cmax = max(L.conc)
    rl, rf = L.rps(lf, cmax), L.rps(fl, cmax)
    goal(f"throughput at c={cmax} ≥ 0.8× the floor's", None if not (rl and rf) else rl / rf >= 0.8,
         f"{fmt_int(round(rl)) if rl else '—'} vs {fmt_int(round(rf)) if rf else '—'} requests/s: {fmt_ratio(rl / rf) if rl and rf else '—'}")
    errs = L.errors(lf)
    goal("zero errors at every concurrency", errs == 0, f"{errs} errors in {fmt_int(L.requests(lf))} requests")
    t50 = diff(1, True, "p50")
    goal("streaming: time to first byte added over the floor ≤ 0.5 ms p50, c=1", None if t50 is None else t50 <= 0.5, f"{fmt_ms(t50)} ms")
    cl, cf = (cpu or {}).get(lf), (cpu or {}).get(fl)
    if cl and cf:
        def worker_ms(c):
            return sum(p["cpu_ms_per_request"] or 0 for p in c["processes"] if p["role"] == "workerd serve (the Worker)")
        wl, wf = worker_ms(cl), worker_ms(cf)
        out.append(f"CPU per request at concurrency 16, from the workerd process's own accounting (`/proc/<pid>/stat` utime + stime): "
                   f"llm-failover {fmt_ms(wl, 3)} ms, the floor {fmt_ms(wf, 3)} ms ({fmt_ratio(wl / wf) if wf else '—'}), "
                   f"at {fmt_int(round(cl['rps']))} and {fmt_int(round(cf['rps']))} requests/s.")
        out.append("")
        goal("Worker CPU per request ≤ 1.25× the floor Worker's", wl / wf <= 1.25 if wf else None, f"{fmt_ms(wl, 3)} vs {fmt_ms(wf, 3)} ms: {fmt_ratio(wl / wf) if wf else '—'}")
    if chunks and chunks.get("runs", {}).get(lf) and chunks["runs"].get(fl):
        r = chunks["runs"]
        n = chunks["extra_chunks"]
        def t(name, chain):
            return ms(r[name][chain]["total_us"]["p50"])
        def cpu_us(name, chain):
            return r[name][chain].get("cpu_us_per_request")
        per = ((t(lf, "story") - t(lf, "ok")) - (t(fl, "story") - t(fl, "ok"))) / n * 1000
        cpu_per = None
        if all(cpu_us(x, c) is not None for x in (lf, fl) for c in ("ok", "story")):
            cpu_per = ((cpu_us(lf, "story") - cpu_us(lf, "ok")) - (cpu_us(fl, "story") - cpu_us(fl, "ok"))) / n
        out.append(f"Per-chunk cost (streams of 62 and 5 events, c=1, {chunks['requests']} each): time to the last byte p50 "
                   f"llm-failover {fmt_ms(t(lf, 'story'), 3)} / {fmt_ms(t(lf, 'ok'), 3)} ms, the floor {fmt_ms(t(fl, 'story'), 3)} / "
                   f"{fmt_ms(t(fl, 'ok'), 3)} ms, so {per:.1f} µs of latency per chunk over the floor (the mock paces nothing: "
                   "each chunk is its own upstream read and wakes the Worker); the workerd process's CPU per request "
                   + (f"{cpu_us(lf, 'story'):.0f} / {cpu_us(lf, 'ok'):.0f} µs against the floor's {cpu_us(fl, 'story'):.0f} / "
                      f"{cpu_us(fl, 'ok'):.0f} µs, so {cpu_per:.1f} µs of CPU per chunk over the floor." if cpu_per is not None else "not measured."))
        fj = "floor-js-workerd"
        js_per = None
        if r.get(fj) and all(cpu_us(x, c) is not None for x in (fj, fl) for c in ("ok", "story")):
            js_per = ((cpu_us(fj, "story") - cpu_us(fj, "ok")) - (cpu_us(fl, "story") - cpu_us(fl, "ok"))) / n
            over_js = cpu_per - js_per if cpu_per is not None else None
            out.append(f"For scale, the same floor reading the stream chunk by chunk in JavaScript (bench/peers/workerd-floor/inspecting.js: "
                       f"`reader.read()` and `writer.write()` per chunk, the least a Worker must do to see a stream end early) costs "
                       f"{cpu_us(fj, 'story'):.0f} / {cpu_us(fj, 'ok'):.0f} µs per request, {js_per:.1f} µs of CPU per chunk over the "
                       f"pass-through floor" + (f"; llm-failover costs {over_js:.1f} µs per chunk over that JS-reading floor." if over_js is not None else "."))
        out.append("")
        goal("per-chunk cost ≤ 5 µs (CPU of the Worker's process per extra chunk, over the floor)",
             None if cpu_per is None else cpu_per <= 5,
             (f"{cpu_per:.1f} µs of CPU (latency: {per:.1f} µs)" if cpu_per is not None else f"latency {per:.1f} µs")
             + (f"; a Worker that only reads the stream in JS costs {js_per:.1f} µs" if js_per is not None else ""))
    if fb:
        own = ms(fb["own"]["total_us"]["p50"])
        rr = fb["scenarios"].get("refused", {}).get(lf)
        if rr and rr.get("total_us"):
            w = ms(rr["total_us"]["p50"])
            goal("fallback on connection refused within 1 ms of the fallback's own latency p50", w - own <= 1.0,
                 f"wait p50 {fmt_ms(w)} ms, the fallback's own {fmt_ms(own)} ms: {fmt_ms(w - own)} ms over")
    if soak and soak.get("segments"):
        rss = soak["rss_kib"]
        mid = rss[len(rss) // 2]
        lost = soak["total"] - soak["ok"]
        growth = (rss[-1] - rss[1]) / rss[1] if rss[1] else None
        out.append(f"Soak: {fmt_int(soak['total'])} requests at c={soak['concurrency']} in {soak['seconds']:.0f} s (non-streaming, streaming, "
                   f"fallbacks through a dead-primary chain and 62-chunk stories, in ten segments): {fmt_int(soak['ok'])} complete, "
                   f"{fmt_int(lost)} lost or wrong. The Worker's workerd RSS: {rss[0] / 1024:.0f} MiB at the start, "
                   f"{rss[1] / 1024:.0f} MiB after the first segment, {mid / 1024:.0f} MiB in the middle, {rss[-1] / 1024:.0f} MiB at the end.")
        out.append("")
        goal(f"soak: {fmt_int(soak['total'])} requests at c=32, zero lost", lost == 0, f"{fmt_int(lost)} lost of {fmt_int(soak['total'])}")
        floor_note = ""
        fr = (soak.get("floor") or {}).get("rss_kib")
        if fr and len(fr) > 2 and fr[1]:
            fgrowth = (fr[-1] - fr[1]) / fr[1]
            out.append(f"The same load through the pass-through floor (its fallback segments are plain answers): "
                       f"{fmt_int(soak['floor']['ok'])} of {fmt_int(soak['floor']['total'])} complete; its workerd RSS "
                       f"{fr[0] / 1024:.0f} → {fr[1] / 1024:.0f} → {fr[len(fr) // 2] / 1024:.0f} → {fr[-1] / 1024:.0f} MiB ({fgrowth * 100:+.1f} % after the first segment).")
            out.append("")
            floor_note = f"; the floor under the same load {fr[1] / 1024:.0f} → {fr[-1] / 1024:.0f} MiB ({fgrowth * 100:+.1f} %)"
        goal("soak: memory flat (RSS at the end within 10 % of after the first segment)", None if growth is None else growth <= 0.10,
             (f"{rss[1] / 1024:.0f} → {mid / 1024:.0f} → {rss[-1] / 1024:.0f} MiB ({growth * 100:+.1f} %)" if growth is not None else "—") + floor_note)
    return out, goals


def latency_table(L, stream):
    head = "| system | c | p50 | p95 | p99 | added p50 | added p95 | added p99 | llm-failover's added p50 ÷ this | same, p99 | errors |"
    out = [head, "|" + "---|" * 11]
    for c in L.conc:
        for s in L.systems:
            vals = [L.q(s, c, stream, q) for q in ("p50", "p95", "p99")]
            add = [L.added(s, c, stream, q) for q in ("p50", "p95", "p99")]
            us50, us99 = L.added("llm-failover", c, stream, "p50"), L.added("llm-failover", c, stream, "p99")
            r50 = ratio(us50, add[0]) if s not in ("direct", "llm-failover") else None
            r99 = ratio(us99, add[2]) if s not in ("direct", "llm-failover") else None
            if s == "direct":
                add = [None, None, None]
            out.append(f"| {LABEL[s]} | {c} | " + " | ".join(fmt_ms(v) for v in vals) + " | " + " | ".join(fmt_ms(v) for v in add)
                       + f" | {fmt_ratio(r50)} | {fmt_ratio(r99)} | {L.errors(s, c, stream)} |")
    return "\n".join(out)


def chart(L, fb, cpu, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    colors = {"llm-failover": "#d9480f", "llm-failover-entry": "#f08c00", "workerd-floor": "#adb5bd", "tensorzero": "#1971c2",
              "portkey": "#2f9e44", "litellm": "#7048e8", "direct": "#212529"}
    systems = [s for s in L.systems if s != "direct"]
    fig, axes = plt.subplots(2, 2, figsize=(13, 9))
    w = 0.8 / max(1, len(systems))
    for ax, (stream, q, title) in zip(axes[0], [(False, "p50", "Added latency p50, non-streaming"), (False, "p99", "Added latency p99, non-streaming")]):
        for i, s in enumerate(systems):
            vals = [max(L.added(s, c, stream, q) or 0, 0.01) for c in L.conc]
            ax.bar([j + i * w for j in range(len(L.conc))], vals, w, label=LABEL[s], color=colors.get(s))
        ax.set_xticks([j + w * (len(systems) - 1) / 2 for j in range(len(L.conc))])
        ax.set_xticklabels([f"concurrency {c}" for c in L.conc])
        ax.set_yscale("log")
        ax.set_ylabel("ms over direct (log)")
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=8)
    ax = axes[1][0]
    allsys = [s for s in L.systems]
    w2 = 0.8 / max(1, len(allsys))
    for i, s in enumerate(allsys):
        vals = [L.rps(s, c) or 0 for c in L.conc]
        ax.bar([j + i * w2 for j in range(len(L.conc))], vals, w2, label=LABEL[s], color=colors.get(s))
    ax.set_xticks([j + w2 * (len(allsys) - 1) / 2 for j in range(len(L.conc))])
    ax.set_xticklabels([f"concurrency {c}" for c in L.conc])
    ax.set_yscale("log")
    ax.set_ylabel("requests/s (log)")
    ax.set_title("Throughput, non-streaming (closed loop)")
    top = max([L.rps(s, c) or 1 for s in allsys for c in L.conc] + [1])
    ax.set_ylim(top=top * 30)  # room for the legend above the bars
    ax.legend(fontsize=7, ncol=2, loc="upper center")
    ax.grid(axis="y", alpha=0.3)
    ax = axes[1][1]
    if fb:
        scen = list(fb["scenarios"].keys())
        fsys = [s for s in ORDER if any(s in fb["scenarios"][k] for k in scen)]
        w3 = 0.8 / max(1, len(fsys))
        for i, s in enumerate(fsys):
            vals = [max(ms(fb["scenarios"][k].get(s, {}).get("total_us", {}) .get("p50")) or 0, 0.01) if fb["scenarios"][k].get(s, {}).get("total_us") else 0 for k in scen]
            ax.bar([j + i * w3 for j in range(len(scen))], vals, w3, label=LABEL[s], color=colors.get(s))
        ax.axhline(ms(fb["own"]["total_us"]["p50"]), color="#212529", ls="--", lw=1, label="the fallback's own p50")
        ax.set_xticks([j + w3 * (len(fsys) - 1) / 2 for j in range(len(scen))])
        ax.set_xticklabels([{"refused": "primary refuses", "503": "primary 503", "silent": "primary silent"}[k] for k in scen])
        ax.set_yscale("log")
        ax.set_ylabel("client's wait, ms (log)")
        ax.set_title(f"Fallback path: median wait over {fb['requests']} sequential requests")
        ax.legend(fontsize=8)
        ax.grid(axis="y", alpha=0.3)
    fig.suptitle("llm-failover side by side (loopback, fault-injecting mock upstream; lower is better except throughput;\n"
                 "an added latency at or below zero is drawn at 0.01 ms)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--chart", required=True)
    ap.add_argument("--total-seconds", type=int)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    R = a.results
    env = load(R, "env.json", {})
    L = Latency(load(R, "latency.json"))
    fb = load(R, "fallback.json")
    cpu = load(R, "cpu.json", {})
    prof = load(R, "profile.json", {})
    core = load(R, "core.json")
    global CORE
    CORE = core
    size = load(R, "size.json")
    chart_ok = True
    try:
        chart(L, fb, cpu, a.chart)
    except Exception as e:  # matplotlib missing: say so, keep the tables
        chart_ok = f"chart not drawn: {e}"
    rel_chart = os.path.relpath(a.chart, os.path.dirname(os.path.abspath(a.out)))

    md = []
    P = md.append
    started = env.get("started", "?")
    P("# Benchmarks: llm-failover side by side with Portkey, LiteLLM and TensorZero")
    P("")
    P(f"Written by `bench/run{' --quick' if a.quick else ''}` from `{os.path.relpath(R)}/*.json` "
      f"(run started {started}; the whole command took {fmt_int(a.total_seconds)} s, the measurements {fmt_int(env.get('duration_s'))} s). "
      "Every number below comes from those files: do not edit by hand, run `bench/run` again.")
    if a.quick:
        P("")
        P("**This is a `--quick` smoke run: small counts, one repeat. Not for quoting.**")
    P("")
    m = env.get("machine", {})
    la = L.loads()
    P("## Machine and method")
    P("")
    P(f"- Machine: {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, Linux {m.get('kernel')}; "
      f"{m.get('rustc')}; Node {m.get('node')}; {m.get('python')}. Shared with other engineers building and testing: "
      f"1-minute load average {env.get('loadavg_start', ['?'])[0]} at the start, {env.get('loadavg_end', ['?'])[0]} at the end, "
      f"{min(la):.2f}–{max(la):.2f} (median {statistics.median(la):.2f}) before the {len(la)} latency runs. "
      "Everything (load generator, mock, gateways) runs on the same 2 cores, so the numbers are noisy and absolute "
      "times are context only; the comparisons are ratios of numbers measured in the same run, interleaved.")
    P(f"- Systems: " + "; ".join(f"**{LABEL[s['name']]}** — {s['version']}" for s in env.get("systems", [])) + ".")
    P("- Upstream: `tests/e2e/mock-upstream.mjs` (Node, loopback), faults chosen by model name. \"direct\" is the "
      "load generator calling the mock itself: the floor every gateway's added latency is measured against.")
    P("- The chain, the same for every system (configs with the knobs and reasons: `bench/peers/<name>/`): one primary, "
      "one fallback, no same-target retry (the only second attempt is the fallback), a 1000 ms per-attempt timeout, no "
      "cache. llm-failover and LiteLLM check a client token on every request (LiteLLM refuses to start without one); "
      "Portkey and TensorZero run without auth. Breakers: llm-failover's cooldowns keep their defaults, LiteLLM's "
      "cooldown is set to match (open on the first failure, 5 s); Portkey's OSS build and TensorZero have no circuit "
      "breaker to configure (the fallback table shows the dead primary getting every request).")
    p = L.plan
    P(f"- Load: `bench/loadgen` (Rust, tokio current-thread + hyper, one thread, keep-alive connections), closed loop: "
      f"c workers each with one request in flight, for {p['durationMs'] / 1000:g} s or {fmt_int(p['maxRequests'])} requests "
      f"per run after a warm-up of max(20, 4c) requests; concurrency {', '.join(map(str, L.conc))}; non-streaming "
      f"(latency to the last byte) and streaming (time to the first body byte); {p['reps']} repeat(s), the systems in a "
      "rotating order, the median of each percentile over the repeats. Percentiles are nearest-rank over every request of a run. "
      "A request counts as an error unless it is a 200 whose body has the expected answer.")
    gw_max = max((L.rps(s, c) or 0) for s in L.systems if s != "direct" for c in L.conc)
    d_max = max((L.rps("direct", c) or 0) for c in L.conc)
    P(f"- The load generator is not the bottleneck: with the same one thread it drove direct at up to {fmt_int(round(d_max))} "
      f"requests/s, {fmt_ratio(d_max / gw_max) if gw_max else '—'} the most any gateway sustained ({fmt_int(round(gw_max))}). At high "
      "concurrency direct is limited by the mock (one Node thread), and a gateway that pools and limits its upstream "
      "connections can then be slightly faster than direct: an added latency below zero means that, not a gateway "
      "faster than its upstream.")
    P("- **Where llm-failover runs.** In workerd, under `wrangler dev` in local mode (the way `tests/e2e/harness.mjs` starts "
      "it): the client talks to wrangler's dev proxy (a second workerd process), which forwards to the workerd running the "
      "Worker (wasm core + JS glue), with wrangler's inspector attached for logs, and `console.log` lines and a request "
      "log line per request forwarded to wrangler's Node process. What it tells: the Worker's own CPU work per request, the "
      "correctness of fallback and breaker, and how workerd behaves on a 2-core box. What it does not tell: latency or "
      "throughput on Cloudflare's edge, where there is no dev proxy, no inspector, no Node process, the client is "
      "across the internet (tens of ms), the upstream fetch leaves a data centre, and isolates scale out over machines "
      "instead of sharing two cores with the load generator. The **workerd floor** row (a 20-line pass-through Worker, "
      "`bench/peers/workerd-floor/`, under the same `wrangler dev`) and the **workerd entry** row (the same llm-failover "
      "process, called on its workerd's own socket, without the dev proxy hop) separate the local runtime's cost from "
      "the gateway's own.")
    if env.get("unavailable"):
        P("- **Not run here**: " + "; ".join(f"**{k}**: {v.splitlines()[0]}" for k, v in env["unavailable"].items()) + ".")
    P("")

    # ── Headline: the production runtime ──
    chunks = load(R, "chunks.json")
    soak = load(R, "soak.json")
    prod_lines, prod_goals = production(L, fb, cpu, chunks, soak)
    P("## Headline: the runtime that serves production (workerd serve)")
    P("")
    for line in prod_lines:
        P(line)
    P("| target (issue 13) | result | figure |")
    P("|---|---|---|")
    for g in prod_goals:
        P(f"| {g[0]} | {g[1]} | {g[2]} |")
    P("")

    # ── Side by side (wrangler dev) ──
    P("## Side by side with the peers (llm-failover under wrangler dev)")
    P("")
    P(f"![chart]({rel_chart})" if chart_ok is True else f"({chart_ok})")
    P("")
    P("Added latency = the system's percentile minus direct's, in ms (non-streaming; medians of the repeats). "
      "\"÷\" = llm-failover's added latency divided by the peer's: below 1× llm-failover adds less, above 1× it adds more.")
    P("")
    head = ["| system |"] + [f" c={c} p50 | c={c} p99 |" for c in L.conc]
    P("".join(head))
    P("|---|" + "---:|---:|" * len(L.conc))
    headline_rows = []
    for s in L.systems:
        if s == "direct":
            continue
        cells = []
        for c in L.conc:
            a50, a99 = L.added(s, c, False, "p50"), L.added(s, c, False, "p99")
            if s == "llm-failover":
                cells += [fmt_ms(a50), fmt_ms(a99)]
            else:
                u50, u99 = L.added("llm-failover", c, False, "p50"), L.added("llm-failover", c, False, "p99")
                cells += [f"{fmt_ms(a50)} ({fmt_ratio(ratio(u50, a50))})", f"{fmt_ms(a99)} ({fmt_ratio(ratio(u99, a99))})"]
        P(f"| {LABEL[s]} | " + " | ".join(cells) + " |")
        headline_rows.append((s, cells))
    P("")
    # Throughput headline
    P("Throughput (non-streaming, requests/s, the best zero-error concurrency; ratio to direct and to llm-failover):")
    P("")
    P("| system | requests/s | at c | errors there | ÷ direct | ÷ llm-failover |")
    P("|---|---:|---:|---:|---:|---:|")
    best = {}
    for s in L.systems:
        cands = [(L.rps(s, c), c) for c in L.conc if L.errors(s, c, False) == 0 and L.rps(s, c) is not None]
        if cands:
            best[s] = max(cands)
        else:
            best[s] = (None, None)
    for s in L.systems:
        r, c = best[s]
        P(f"| {LABEL[s]} | {fmt_int(round(r)) if r else 'none without errors'} | {c or '—'} | {0 if c else L.errors(s, None, False)} | "
          f"{fmt_ratio(r / best['direct'][0]) if r and best['direct'][0] else '—'} | {fmt_ratio(r / best['llm-failover'][0]) if r and best.get('llm-failover', (None,))[0] else '—'} |")
    P("")
    if fb:
        own = ms(fb["own"]["total_us"]["p50"])
        P(f"Fallback path ({fb['requests']} sequential requests per scenario; the fallback's own latency p50 {fmt_ms(own)} ms):")
        P("")
        P("\"− own success\" subtracts the same system's success-path p50 at concurrency 1 (its own overhead without a "
          "failure), leaving what the failover itself costs.")
        P("")
        P("| scenario | system | answered by the fallback | first request | wait p50 | wait p99 | p50 − fallback's own | p50 − own success | dead primary got |")
        P("|---|---|---:|---:|---:|---:|---:|---:|---:|")
        for k, name in [("refused", "primary refuses connections"), ("503", "primary answers 503"), ("silent", "primary silent (1 s timeout)")]:
            for s in ORDER:
                r = fb["scenarios"].get(k, {}).get(s)
                if not r:
                    continue
                t = r.get("total_us") or {}
                first = ms(r["raw_total_us"][0]) if r.get("raw_total_us") else None
                pr = r.get("primary_requests")
                P(f"| {name} | {LABEL[s]} | {r['ok']}/{r['count']} | {fmt_ms(first)} | {fmt_ms(ms(t.get('p50')))} | {fmt_ms(ms(t.get('p99')))} | "
                  f"{fmt_ms(ms(t.get('p50')) - own) if t else '—'} | "
                  f"{fmt_ms(ms(t.get('p50')) - L.q(s, 1, False, 'p50')) if t and L.q(s, 1, False, 'p50') is not None else '—'} | "
                  f"{('—' if pr is None else pr)} of {r['count']} |")
        P("")

    # ── Goals ──
    P("## Goals")
    P("")
    P("| goal | result | detail |")
    P("|---|---|---|")
    goals = goal_rows(L, fb)
    for g in goals:
        P(f"| {g[0]} | {g[1]} | {g[2]} |")
    P("")
    # own-work view
    if "workerd-floor" in L.systems:
        P("The same added latencies with the local runtime's own cost taken out (llm-failover minus the workerd floor, "
          "which does the same upstream call through the same `wrangler dev`), next to the peers' added latency:")
        P("")
        P("| c | llm-failover − floor, p50 | p99 | TensorZero added p50 | p99 | Portkey added p50 | p99 |")
        P("|---:|---:|---:|---:|---:|---:|---:|")
        for c in L.conc:
            d50 = None if L.q("llm-failover", c, False, "p50") is None or L.q("workerd-floor", c, False, "p50") is None else L.q("llm-failover", c, False, "p50") - L.q("workerd-floor", c, False, "p50")
            d99 = None if L.q("llm-failover", c, False, "p99") is None or L.q("workerd-floor", c, False, "p99") is None else L.q("llm-failover", c, False, "p99") - L.q("workerd-floor", c, False, "p99")
            P(f"| {c} | {fmt_ms(d50)} | {fmt_ms(d99)} | {fmt_ms(L.added('tensorzero', c, False, 'p50'))} | {fmt_ms(L.added('tensorzero', c, False, 'p99'))} | "
              f"{fmt_ms(L.added('portkey', c, False, 'p50'))} | {fmt_ms(L.added('portkey', c, False, 'p99'))} |")
        P("")

    # ── Profile ──
    P("## Where llm-failover's time goes (profile)")
    P("")
    if cpu:
        P(f"CPU per request at concurrency 16 (all of a system's processes, from `/proc/<pid>/stat` over a {L.plan and env.get('plan', {}).get('profileS', 0) - 1} s run):")
        P("")
        P("| system | CPU ms per request | cores busy | requests/s | processes (CPU ms per request) |")
        P("|---|---:|---:|---:|---|")
        for s in ORDER:
            c = cpu.get(s)
            if not c:
                continue
            procs = "; ".join(f"{p['role']}: {fmt_ms(p['cpu_ms_per_request'])}" for p in c["processes"] if (p["cpu_ms_per_request"] or 0) >= 0.005)
            P(f"| {LABEL[s]} | {fmt_ms(c['cpu_ms_per_request'])} | {c['cores_busy']:.2f} | {fmt_int(round(c['rps']))} | {procs} |")
        P("")
    if prof.get("by_pid_dso"):
        P(f"`perf record -e cpu-clock -g` of the gateway's processes for {prof.get('seconds')} s under load "
          f"(concurrency 16, {fmt_int(round(prof['load']['rps']))} requests/s, {prof['load']['errors']} errors); "
          "this VM has no hardware counters, so it samples the CPU clock. Share of samples by process and binary "
          "(`[JIT]` is V8's generated code: the Worker's wasm and JavaScript):")
        P("")
        roles = {str(p["pid"]): p["role"] for p in prof.get("processes", [])}
        P("| share | process | binary |")
        P("|---:|---|---|")
        for r in prof["by_pid_dso"][:14]:
            parts = r["what"].split(" ", 1)
            pid = parts[0].split(":")[0]
            P(f"| {r['pct']:.1f} % | {roles.get(pid, parts[0])} (pid {pid}) | {parts[1] if len(parts) > 1 else ''} |")
        P("")
        if prof.get("worker_inclusive"):
            P("Inside the workerd that runs the Worker: share of that process's samples spent in each frame and what it called (inclusive; frames overlap):")
            P("")
            P("| share | frame | what it is |")
            P("|---:|---|---|")
            for r in prof["worker_inclusive"]:
                if not r.get("pct"):
                    continue  # not among the sampled frames this run
                P(f"| {r['pct']:.1f} % | `{r['frame']}` | {r['what']} |")
            P("")
        P("Hottest symbols (self time; the full report: `bench/results/profile.txt`):")
        P("")
        P("| share | process | symbol |")
        P("|---:|---|---|")
        for r in prof.get("top_symbols", [])[:15]:
            parts = r["what"].split(" ", 2)
            pid = parts[0].split(":")[0]
            sym = parts[2] if len(parts) > 2 else ""
            sym = sym.replace("|", "\\|")
            if len(sym) > 110:
                sym = sym[:107] + "…"
            P(f"| {r['pct']:.1f} % | {roles.get(pid, parts[0])} | `{sym}` |")
        P("")
    elif prof.get("skipped"):
        P(f"Not profiled: {prof['skipped']}.")
        P("")
    elif prof:
        P(f"Profile not taken: {prof.get('note') or prof.get('error')}.")
        P("")
    P(analysis(L, fb, cpu, prof))
    P("")

    # ── Latency detail ──
    P("## Success path in detail")
    P("")
    P("Non-streaming (latency to the last byte), ms:")
    P("")
    P(latency_table(L, False))
    P("")
    P("Streaming, time to the first body byte, ms:")
    P("")
    P(latency_table(L, True))
    P("")
    P("Streaming, time to the last byte (the whole stream) p50, ms. The mock writes a whole stream at once, so a stream "
      "that ends long after its first byte is held back inside the gateway (a timer, buffering or a delayed ACK; the "
      "cause is not investigated here):")
    P("")
    P("| system | " + " | ".join(f"c={c} TTFB p50 | c={c} last byte p50" for c in L.conc) + " |")
    P("|---|" + "---:|---:|" * len(L.conc))
    for s_ in L.systems:
        P(f"| {LABEL[s_]} | " + " | ".join(f"{fmt_ms(L.q(s_, c, True, 'p50'))} | {fmt_ms(L.q(s_, c, True, 'p50', field='total_us'))}" for c in L.conc) + " |")
    P("")
    P("Throughput by concurrency (non-streaming / streaming, requests/s, median of the repeats):")
    P("")
    P("| system | " + " | ".join(f"c={c}" for c in L.conc) + " |")
    P("|---|" + "---:|" * len(L.conc))
    for s in L.systems:
        P(f"| {LABEL[s]} | " + " | ".join(f"{fmt_int(round(L.rps(s, c) or 0))} / {fmt_int(round(L.rps(s, c, True) or 0))}" for c in L.conc) + " |")
    P("")

    # ── Core ──
    if core:
        P("## The core: classify, one decision step and one streamed chunk, native and wasm")
        P("")
        P(f"`cargo bench --bench core` (criterion, `benches/core.rs`) medians, and the same benchmark bodies "
          f"(`bench/core-wasm`) timed the same way natively and compiled to wasm32 in Node {core['machine']['node']}'s V8 "
          f"(the engine workerd embeds), in {len(core['rounds'])} interleaved round(s), the median of the rounds. "
          "\"wasm\" is built with opt-level 3 like the native code; \"wasm, Worker profile\" with the Worker's own "
          "settings (opt-level \"z\", fat LTO), i.e. what runs in production. µs per call:")
        P("")
        P("| benchmark | criterion (native) | native | wasm | wasm ÷ native | wasm, Worker profile | ÷ native |")
        P("|---|---:|---:|---:|---:|---:|---:|")
        for b, r in core["median"].items():
            cr = core["criterion"].get(b, {}).get("median_ns")
            P(f"| {b} | {fmt_ms(cr / 1000 if cr else None)} | {fmt_ms(r['native_ns'] / 1000)} | {fmt_ms(r['wasm_ns'] / 1000)} | "
              f"{fmt_ratio(r['wasm_over_native'])} | {fmt_ms(r['wasm_worker_profile_ns'] / 1000)} | {fmt_ratio(r['wasm_worker_profile_over_native'])} |")
        P("")
        med = core["median"]
        if all(k in med for k in ("classify/1024", "classify/16384", "classify/262144")):
            P("Scaling with body size (cost of 16 KB and 256 KB relative to 1 KB; bodies over 64 KiB are read only that far): " + "; ".join(
                f"{ {'native': 'native', 'wasm': 'wasm', 'wasm_worker_profile': 'wasm with the Worker profile'}[kind]} {med['classify/16384'][kind + '_ns'] / med['classify/1024'][kind + '_ns']:.1f}× and {med['classify/262144'][kind + '_ns'] / med['classify/1024'][kind + '_ns']:.1f}×"
                for kind in ("native", "wasm", "wasm_worker_profile")) + ".")
            P("")

    # ── Size ──
    if size:
        lim = size["limits"]
        P("## Size")
        P("")
        P("| artifact | raw bytes | gzip -9 bytes | gzip ÷ 3 MB (former Free limit) | gzip ÷ 10 MB (former Paid) | raw ÷ 64 MiB (current limit) |")
        P("|---|---:|---:|---:|---:|---:|")
        for key, name in [("worker_wasm", "Worker wasm (`build/index_bg.wasm`)"), ("worker_upload", "Worker upload (wasm + `build/index.js`)"),
                          ("npm_wasm", "npm package wasm (`build/pkg/llm_failover_bg.wasm`)")]:
            x = size.get(key)
            if not x or x.get("missing"):
                P(f"| {name} | missing | | | | |")
                continue
            P(f"| {name} | {fmt_bytes(x['raw'])} | {fmt_bytes(x['gzip9'])} | {x['gzip9'] / lim['former_compressed_free'] * 100:.1f} % | "
              f"{x['gzip9'] / lim['former_compressed_paid'] * 100:.1f} % | {x['raw'] / lim['current_uncompressed_all_plans'] * 100:.2f} % |")
        P("")
        P(f"Limits: {lim['source']}. The issue names the former limits (3 MB Free / 10 MB Paid, after compression); "
          "Cloudflare's limits page now gives one 64 MiB limit on both plans. Both are shown.")
        P("")

    P("## Raw numbers and how to run")
    P("")
    P(f"`bench/run` (the full run; `bench/run --quick` for a smoke run that writes to `target/bench-quick/`). Raw results: "
      f"`{os.path.relpath(R)}/` — `latency.json` (every run, with its load average), `fallback.json` (every request's "
      "wait), `cpu.json`, `profile.json` and `profile.txt`, `core.json`, `size.json`, `env.json` (machine, versions, "
      "pre-flight checks, what could not run).")
    P("")
    with open(a.out, "w") as f:
        f.write("\n".join(md))

    # stdout: the headline
    print()
    print("Added latency over direct, non-streaming, ms (÷ = llm-failover's added ÷ the system's):")
    print(f"{'system':44s}" + "".join(f"{'c=' + str(c) + ' p50':>18s}{'c=' + str(c) + ' p99':>18s}" for c in L.conc))
    for s, cells in headline_rows:
        print(f"{LABEL[s]:44s}" + "".join(f"{x:>18s}" for x in cells))
    print()
    print("Throughput (best zero-error non-streaming requests/s): " + "; ".join(
        f"{LABEL[k]} {fmt_int(round(v[0])) if v[0] else 'none'}" for k, v in best.items()))
    if fb:
        for k in fb["scenarios"]:
            print(f"Fallback, primary {k}: " + "; ".join(
                f"{LABEL[sn]} wait p50 {fmt_ms(ms(r['total_us']['p50']))} ms, dead primary got {r.get('primary_requests', '?')}/{r['count']}"
                for sn, r in fb["scenarios"][k].items() if r.get("total_us")))
    for k, v in env.get("unavailable", {}).items():
        print(f"NOT RUN: {k}: {v.splitlines()[0]}")
    print()
    for g in goals:
        print(f"goal: {g[0]}: {g[1].replace('*', '')} — {g[2]}")
    print(f"\nwrote {a.out} and {a.chart}")


def analysis(L, fb, cpu, prof):
    """The reading of the profile, from the numbers (no number typed in)."""
    out = []
    lf, fl = cpu.get("llm-failover"), cpu.get("workerd-floor")
    if lf and fl and lf.get("cpu_ms_per_request") and fl.get("cpu_ms_per_request"):
        worker = [p for p in lf["processes"] if p["role"] == "workerd running the Worker"]
        fworker = [p for p in fl["processes"] if p["role"] == "workerd running the Worker"]
        rest = lf["cpu_ms_per_request"] - sum(p["cpu_ms_per_request"] or 0 for p in worker)
        out.append(
            f"**Reading.** Per request, llm-failover's processes use {fmt_ms(lf['cpu_ms_per_request'])} ms of CPU and the "
            f"pass-through floor Worker's {fmt_ms(fl['cpu_ms_per_request'])} ms under the same `wrangler dev`, so "
            f"{fmt_ms(fl['cpu_ms_per_request'])} ms ({fl['cpu_ms_per_request'] / lf['cpu_ms_per_request'] * 100:.0f} %) of "
            f"llm-failover's cost is the local runtime's plumbing, paid by any Worker here, and "
            f"{fmt_ms(lf['cpu_ms_per_request'] - fl['cpu_ms_per_request'])} ms is llm-failover's own. "
            + (f"The workerd running the Worker uses {fmt_ms(sum(p['cpu_ms_per_request'] or 0 for p in worker))} ms per request "
               f"(floor: {fmt_ms(sum(p['cpu_ms_per_request'] or 0 for p in fworker))} ms); the rest (the dev proxy, wrangler's "
               f"Node process, its esbuild watcher) {fmt_ms(rest)} ms. " if worker else "")
        )
        for peer in PEERS:
            c = cpu.get(peer)
            if c and c.get("cpu_ms_per_request"):
                out.append(f"{LABEL[peer]} uses {fmt_ms(c['cpu_ms_per_request'])} ms of CPU per request: llm-failover's total is "
                           f"{fmt_ratio(lf['cpu_ms_per_request'] / c['cpu_ms_per_request'])} that, its own part "
                           f"{fmt_ratio((lf['cpu_ms_per_request'] - fl['cpu_ms_per_request']) / c['cpu_ms_per_request'])}. ")
        out.append("On two cores shared by the load generator, the mock and the gateway, CPU per request is what sets "
                   "latency under concurrency and the throughput ceiling, so these ratios explain most of the gaps above.")
    if prof.get("by_pid_dso"):
        roles = {str(p["pid"]): p["role"] for p in prof.get("processes", [])}
        share = {}
        jit = 0.0
        for r in prof["by_pid_dso"]:
            pid = r["what"].split(" ", 1)[0].split(":")[0]
            share[roles.get(pid, "other")] = share.get(roles.get(pid, "other"), 0) + r["pct"]
            if "[JIT]" in r["what"] and roles.get(pid) in ("workerd running the Worker", "workerd serve (the Worker)"):
                jit += r["pct"]
        out.append("\n\nIn the perf profile, samples split by process: " + "; ".join(f"{k} {v:.0f} %" for k, v in sorted(share.items(), key=lambda kv: -kv[1])) +
                   f". Of the Worker's workerd, V8's generated code (the Worker's wasm and JavaScript, `[JIT]`) is {jit:.0f} % of all samples; "
                   "the rest of that process is workerd's own C++ (HTTP, KJ event loop, V8 runtime and GC, tcmalloc) and the kernel.")
    # Next round: the levers, each with its measured size.
    items = []
    def proc_ms(sysname, role):
        c = cpu.get(sysname) or {}
        return sum(p["cpu_ms_per_request"] or 0 for p in c.get("processes", []) if p["role"] == role)
    if lf and fl:
        n_lf, n_fl = proc_ms("llm-failover", "wrangler (Node)"), proc_ms("workerd-floor", "wrangler (Node)")
        items.append(f"under `wrangler dev` log lines and request events travel through the inspector/tail stream to "
                     f"wrangler's Node process, which spends {fmt_ms(n_lf)} ms of CPU per llm-failover request against "
                     f"{fmt_ms(n_fl)} ms for the silent floor Worker (the Worker logs at most one structured line per request, at the level the operator sets; the tail stream is not in production)")
    s_lf, s_fl = cpu.get("llm-failover-workerd") or {}, cpu.get("floor-workerd") or {}
    if s_lf.get("cpu_ms_per_request") and s_fl.get("cpu_ms_per_request"):
        w_lf, w_fl = s_lf["cpu_ms_per_request"], s_fl["cpu_ms_per_request"]
        items.append(f"in the production runtime (`workerd serve`), llm-failover's process uses {fmt_ms(w_lf)} ms of CPU per "
                     f"request against the floor Worker's {fmt_ms(w_fl)} ms ({fmt_ratio(w_lf / w_fl)}): "
                     f"{fmt_ms(w_lf - w_fl)} ms is llm-failover's own")
    inc = {r["frame"]: r["pct"] for r in prof.get("worker_inclusive", [])}
    found = [r for r in prof.get("worker_inclusive", []) if r.get("pct")]
    if found:
        items.append("that process's profile (inclusive shares of its samples): "
                     + ", ".join(f"{r['what']} {r['pct']:.0f} %" for r in found)
                     + "; fewer awaits and JS↔wasm crossings per request is the lever there")
    core = CORE
    if core and "classify/typical_4_bodies" in core.get("median", {}):
        r = core["median"]["classify/typical_4_bodies"]
        d = core["median"].get("decision_step", {})
        items.append(f"the core itself is not where the milliseconds go: in wasm with the Worker's build settings, classifying "
                     f"the four typical bodies takes {fmt_ms(r['wasm_worker_profile_ns'] / 1000)} µs and a decision step "
                     f"{fmt_ms(d.get('wasm_worker_profile_ns', 0) / 1000)} µs ({fmt_ratio(r['wasm_worker_profile_ns'] / r['wasm_ns'])} "
                     "the opt-level 3 wasm: building the Worker at opt-level 3 or \"s\" buys microseconds, worth it only "
                     "if the size stays far under the limit)")
    out.append("\n\n**Next round** (what the profile points at): " + "; ".join(f"({i + 1}) {t}" for i, t in enumerate(items)) +
               ". The runtime's plumbing (dev proxy, inspector, Node) is not in production and is not ours to remove; "
               "edge numbers need a deployed Worker and a client outside this machine.")
    return "".join(out)


if __name__ == "__main__":
    main()
