// Shared by the component tests: loads the jco-transpiled component, runs the
// native CLIs, drives the component through its WIT exports like
// src/dry_run.rs drives the core, and converts WIT values back to the core's JSON
// (strictly: every field, every type) so the two can be compared.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SCENARIOS_DIR = path.join(ROOT, 'tests', 'component', 'scenarios');

// --- the component -------------------------------------------------------------

/** The transpiled component (scripts/test-component makes it). */
export async function loadComponent() {
  const file =
    process.env.LLM_FAILOVER_COMPONENT_JS ??
    path.join(ROOT, 'build', 'component', 'js', 'llm_failover.js');
  if (!fs.existsSync(file)) {
    throw new Error(`${file} is missing: run scripts/test-component (it builds and transpiles the component)`);
  }
  return import(pathToFileURL(file).href);
}

// --- the native side -----------------------------------------------------------

const binaries = new Map();

/** Builds a native CLI with cargo (like `cargo run --bin NAME`) and returns its path. */
export function nativeBin(name) {
  if (binaries.has(name)) return binaries.get(name);
  const r = spawnSync('cargo', ['build', '--bin', name, '--message-format=json-render-diagnostics'], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 256 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`cargo build --bin ${name} failed:\n${r.stderr}`);
  let exe;
  for (const line of r.stdout.split('\n')) {
    if (!line.startsWith('{')) continue;
    const msg = JSON.parse(line);
    if (msg.reason === 'compiler-artifact' && msg.target?.name === name && msg.executable) exe = msg.executable;
  }
  if (!exe) throw new Error(`cargo did not report an executable for ${name}`);
  binaries.set(name, exe);
  return exe;
}

/** Runs `llm-failover-dry-run CONFIG SCRIPT [SNAPSHOT]`: its JSON, or {error, status}. */
export function nativeDryRun(configPath, scriptPath, snapshotPath) {
  const args = [configPath, scriptPath];
  if (snapshotPath) args.push(snapshotPath);
  const r = spawnSync(nativeBin('llm-failover-dry-run'), args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) return { error: r.stderr.trim(), status: r.status };
  return JSON.parse(r.stdout);
}

/** Runs `llm-failover-classify` on JSON lines: one parsed output per line. */
export function nativeClassify(lines) {
  const r = spawnSync(nativeBin('llm-failover-classify'), [], {
    input: lines.map((l) => JSON.stringify(l)).join('\n') + '\n',
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.status !== 0) throw new Error(`llm-failover-classify exited ${r.status}:\n${r.stdout}\n${r.stderr}`);
  return r.stdout.trim().split('\n').map((l) => JSON.parse(l));
}

let tmpDir;
/** Writes `value` as JSON to a temporary file and returns its path. */
export function tmpJson(name, value) {
  if (!tmpDir) {
    tmpDir = fs.mkdtempSync(path.join(os.tmpdir(), 'llm-failover-component-'));
    process.on('exit', () => fs.rmSync(tmpDir, { recursive: true, force: true }));
  }
  const file = path.join(tmpDir, `${name}.json`);
  fs.writeFileSync(file, JSON.stringify(value, null, 2));
  return file;
}

// --- scenarios -----------------------------------------------------------------

/**
 * A scenario file: `{description, config, runs: [{script, cooldowns?, expect?}]}`.
 * `config` and each `script` are a path relative to the repository root or an
 * inline object. `cooldowns: "previous"` starts the run from the cooldown table the
 * previous run left (natively: its snapshot passed to the CLI).
 */
export function loadScenarios() {
  return fs
    .readdirSync(SCENARIOS_DIR)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const s = JSON.parse(fs.readFileSync(path.join(SCENARIOS_DIR, f), 'utf8'));
      const name = f.replace(/\.json$/, '');
      const file = (what, v, i) =>
        typeof v === 'string' ? path.join(ROOT, v) : tmpJson(`${name}-${what}${i ?? ''}`, v);
      const configPath = file('config', s.config);
      return {
        name,
        description: s.description,
        configPath,
        configJson: fs.readFileSync(configPath, 'utf8'),
        runs: s.runs.map((r, i) => {
          const scriptPath = file('script', r.script, i);
          return {
            scriptPath,
            script: JSON.parse(fs.readFileSync(scriptPath, 'utf8')),
            cooldowns: r.cooldowns ?? 'fresh',
            expect: r.expect ?? {},
          };
        }),
      };
    });
}

/** The native side of a scenario: one CLI output per run. */
export function nativeScenario(scenario) {
  const outs = [];
  scenario.runs.forEach((run, i) => {
    let snapshotPath;
    if (run.cooldowns === 'previous') {
      assert.ok(i > 0, 'the first run has no previous run');
      snapshotPath = tmpJson(`${scenario.name}-snapshot${i}`, outs[i - 1].snapshot);
    }
    const out = nativeDryRun(scenario.configPath, run.scriptPath, snapshotPath);
    if (out.error) throw new Error(`native dry run ${i} of ${scenario.name} failed: ${out.error}`);
    outs.push(out);
  });
  return outs;
}

/**
 * The component side of a scenario, with the cooldowns carried one of three ways:
 * - `shared`: the runs share one `gateway` (its table) — what a long-lived host does;
 * - `merged`: each run gets a fresh `gateway` that merges the previous run's exported snapshot;
 * - `one-shot`: each run is a `fallback-run.create(config, snapshot, …)` on its own table.
 * Returns the raw WIT values of each run.
 */
export function componentScenario(mod, scenario, mode) {
  const { fallback } = mod;
  const outs = [];
  let gateway;
  scenario.runs.forEach((run, i) => {
    const previous = run.cooldowns === 'previous' ? outs[i - 1].snapshot : { entries: [], firstToken: [] };
    let start;
    if (mode === 'shared') {
      if (run.cooldowns !== 'previous' || !gateway) gateway = fallback.Gateway.create(scenario.configJson);
      start = (model, options) => gateway.start(model, options);
    } else if (mode === 'merged') {
      const gw = fallback.Gateway.create(scenario.configJson);
      gw.merge(previous);
      start = (model, options) => gw.start(model, options);
    } else if (mode === 'one-shot') {
      start = (model, options) => fallback.FallbackRun.create(scenario.configJson, previous, model, options);
    } else {
      throw new Error(`unknown mode ${mode}`);
    }
    outs.push(componentDryRun(start, run.script));
  });
  return outs;
}

// --- the driver: src/dry_run.rs on top of the component's exports ------------------

const DEFAULT_LATENCY_MS = 100n;
const MAX_STEPS = 10_000;

/** A script's outcome (`"ok"`, `{status…}`, `{transport}`, `{stream_error}`, `{commit_then}`) in WIT terms. */
function stepOutcome(o, what) {
  if (o === 'ok') return { outcome: { tag: 'success' }, commit: false };
  assert.ok(o && typeof o === 'object', `${what}: a step is "ok" or an object`);
  if ('status' in o) {
    // The core reads headers from a sorted map: same order here.
    const headers = Object.entries(o.headers ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return {
      outcome: { tag: 'failure', val: { tag: 'http', val: { status: o.status, headers, body: o.body ?? '' } } },
      commit: false,
    };
  }
  if ('transport' in o) {
    return {
      outcome: { tag: 'failure', val: { tag: 'transport', val: { tag: o.transport.replaceAll('_', '-') } } },
      commit: false,
    };
  }
  if ('stream_error' in o) {
    return { outcome: { tag: 'failure', val: { tag: 'stream-error', val: o.stream_error } }, commit: false };
  }
  if ('commit_then' in o) return { outcome: stepOutcome(o.commit_then, what).outcome, commit: true };
  throw new Error(`${what}: unknown step ${JSON.stringify(o)}`);
}

function parseStep(step, what) {
  if (step === 'ok') return { outcome: { tag: 'success' }, commit: false, latency: undefined };
  const { latency_ms: latencyMs, ok, ...rest } = step;
  const latency = latencyMs === undefined || latencyMs === null ? undefined : BigInt(latencyMs);
  if (ok !== undefined) {
    assert.equal(ok, true, `${what}: \`ok\` must be true`);
    return { outcome: { tag: 'success' }, commit: false, latency };
  }
  return { ...stepOutcome(rest, what), latency };
}

/**
 * Replays `script` through a run made by `start(model, runOptions)`, exactly like
 * `dry_run_with_table`: the clock starts at `script.now`, each attempt takes its
 * step's latency (100 ms by default), a `wait` jumps the clock to its end, attempts
 * beyond the script succeed. Returns the raw WIT values.
 */
export function componentDryRun(start, script) {
  assert.ok(Number.isSafeInteger(script.now ?? 0) && Number.isSafeInteger(script.seed ?? 0));
  let now = BigInt(script.now ?? 0);
  const seed = BigInt(script.seed ?? 0);
  const run = start(script.model, { now, seed, runId: seed, stream: script.stream ?? false });
  const steps = (script.steps ?? []).map((s, i) => parseStep(s, `steps[${i}]`));
  let next = 0;
  for (let i = 0; i < MAX_STEPS; i++) {
    const action = run.pollAction(now);
    switch (action.tag) {
      case 'finished':
        return {
          result: action.val,
          finalResult: run.finalResult(),
          trace: run.trace(),
          attempts: run.attempts(),
          snapshot: run.snapshot(now),
          endedAt: now,
          run,
        };
      case 'wait': {
        assert.equal(typeof action.val, 'bigint', 'wait(timestamp) is a u64: a bigint');
        const until = action.val;
        now = until > now + 1n ? until : now + 1n;
        break;
      }
      case 'send': {
        const plan = action.val;
        const step = next < steps.length ? steps[next++] : undefined;
        const latency = step?.latency ?? DEFAULT_LATENCY_MS;
        const outcome = step ? step.outcome : { tag: 'success' };
        // As ScriptedRun: only a streaming attempt commits.
        if (step?.commit && plan.stream) {
          now += latency / 2n;
          run.handleOutcome(now, plan.attempt, { tag: 'committed' });
          now += latency - latency / 2n;
        } else {
          now += latency;
        }
        run.handleOutcome(now, plan.attempt, outcome);
        break;
      }
      default:
        throw new Error(`unexpected action ${JSON.stringify(action.tag)}`);
    }
  }
  throw new Error('the run did not finish within the step guard');
}

// --- WIT values -> the core's JSON, strictly -------------------------------------

function u64(v, what) {
  assert.equal(typeof v, 'bigint', `${what}: a u64 must arrive as a bigint`);
  assert.ok(v >= 0n && v <= BigInt(Number.MAX_SAFE_INTEGER), `${what}: ${v} out of the compared range`);
  return Number(v);
}
function int(bits) {
  const max = 2 ** bits - 1;
  return (v, what) => {
    assert.equal(typeof v, 'number', `${what}: a u${bits} must arrive as a number`);
    assert.ok(Number.isInteger(v) && v >= 0 && v <= max, `${what}: ${v} is not a u${bits}`);
    return v;
  };
}
const u32 = int(32);
const u16 = int(16);
function str(v, what) {
  assert.equal(typeof v, 'string', `${what}: a string`);
  return v;
}
function bool(v, what) {
  assert.equal(typeof v, 'boolean', `${what}: a bool`);
  return v;
}
/** option<T>: jco gives `undefined` for none; the core's JSON has `null`. */
function opt(conv) {
  return (v, what) => {
    assert.notEqual(v, null, `${what}: none must be undefined, not null`);
    return v === undefined ? null : conv(v, what);
  };
}
function list(conv) {
  return (v, what) => {
    assert.ok(Array.isArray(v), `${what}: a list`);
    return v.map((x, i) => conv(x, `${what}[${i}]`));
  };
}
/**
 * A record: exactly these fields (jco's camelCase) -> the core's snake_case names.
 * A field whose name is null is checked but has no place in the core's JSON.
 */
function rec(spec) {
  return (v, what) => {
    assert.ok(v !== null && typeof v === 'object' && !Array.isArray(v), `${what}: a record`);
    assert.deepEqual(Object.keys(v).sort(), Object.keys(spec).sort(), `${what}: its fields`);
    const out = {};
    for (const [field, [name, conv]] of Object.entries(spec)) {
      const value = conv(v[field], `${what}.${field}`);
      if (name !== null) out[name] = value;
    }
    return out;
  };
}
/** A variant `{tag, val?}` whose payload-less cases are names: `rate-limited` -> `rate_limited`. */
function nameVariant(cases) {
  return (v, what) => {
    assert.ok(v !== null && typeof v === 'object', `${what}: a variant`);
    if (v.tag === 'other') {
      assert.deepEqual(Object.keys(v).sort(), ['tag', 'val'], `${what}: other(string)`);
      return str(v.val, `${what}.val`);
    }
    assert.ok(cases.includes(v.tag), `${what}: unknown case ${JSON.stringify(v.tag)}`);
    assert.ok(!('val' in v) || v.val === undefined, `${what}: ${v.tag} has no payload`);
    return v.tag.replaceAll('-', '_');
  };
}

/**
 * A typed reason `{tag, val?}` -> the core's `{"reason": "<snake_case>", …fields}`:
 * `payloads` names the cases that carry a record and how to read it.
 */
function reasonVariant(cases, payloads = {}) {
  return (v, what) => {
    assert.ok(v !== null && typeof v === 'object', `${what}: a variant`);
    if (v.tag in payloads) {
      assert.deepEqual(Object.keys(v).sort(), ['tag', 'val'], `${what}: ${v.tag}(…)`);
      return { reason: v.tag.replaceAll('-', '_'), ...payloads[v.tag](v.val, `${what}.val`) };
    }
    return { reason: nameVariant(cases)(v, what) };
  };
}

export const kind = nameVariant([
  'auth', 'quota-exhausted', 'rate-limited', 'overloaded', 'server-error', 'timeout', 'connection',
  'context-length', 'content-filtered', 'model-not-found', 'invalid-request', 'request-too-large',
  'invalid-response', 'unknown',
]);
export const scope = nameVariant(['key', 'key-model', 'model', 'endpoint', 'request']);
export const continuation = nameVariant(['prefill', 'fresh']);
const endCause = nameVariant(['upstream', 'cooling-down', 'deadline', 'attempt-budget', 'cancelled']);
const ending = nameVariant(['success', 'failed', 'cancelled']);
const scopeUntil = rec({ scope: ['scope', str], until: ['until', u64] });
const skipReason = reasonVariant(['already-failed', 'no-fallback', 'context-window', 'cannot-continue'], {
  'cooling-down': scopeUntil,
  'probe-in-flight': scopeUntil,
  'retry-cancelled': scopeUntil,
});
const retryReason = reasonVariant(['provider-hint', 'backoff']);
const waitReason = reasonVariant(['all-cooling-down']);

const at = ['at', u64];
const attempt = ['attempt', u32];
const provider = ['provider', str];
const model = ['model', str];
const key = ['key', opt(str)];
const cont = ['continuation', opt(continuation)];

const eventSpecs = {
  skip: { at, provider, model, key, why: ['why', skipReason] },
  send: { at, attempt, provider, model, key, probe: ['probe', bool], continuation: cont },
  committed: { at, attempt },
  dropped: { at, attempt, count: ['count', u32], why: ['why', str] },
  spliced: { at, attempt, overlapChars: ['overlap_chars', u32] },
  diverged: { at, attempt },
  failure: {
    at, attempt, kind: ['kind', kind], scope: ['scope', scope], status: ['status', opt(u16)],
    retryAfterMs: ['retry_after_ms', opt(u64)], reason: ['reason', str],
  },
  retry: { at, attempt, until: ['until', u64], why: ['why', retryReason] },
  'cooled-down': { at, scope: ['scope', str], until: ['until', u64], kind: ['kind', kind] },
  wait: { at, until: ['until', u64], why: ['why', waitReason] },
  success: { at, attempt, provider, model },
  'host-error': { at, message: ['message', str] },
  finished: { at, result: ['result', ending], kind: ['kind', opt(kind)], message: ['message', str] },
};

export function traceEvent(v, what) {
  assert.ok(v && typeof v === 'object' && v.tag in eventSpecs, `${what}: unknown trace event ${JSON.stringify(v?.tag)}`);
  assert.deepEqual(Object.keys(v).sort(), ['tag', 'val'], `${what}: {tag, val}`);
  return { event: v.tag.replaceAll('-', '_'), ...rec(eventSpecs[v.tag])(v.val, `${what}.${v.tag}`) };
}

export function runResult(v, what) {
  assert.ok(v && typeof v === 'object', `${what}: a run-result`);
  assert.deepEqual(Object.keys(v).sort(), ['tag', 'val'], `${what}: {tag, val}`);
  if (v.tag === 'success') return { result: 'success', ...rec({ attempt, provider, model })(v.val, `${what}.success`) };
  if (v.tag === 'failed') return { result: 'failed', ...runFailure(v.val, `${what}.failed`) };
  throw new Error(`${what}: unexpected run-result ${JSON.stringify(v.tag)}`);
}

/** A run-failure -> the core's RunFailure JSON; its `code` is `RunFailure::code()`. */
export function runFailure(v, what) {
  const f = rec({
    kind: ['kind', kind],
    cause: ['cause', endCause],
    code: [null, str],
    message: ['message', str],
    httpStatus: ['http_status', u16],
    propagate: ['propagate', opt(u32)],
    afterCommit: ['after_commit', bool],
    retryAfterMs: ['retry_after_ms', opt(u64)],
  })(v, what);
  assert.equal(v.code, f.cause === 'cooling_down' ? 'cooling_down' : f.kind, `${what}.code`);
  return f;
}

export const attemptRecord = rec({
  attempt, provider, model, key,
  startedAt: ['started_at', u64],
  endedAt: ['ended_at', opt(u64)],
  kind: ['kind', opt(kind)],
  status: ['status', opt(u16)],
  continuation: cont,
  committed: ['committed', bool],
});

const entryFields = {
  until: ['until', u64],
  since: ['since', u64],
  streak: ['streak', u32],
  kind: ['kind', opt(kind)],
  reason: ['reason', str],
};

const sample = rec({ at: ['at', u64], ms: ['ms', u32] });

/**
 * A WIT snapshot -> `{"entries": {"<scope>": {until, since, streak, kind, reason}},
 * "first_token": {"<scope>": [[at, ms], …]}}` (`first_token` only when not empty).
 */
export function snapshot(v, what = 'snapshot') {
  assert.ok(v && typeof v === 'object', `${what}: a record`);
  assert.deepEqual(Object.keys(v).sort(), ['entries', 'firstToken'], `${what}: its fields`);
  /** A list of records with a `scope`, sorted by it, once each -> {scope: conv(rest)}. */
  const byScope = (xs, w, conv) => {
    assert.ok(Array.isArray(xs), `${w}: a list`);
    const out = {};
    xs.forEach((x, i) => {
      assert.ok(x && typeof x === 'object', `${w}[${i}]: a record`);
      const { scope: name, ...rest } = x;
      str(name, `${w}[${i}].scope`);
      if (i > 0) assert.ok(xs[i - 1].scope < name, `${w}[${i}]: sorted by scope, once each`);
      out[name] = conv(rest, `${w}[${i}]`);
    });
    return out;
  };
  const out = { entries: byScope(v.entries, `${what}.entries`, rec(entryFields)) };
  const samples = (x, w) => rec({ samples: ['samples', list(sample)] })(x, w).samples.map((p) => [p.at, p.ms]);
  const firstToken = byScope(v.firstToken, `${what}.firstToken`, samples);
  if (Object.keys(firstToken).length > 0) out.first_token = firstToken;
  return out;
}

/** A component dry run (raw WIT values) in the CLI's JSON form. */
export function toCoreJson(raw) {
  return {
    result: runResult(raw.result, 'result'),
    trace: list(traceEvent)(raw.trace, 'trace'),
    attempts: list(attemptRecord)(raw.attempts, 'attempts'),
    snapshot: snapshot(raw.snapshot),
    ended_at: u64(raw.endedAt, 'ended_at'),
  };
}

/** Asserts that the component's run equals the native one, field for field. */
export function assertSameRun(native, raw, what = 'run') {
  assert.deepEqual(Object.keys(native).sort(), ['attempts', 'ended_at', 'result', 'snapshot', 'trace'], `${what}: CLI output`);
  const mine = toCoreJson(raw);
  // The `finished` action and `final-result` agree.
  assert.deepEqual(runResult(raw.finalResult, 'final-result'), mine.result, `${what}: final-result`);
  // Field by field first, for a readable failure; then the whole.
  assert.deepEqual(mine.result, native.result, `${what}: result`);
  const n = Math.max(mine.trace.length, native.trace.length);
  for (let i = 0; i < n; i++) assert.deepEqual(mine.trace[i], native.trace[i], `${what}: trace[${i}]`);
  assert.deepEqual(mine.attempts, native.attempts, `${what}: attempts`);
  assert.deepEqual(mine.snapshot, native.snapshot, `${what}: cooldowns`);
  assert.deepEqual(mine, native, what);
  return mine;
}

/** Checks a scenario run's `expect` block against a (native) result. */
export function checkExpect(out, expect, what) {
  const r = out.result;
  for (const field of ['result', 'provider', 'kind', 'cause', 'http_status', 'after_commit', 'propagate', 'retry_after_ms']) {
    if (field in expect) assert.deepEqual(r[field], expect[field], `${what}: expect.${field}`);
  }
  if ('continuations' in expect) {
    const modes = out.trace.filter((e) => e.event === 'send').map((e) => e.continuation);
    assert.deepEqual(modes, expect.continuations, `${what}: expect.continuations`);
  }
  if ('sends' in expect) {
    const sends = out.trace
      .filter((e) => e.event === 'send')
      .map((e) => `${e.provider}/${e.model}${e.key ? ` ${e.key}` : ''}${e.probe ? ' (probe)' : ''}`);
    assert.deepEqual(sends, expect.sends, `${what}: expect.sends`);
  }
  if ('events_include' in expect) {
    const events = out.trace.map((e) => e.event);
    for (const e of expect.events_include) assert.ok(events.includes(e), `${what}: expect.events_include ${e}`);
  }
  if ('skips' in expect) {
    assert.equal(out.trace.filter((e) => e.event === 'skip').length, expect.skips, `${what}: expect.skips`);
  }
}

// --- sessions: src/sim.rs on top of the component's `session` export ---------------

/**
 * Drives a `session` resource with a fake clock, like src/sim.rs: each `send` is
 * answered by `upstream(request, now)` with timed wire events `[delayMs, event]`
 * (`{head: [status, headers]}`, `{body: text | Uint8Array}`, `{end: true}`,
 * `{error: '<transport-failure>'}`), the clock jumps to the next wire event or
 * `next-timeout`, and what the client gets is collected. `keys` maps key names
 * to values (a missing one is reported with `handle-missing-key`).
 */
export function simulateSession(session, start, upstream, { keys = {}, until } = {}) {
  let now = start;
  const got = { response: undefined, head: undefined, events: [], sent: [], aborted: [], doneAt: undefined, outputs: [] };
  const pending = new Map(); // attempt -> [[at, event], …]
  const drain = () => {
    for (let out; (out = session.pollOutput(now)) !== undefined; ) {
      got.outputs.push(out);
      switch (out.tag) {
        case 'send': {
          const req = out.val;
          got.sent.push({ at: now, req });
          if (req.key !== undefined) {
            if (!(req.key.name in keys)) {
              session.handleMissingKey(now, req.attempt);
              break;
            }
            session.addSecret(keys[req.key.name]);
          }
          let at = now;
          pending.set(req.attempt, upstream(req, now).map(([d, ev]) => [(at += BigInt(d)), ev]));
          break;
        }
        case 'abort':
          pending.delete(out.val);
          got.aborted.push(out.val);
          break;
        case 'respond':
          got.response = out.val;
          break;
        case 'stream-start':
          got.head = out.val;
          break;
        case 'stream-event':
          got.events.push(out.val);
          break;
        case 'done':
          got.doneAt = now;
          break;
        default:
          throw new Error(`unexpected output ${out.tag}`);
      }
    }
  };
  drain();
  for (let i = 0; i < MAX_STEPS && got.doneAt === undefined; i++) {
    let wire;
    for (const [attempt, evs] of pending) if (evs.length && (!wire || evs[0][0] < wire[0])) wire = [evs[0][0], attempt];
    const timer = session.nextTimeout();
    const next = [wire?.[0], timer].filter((t) => t !== undefined).sort((a, b) => (a < b ? -1 : 1))[0];
    if (next === undefined || (until !== undefined && next > until)) break;
    now = now > next ? now : next;
    if (wire && (timer === undefined || wire[0] <= timer)) {
      const [, ev] = pending.get(wire[1]).shift();
      const a = wire[1];
      if ('head' in ev) session.handleHead(now, a, ev.head[0], ev.head[1] ?? []);
      else if ('body' in ev) session.handleBody(now, a, typeof ev.body === 'string' ? new TextEncoder().encode(ev.body) : ev.body);
      else if ('end' in ev) session.handleEnd(now, a);
      else session.handleError(now, a, { tag: ev.error });
      if (pending.get(a)?.length === 0) pending.delete(a);
    } else {
      session.handleTimeout(now);
    }
    drain();
  }
  got.now = now;
  got.sse = got.events.map((e) => e.sse).join('');
  return got;
}

/** An OpenAI chat.completion.chunk's SSE event with `content` (or the finish chunk). */
export function sseChunk(content, finish) {
  const delta = content === undefined ? {} : { content };
  const chunk = { id: 'chatcmpl-1', object: 'chat.completion.chunk', model: 'm', choices: [{ index: 0, delta, finish_reason: finish ?? null }] };
  return `data: ${JSON.stringify(chunk)}\n\n`;
}
