#!/usr/bin/env python3
"""The core's numbers and the sizes, for bench/run (standard library only).

    python3 bench/core.py --results DIR --node NODE22 [--quick]

Writes DIR/core.json:
  criterion   medians of `cargo bench --bench core` (benches/core.rs), natively
  rounds      ROUNDS interleaved rounds of the same code (bench/core-wasm) timed
              the same way natively (core-native, opt-level 3 like criterion) and
              in wasm under Node 22's V8 (the engine workerd embeds), built
              twice: opt-level 3 ("wasm") and the Worker's own settings,
              opt-level "z" + fat LTO ("wasm_worker_profile")
  median      per benchmark, the median over rounds of each, and the ratios
and DIR/size.json: the Worker's wasm (build/index_bg.wasm) and the npm
package's (build/pkg/llm_failover_bg.wasm), raw and gzip -9, against
Cloudflare's documented Worker size limits.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CORE_T = os.path.join(ROOT, "target/bench-core-wasm")
BENCHES = ["classify/1024", "classify/16384", "classify/262144", "classify/typical_4_bodies", "decision_step", "stream_chunk"]

# Cloudflare's Worker size limits, as documented (checked 2026-11 with the
# project's search tool, docs corpus): the limits page
# (developers.cloudflare.com/workers/platform/limits/) now gives one 64 MiB
# limit on every plan, uncompressed (cloudflare-docs PR #31002: "a single 64 MiB
# uncompressed limit on all Workers plans, matching the removal of the former
# compressed 3 MB/10 MB limit"). The former limits, which the issue names, were
# 3 MB (Free) and 10 MB (Paid) after compression (gzip, as wrangler reports it).
LIMITS = {
    "current_uncompressed_all_plans": 64 * 1024 * 1024,
    "former_compressed_free": 3 * 1000 * 1000,
    "former_compressed_paid": 10 * 1000 * 1000,
    "source": "developers.cloudflare.com/workers/platform/limits/ (Worker size: 64 MiB on Free and Paid); "
    "former 3 MB / 10 MB compressed: the same page before 2026 and cloudflare-docs PR #18400; "
    "change: cloudflare-docs PR #31002",
}


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, cwd=ROOT, **kw).stdout


def criterion(quick):
    extra = ["--warm-up-time", "1", "--measurement-time", "2"] if quick else []
    marker = time.time()
    subprocess.run(["cargo", "bench", "-q", "--bench", "core", "--", *extra], check=True, cwd=ROOT,
                   stdout=subprocess.DEVNULL, stderr=sys.stderr)
    target = json.loads(run(["cargo", "metadata", "--no-deps", "--format-version", "1"]))["target_directory"]
    out = {}
    for name in BENCHES:
        est = os.path.join(target, "criterion", name, "new", "estimates.json")
        if os.path.exists(est) and os.path.getmtime(est) >= marker - 1:
            with open(est) as f:
                m = json.load(f)["median"]
            ci = m.get("confidence_interval", {})
            out[name] = {"median_ns": m["point_estimate"], "ci_lo": ci.get("lower_bound"), "ci_hi": ci.get("upper_bound")}
    return out


def harness(node, batches, min_ms):
    native = json.loads(run([os.path.join(CORE_T, "release/core-native"), str(batches), str(min_ms)]))
    wasm = json.loads(run([node, "bench/core-wasm.mjs", os.path.join(CORE_T, "wasm32-unknown-unknown/release/bench_core_wasm.wasm"), str(batches), str(min_ms)]))
    worker = json.loads(run([node, "bench/core-wasm.mjs", os.path.join(CORE_T, "wasm32-unknown-unknown/worker/bench_core_wasm.wasm"), str(batches), str(min_ms)]))
    return {"native": native, "wasm": wasm, "wasm_worker_profile": worker, "loadavg": [round(x, 2) for x in os.getloadavg()]}


def gz_size(path):
    return len(subprocess.run(["gzip", "-9c", path], check=True, capture_output=True).stdout)


def sizes():
    out = {"limits": LIMITS}
    for key, path in [("worker_wasm", "build/index_bg.wasm"), ("worker_js", "build/index.js"),
                      ("npm_wasm", "build/pkg/llm_failover_bg.wasm")]:
        p = os.path.join(ROOT, path)
        if os.path.exists(p):
            out[key] = {"path": path, "raw": os.path.getsize(p), "gzip9": gz_size(p), "mtime": os.path.getmtime(p)}
        else:
            out[key] = {"path": path, "missing": True}
    w, j = out["worker_wasm"], out["worker_js"]
    if not w.get("missing") and not j.get("missing"):
        # What wrangler uploads: the module and its wasm; compressed together as a
        # rough equivalent of wrangler's "gzip:" figure.
        both = subprocess.run(["sh", "-c", f"cat '{os.path.join(ROOT, w['path'])}' '{os.path.join(ROOT, j['path'])}' | gzip -9c | wc -c"],
                              check=True, capture_output=True, text=True).stdout
        out["worker_upload"] = {"raw": w["raw"] + j["raw"], "gzip9": int(both.strip())}
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--results", required=True)
    ap.add_argument("--node", required=True)
    ap.add_argument("--quick", action="store_true")
    a = ap.parse_args()
    os.makedirs(a.results, exist_ok=True)
    t0 = time.time()
    rounds_n, batches, min_ms = (1, 9, 3) if a.quick else (3, 25, 5)
    out = {"quick": a.quick, "machine": {"cpu": platform.processor() or platform.machine(), "cores": os.cpu_count(),
                                         "rustc": run(["rustc", "--version"]).strip(),
                                         "node": run([a.node, "--version"]).strip()}}
    print("core: criterion (cargo bench --bench core)", file=sys.stderr)
    out["criterion"] = criterion(a.quick)
    out["rounds"] = []
    for i in range(rounds_n):
        print(f"core: harness round {i + 1}/{rounds_n} (native, wasm, wasm with the Worker's profile)", file=sys.stderr)
        out["rounds"].append(harness(a.node, batches, min_ms))
    med = {}
    for b in BENCHES:
        row = {}
        for kind in ["native", "wasm", "wasm_worker_profile"]:
            row[kind + "_ns"] = statistics.median(r[kind][b]["median_ns"] for r in out["rounds"])
        row["wasm_over_native"] = row["wasm_ns"] / row["native_ns"]
        row["wasm_worker_profile_over_native"] = row["wasm_worker_profile_ns"] / row["native_ns"]
        med[b] = row
    out["median"] = med
    out["seconds"] = round(time.time() - t0)
    with open(os.path.join(a.results, "core.json"), "w") as f:
        json.dump(out, f, indent=1)
    with open(os.path.join(a.results, "size.json"), "w") as f:
        json.dump(sizes(), f, indent=1)
    for b, r in med.items():
        print(f"core: {b:28s} native {r['native_ns'] / 1000:8.2f} µs  wasm {r['wasm_ns'] / 1000:8.2f} µs "
              f"({r['wasm_over_native']:.2f}x)  wasm/Worker profile {r['wasm_worker_profile_ns'] / 1000:8.2f} µs "
              f"({r['wasm_worker_profile_over_native']:.2f}x)", file=sys.stderr)


if __name__ == "__main__":
    main()
