// harness.mjs — runs the llm-failover Worker in workerd (`wrangler dev`) against
// the fault-injecting mock upstream, for the end-to-end tests.
//
//   import { startMock, startGateway, chat, mockAttempts } from "./harness.mjs";
//   const mock = await startMock();                       // tests/e2e/mock-upstream.mjs, in-process
//   const gw = await startGateway({ config, secrets: { PRIMARY_KEY_1: "sk-…" }, tokens: ["tok"] });
//   const r = await chat(gw.url, { model: "chain", messages }, { token: "tok", stream: true });
//   r.status; r.headers["x-llm-failover-attempts"]; r.json /* non-SSE */; r.events /* SSE */;
//   await mockAttempts(mock.url, "fault-503");           // GET /__attempts?model=…
//   gw.logs();  await gw.stop();  await mock.close();
//
// Binaries: $WRANGLER_BIN / $NODE22_BIN if set, else <repo>/node_modules/.bin/{wrangler,node}.
// The Worker must already be built into build/ (scripts/build-worker); it is copied
// (with wrangler.toml) to a temp dir per gateway, so a rebuild during the run does
// not reload it. $E2E_WORKER_ROOT points at another checkout's build/ + wrangler.toml.
//
// Every wrangler runs in its own process group (spawned detached) and is killed as
// a group on stop(), and on process exit for any a test forgot. Upstream keys and
// gateway tokens go through a temporary `--env-file` (so they are "(hidden)" in
// wrangler's banner and absent from `ps`); the gateway config goes as
// `--var LLM_FAILOVER_CONFIG:<json>` (wrangler splits on the first colon only).

import { spawn } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { startMockUpstream } from "./mock-upstream.mjs";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** Where the built Worker (build/) and wrangler.toml are: $E2E_WORKER_ROOT, else the repo. */
export const WORKER_ROOT = process.env.E2E_WORKER_ROOT ? path.resolve(process.env.E2E_WORKER_ROOT) : REPO;

export function binaries() {
  return {
    wrangler: process.env.WRANGLER_BIN || path.join(REPO, "node_modules/.bin/wrangler"),
    node: process.env.NODE22_BIN || path.join(REPO, "node_modules/.bin/node"),
  };
}

/** Whether the prerequisites (built Worker, wrangler, node 22) are present. */
export function prerequisites() {
  const { wrangler, node } = binaries();
  const missing = [];
  if (!fs.existsSync(path.join(WORKER_ROOT, "build/index.js"))) missing.push(`${WORKER_ROOT}/build/index.js (run scripts/build-worker)`);
  if (!fs.existsSync(wrangler)) missing.push(wrangler);
  if (!fs.existsSync(node)) missing.push(node);
  return missing;
}

// ── Everything a test saw, for the "keys never leak" checks ───────────────────

/** Every response a helper of this module received: {url, status, headers, body}. */
export const transcript = [];

function record(url, res, body) {
  transcript.push({ url, status: res.status, headers: headerObject(res.headers), body });
}

function headerObject(h) {
  const o = {};
  for (const [k, v] of h.entries()) o[k.toLowerCase()] = v;
  return o;
}

// ── Mock upstream ─────────────────────────────────────────────────────────────

export async function startMock(opts = {}) {
  return startMockUpstream({ port: 0, host: "127.0.0.1", ...opts });
}

/** The mock's attempts log (optionally for one model), over HTTP. */
export async function mockAttempts(mockUrl, model) {
  const q = model ? `?model=${encodeURIComponent(model)}` : "";
  const res = await fetch(`${mockUrl}/__attempts${q}`);
  if (!res.ok) throw new Error(`GET /__attempts: ${res.status}`);
  return res.json();
}

export async function clearMockAttempts(mockUrl) {
  await fetch(`${mockUrl}/__attempts`, { method: "DELETE" });
}

/** Makes the mock's `flap-<name>` models fail for `down_ms`. */
export async function flap(mockUrl, spec) {
  const res = await fetch(`${mockUrl}/__control/flap`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(spec),
  });
  if (!res.ok) throw new Error(`POST /__control/flap: ${res.status} ${await res.text()}`);
  return res.json();
}

// ── Ports ─────────────────────────────────────────────────────────────────────

/** A port that was free a moment ago (the OS picks it). */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/** A port with nothing listening on it (for "connection refused"). */
export const closedPort = freePort;

// ── Gateway (wrangler dev) ────────────────────────────────────────────────────

const live = new Set(); // process-group ids still running

function killGroup(pid, signal) {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

process.on("exit", () => {
  for (const pid of live) killGroup(pid, "SIGKILL");
});
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.once(sig, () => {
    for (const pid of live) killGroup(pid, "SIGKILL");
    process.exit(130);
  });
}

const BUILD_FILES = ["index.js", "index_bg.wasm", "package.json", "worker/shim.mjs"];

/**
 * Copies the built Worker (build/) and wrangler.toml into `<tmp>/worker`, so that
 * a rebuild of build/ while the tests run (wrangler watches its inputs and
 * reloads the Worker: "Your worker restarted mid-request") cannot disturb them.
 * Retries until it copies a build that did not change while being copied.
 */
function snapshotWorker(tmp) {
  const dst = path.join(tmp, "worker");
  const stamp = () => BUILD_FILES.map((f) => fs.statSync(path.join(WORKER_ROOT, "build", f)).mtimeMs).join(",");
  for (let i = 0; ; i++) {
    try {
      const before = stamp();
      fs.rmSync(dst, { recursive: true, force: true });
      fs.mkdirSync(path.join(dst, "build/worker"), { recursive: true });
      for (const f of BUILD_FILES) fs.copyFileSync(path.join(WORKER_ROOT, "build", f), path.join(dst, "build", f));
      fs.copyFileSync(path.join(WORKER_ROOT, "wrangler.toml"), path.join(dst, "wrangler.toml"));
      // (Not WebAssembly.validate: Node 20 lacks the wasm features workerd has.)
      const wasm = fs.readFileSync(path.join(dst, "build/index_bg.wasm"));
      const wasmOk = wasm.length > 1024 && wasm.readUInt32LE(0) === 0x6d736100;
      if (wasmOk && stamp() === before) return dst;
    } catch (e) {
      if (i >= 20) throw e;
    }
    if (i >= 20) throw new Error("build/ kept changing while it was copied");
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 500);
  }
}

function envFileLine(name, value) {
  if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(name)) throw new Error(`bad variable name ${name}`);
  const v = String(value);
  if (/[\n\r']/.test(v)) throw new Error(`variable ${name}: value must not contain newlines or single quotes`);
  return `${name}='${v}'`;
}

/**
 * Starts `wrangler dev` on the built Worker.
 *
 * - `config`: the gateway config (object or JSON string) → LLM_FAILOVER_CONFIG.
 * - `secrets`: {NAME: value} — upstream keys (and anything else secret).
 * - `vars`: {NAME: value} — other variables (CORS_ORIGINS, …).
 * - `tokens`: gateway bearer tokens → GATEWAY_TOKENS; without any,
 *   ALLOW_UNAUTHENTICATED=true.
 * - `persistTo`: the local state directory (KV); default a fresh temp dir.
 * - `port`, `inspectorPort`: default free ports.
 *
 * Resolves once `GET /health` answers 200: {url, port, pid, logs(), stop()}.
 */
export async function startGateway({
  config,
  secrets = {},
  vars = {},
  tokens = [],
  persistTo,
  port,
  inspectorPort,
  readyTimeoutMs = 90_000,
} = {}) {
  const missing = prerequisites();
  if (missing.length) throw new Error(`cannot start the gateway, missing: ${missing.join(", ")}`);
  const { wrangler, node } = binaries();
  port ??= await freePort();
  inspectorPort ??= await freePort();
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "llm-failover-e2e-"));
  const ownState = persistTo === undefined;
  persistTo ??= path.join(tmp, "state");
  const workdir = snapshotWorker(tmp);

  const envLines = [];
  for (const [k, v] of Object.entries(secrets)) envLines.push(envFileLine(k, v));
  for (const [k, v] of Object.entries(vars)) envLines.push(envFileLine(k, v));
  if (tokens.length) envLines.push(envFileLine("GATEWAY_TOKENS", tokens.join(",")));
  else envLines.push(envFileLine("ALLOW_UNAUTHENTICATED", "true"));
  const envFile = path.join(tmp, "gateway.env");
  fs.writeFileSync(envFile, envLines.join("\n") + "\n", { mode: 0o600 });

  const args = [
    wrangler,
    "dev",
    "--port", String(port),
    "--inspector-port", String(inspectorPort),
    "--ip", "127.0.0.1",
    "--persist-to", persistTo,
    "--env-file", envFile,
    "-c", path.join(workdir, "wrangler.toml"),
    "--show-interactive-dev-session=false",
  ];
  if (config !== undefined) {
    const json = typeof config === "string" ? config : JSON.stringify(config);
    if (json.length > 100_000) throw new Error("config too large for a --var argument");
    args.push("--var", `LLM_FAILOVER_CONFIG:${json}`);
  }

  let out = "";
  const child = spawn(node, args, {
    cwd: workdir,
    detached: true,
    stdio: ["ignore", "pipe", "pipe"],
    env: {
      ...process.env,
      CI: "true",
      WRANGLER_SEND_METRICS: "false",
      CLOUDFLARE_CF_FETCH_ENABLED: "false",
      NO_COLOR: "1",
      FORCE_COLOR: "0",
    },
  });
  live.add(child.pid);
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  let exited = null;
  const exitPromise = new Promise((resolve) =>
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    }),
  );

  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return exitPromise;
    stopped = true;
    if (exited === null) {
      killGroup(child.pid, "SIGTERM");
      const t = setTimeout(() => killGroup(child.pid, "SIGKILL"), 5_000);
      await exitPromise;
      clearTimeout(t);
    }
    // workerd children may outlive wrangler by a moment: make sure the group is gone.
    killGroup(child.pid, "SIGKILL");
    live.delete(child.pid);
    // The temp dir holds the env file (keys), the Worker copy and, unless the
    // caller chose one, the state directory.
    fs.rmSync(ownState ? tmp : envFile, { recursive: true, force: true });
    fs.rmSync(workdir, { recursive: true, force: true });
    return exitPromise;
  };

  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (exited) {
      await stop();
      throw new Error(`wrangler dev exited (${JSON.stringify(exited)}) before it was ready:\n${out}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`wrangler dev not ready on ${url} after ${readyTimeoutMs} ms:\n${out}`);
    }
    try {
      const res = await fetch(`${url}/health`, { signal: AbortSignal.timeout(2_000) });
      await res.arrayBuffer();
      if (res.status === 200) break;
    } catch {
      /* not listening yet */
    }
    await sleep(150);
  }

  return { url, port, inspectorPort, persistTo, pid: child.pid, logs: () => out, stop };
}

// ── Client helpers ────────────────────────────────────────────────────────────

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** The user message every e2e request sends. */
export const MESSAGES = [{ role: "user", content: "hi" }];

/** A fresh gateway token for one test file. */
export const gatewayToken = () => `gw-e2e-token-${Math.random().toString(36).slice(2)}`;

/** Distinctive upstream key values (asserted never to leak), by secret name. */
export function e2eKeys(extra = {}) {
  return { PRIMARY_KEY_1: secretKey("p1-"), PRIMARY_KEY_2: secretKey("p2-"), SECONDARY_KEY: secretKey("s-"), ...extra };
}

/** Per-attempt timeouts short enough that silent or stalled upstreams resolve fast. */
export const FAST_TIMEOUT_MS = 1500;
export const FAST_TIMEOUTS = {
  response_timeout_ms: FAST_TIMEOUT_MS,
  header_timeout_ms: FAST_TIMEOUT_MS,
  first_token_timeout_ms: FAST_TIMEOUT_MS,
  idle_timeout_ms: FAST_TIMEOUT_MS,
};

/** Parses SSE text into [{data, json?}] (and {comment} entries with `comments`). */
export function parseSse(text, { comments = false } = {}) {
  const events = [];
  for (const block of text.replace(/\r\n/g, "\n").split("\n\n")) {
    if (!block.trim()) continue;
    const data = [];
    for (const line of block.split("\n")) {
      if (comments && line.startsWith(":")) events.push({ comment: line.slice(1).trim() });
      else if (line.startsWith("data:")) data.push(line.slice(5).replace(/^ /, ""));
    }
    if (!data.length) continue;
    const d = data.join("\n");
    let json;
    if (d !== "[DONE]") {
      try {
        json = JSON.parse(d);
      } catch {
        json = undefined;
      }
    }
    events.push({ data: d, json });
  }
  return events;
}

/** The text the content deltas of a chunk list add up to. */
export function streamText(events) {
  let s = "";
  for (const e of events) {
    for (const c of e.json?.choices ?? []) s += c?.delta?.content ?? "";
  }
  return s;
}

/**
 * POSTs a chat completion to the gateway. `body` is an object (or a string sent
 * as is). Options: token, stream (sets body.stream), headers, timeoutMs.
 *
 * → {status, headers, text, json (non-SSE), events (SSE), done, ms}
 */
export async function chat(url, body, { token, stream, headers = {}, timeoutMs = 60_000, path: p = "/v1/chat/completions" } = {}) {
  let payload = body;
  if (typeof body === "object" && body !== null) {
    payload = JSON.stringify(stream === undefined ? body : { ...body, stream });
  }
  const h = { "content-type": "application/json", ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const t0 = Date.now();
  const res = await fetch(url + p, { method: "POST", headers: h, body: payload, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  const ms = Date.now() - t0;
  record(url + p, res, text);
  const hdrs = headerObject(res.headers);
  const out = { status: res.status, headers: hdrs, text, ms, json: undefined, events: undefined, done: false };
  if ((hdrs["content-type"] ?? "").startsWith("text/event-stream")) {
    out.events = parseSse(text);
    out.done = out.events.some((e) => e.data === "[DONE]");
  } else {
    try {
      out.json = JSON.parse(text);
    } catch {
      out.json = undefined;
    }
  }
  return out;
}

/** A `fetch` that records every response in the transcript (for SDK clients). */
export async function recordingFetch(input, init) {
  const res = await fetch(input, init);
  const copy = res.clone();
  const url = typeof input === "string" ? input : input.url ?? String(input);
  copy
    .text()
    .then((body) => record(url, copy, body))
    .catch(() => record(url, copy, ""));
  return res;
}

/** Any other request to the gateway, recorded like chat(): → {status, headers, text, json}. */
export async function request(url, { method = "GET", token, headers = {}, body, timeoutMs = 30_000 } = {}) {
  const h = { ...headers };
  if (token) h.authorization = `Bearer ${token}`;
  const res = await fetch(url, { method, headers: h, body, signal: AbortSignal.timeout(timeoutMs) });
  const text = await res.text();
  record(url, res, text);
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: headerObject(res.headers), text, json };
}

/** Parses `x-llm-failover-attempts` ("p/m=kind, …") into [{target, outcome}]. */
export function parseAttemptsHeader(value) {
  if (!value) return [];
  return value.split(", ").map((s) => {
    const i = s.lastIndexOf("=");
    return { target: s.slice(0, i), outcome: s.slice(i + 1) };
  });
}

/** A distinctive fake key value. */
export function secretKey(label = "") {
  const rnd = Array.from({ length: 24 }, () => "abcdefghijklmnopqrstuvwxyz0123456789"[Math.floor(Math.random() * 36)]).join("");
  return `sk-e2e-SECRET-${label}${rnd}`;
}

/** Where any of `secrets` occurs in the transcript or in `extraTexts` ({label: text}). */
export function findLeaks(secrets, extraTexts = {}) {
  const hits = [];
  const values = Object.values(secrets);
  for (const r of transcript) {
    const hay = [r.body, ...Object.values(r.headers)].join("\n");
    for (const v of values) if (hay.includes(v)) hits.push(`${r.url} (status ${r.status}) contains a key`);
  }
  for (const [label, text] of Object.entries(extraTexts)) {
    for (const v of values) if (text.includes(v)) hits.push(`${label} contains a key`);
  }
  return hits;
}
