#!/usr/bin/env node
// Runs a Worker in `workerd serve` alone — the runtime Cloudflare's edge runs,
// without wrangler's dev proxy, inspector or Node process in the request path —
// for bench/run's headline rows. Writes a workerd config (capnp) into a temp
// directory and execs workerd from node_modules; the Worker's fetch() may reach
// loopback (the mock upstream), and a KV namespace is served in memory by kv.js.
//
//   node bench/peers/workerd-serve/serve.mjs --gateway --port N --vars vars.json
//       the llm-failover Worker (build/index.js + build/index_bg.wasm); every
//       key of vars.json becomes a text binding (config, tokens, secrets)
//   node bench/peers/workerd-serve/serve.mjs --floor --port N --vars vars.json
//       bench/peers/workerd-floor/worker.js (vars: UPSTREAM), or --script FILE
//
// workerd replaces this process (exec-like: it is spawned with inherited stdio
// and this process waits for it), so the process group is workerd's.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const REPO = path.resolve(HERE, "../../..");
const args = process.argv.slice(2);
const opt = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const kind = args.includes("--floor") ? "floor" : "gateway";
const port = Number(opt("--port"));
if (!Number.isInteger(port) || port <= 0) throw new Error("--port N is required");
const vars = JSON.parse(fs.readFileSync(opt("--vars"), "utf8"));

const dir = fs.mkdtempSync(path.join(os.tmpdir(), `llm-failover-workerd-${kind}-`));
const q = (s) => JSON.stringify(s); // capnp text literals take JSON's escapes for ASCII
// `embed` reads files relative to the config: everything is copied next to it.
const local = (src, name) => {
  fs.copyFileSync(src, path.join(dir, name));
  return q(name);
};
const bindings = Object.entries(vars).map(([name, value]) => {
  fs.writeFileSync(path.join(dir, `var-${name}`), String(value));
  return `(name = ${q(name)}, text = embed ${q(`var-${name}`)})`;
});
let modules;
if (kind === "gateway") {
  modules = [
    `(name = "index.js", esModule = embed ${local(path.join(REPO, "build/index.js"), "index.js")})`,
    `(name = "index_bg.wasm", wasm = embed ${local(path.join(REPO, "build/index_bg.wasm"), "index_bg.wasm")})`,
  ];
  bindings.push(`(name = "COOLDOWNS", kvNamespace = "kv")`);
} else {
  const script = opt("--script") ?? path.join(REPO, "bench/peers/workerd-floor/worker.js");
  modules = [`(name = "worker.js", esModule = embed ${local(script, "worker.js")})`];
}
// WORKERD_V8_FLAGS (space-separated) reaches V8, e.g. "--perf-basic-prof" for a
// JIT symbol map that `perf report` reads (see bench/README.md, "Profiling").
const flags = (process.env.WORKERD_V8_FLAGS ?? "").split(" ").filter(Boolean);
const v8Flags = flags.length ? `\n  v8Flags = [${flags.map(q).join(", ")}],` : "";
const capnp = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (${v8Flags}
  services = [
    (name = "main", worker = .main),
    (name = "kv", worker = .kv),
    (name = "net", network = (allow = ["public", "private", "local"])),
  ],
  sockets = [(name = "http", address = "127.0.0.1:${port}", http = (), service = "main")],
);

const main :Workerd.Worker = (
  modules = [${modules.join(", ")}],
  compatibilityDate = "2026-11-01",
  bindings = [${bindings.join(", ")}],
  globalOutbound = "net",
);

const kv :Workerd.Worker = (
  modules = [(name = "kv.js", esModule = embed ${local(path.join(HERE, "kv.js"), "kv.js")})],
  compatibilityDate = "2026-11-01",
);
`;
const file = path.join(dir, "config.capnp");
fs.writeFileSync(file, capnp);
const workerd = path.join(REPO, "node_modules/workerd/bin/workerd");
const child = spawn(workerd, ["serve", file, "--experimental"], { stdio: "inherit" });
const stop = () => child.kill("SIGTERM");
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
child.on("exit", (code, signal) => {
  fs.rmSync(dir, { recursive: true, force: true });
  process.exit(code ?? (signal ? 0 : 1));
});
