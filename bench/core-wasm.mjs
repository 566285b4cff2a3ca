// Times the core's hot paths compiled to wasm (bench/core-wasm, no imports) in
// this Node's V8 — the JavaScript/wasm engine workerd embeds — the same way
// bench/core-wasm/src/main.rs times them natively: calibrate a batch to at
// least MIN_BATCH_MS, run BATCHES batches, report the median ns per call.
//
//   node bench/core-wasm.mjs MODULE.wasm [BATCHES] [MIN_BATCH_MS]
//
// Prints {"<bench>": {"median_ns", "batches", "iters"}, ...}.
import fs from "node:fs";

const [file, batchesArg, minArg] = process.argv.slice(2);
const BATCHES = Number(batchesArg ?? 25);
const MIN_MS = Number(minArg ?? 5);
const WARMUP_MS = 300;
const { instance } = await WebAssembly.instantiate(fs.readFileSync(file), {});
const x = instance.exports;

const now = () => Number(process.hrtime.bigint()) / 1e6;
function time(f) {
  const t = now();
  f();
  return now() - t;
}
function measure(batch) {
  // Warm up (V8 compiles wasm lazily with Liftoff, then tiers hot functions up
  // to TurboFan): ~WARMUP_MS of calls before calibrating.
  const t0 = now();
  while (now() - t0 < WARMUP_MS) batch(1);
  let iters = 1;
  for (;;) {
    const ms = batch(iters);
    if (ms >= MIN_MS || iters >= 1 << 24) break;
    iters *= 2;
  }
  const per = [];
  for (let i = 0; i < BATCHES; i++) per.push((batch(iters) * 1e6) / iters);
  per.sort((a, b) => a - b);
  return { median_ns: Math.round(per[per.length >> 1] * 10) / 10, batches: BATCHES, iters };
}

const out = {};
for (const size of [1024, 16384, 262144]) {
  x.setup_classify(size);
  out[`classify/${size}`] = measure((n) => time(() => x.run_classify(n)));
}
x.setup_typical();
out["classify/typical_4_bodies"] = measure((n) => time(() => x.run_typical(n)));
out["decision_step"] = measure((n) => {
  x.prepare_decision(n);
  return time(() => x.run_decision());
});
x.setup_stream();
out["stream_chunk"] = measure((n) => time(() => x.run_stream(n)));
console.log(JSON.stringify(out));
