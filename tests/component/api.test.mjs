// The rest of the WIT surface: errors as values (never traps), `other` cases,
// snapshots (export, merge, join, JSON, first-token samples) against the native
// CLI's, the gateway's table (dirty flag, open scopes, prune), the run's
// outcomes the dry-run scripts cannot say (classified, diverged, cancel), and u64
// values as bigints.

import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { describe, test } from 'node:test';
import {
  ROOT,
  componentDryRun,
  loadComponent,
  loadScenarios,
  nativeBin,
  nativeDryRun,
  runResult,
  snapshot as snapshotJson,
  tmpJson,
  traceEvent,
} from './harness.mjs';

const mod = await loadComponent();
const { fallback, classifier, cooldowns } = mod;
const scenarios = loadScenarios();
const example = scenarios.find((s) => s.name === 'example');
const CONFIG = example.configJson;
const OPTIONS = { now: 1_700_000_000_000n, seed: 1n, runId: 1n, stream: false };

/** Calls `f`, expects a WIT `error` back (jco throws it with the payload). */
function witError(f) {
  try {
    f();
  } catch (e) {
    assert.ok(e.payload, `expected a component error, got ${e}`);
    return e.payload;
  }
  assert.fail('expected an error');
}

/** The native CLI's error message for a config/script pair (stderr, without the tool's prefix). */
function nativeError(config, script) {
  const r = spawnSync(nativeBin('llm-failover-dry-run'), [tmpJson('err-config', config), tmpJson('err-script', script)], {
    encoding: 'utf8',
  });
  assert.equal(r.status, 2, r.stderr);
  return r.stderr.trim();
}

describe('errors are values, with the native messages', () => {
  test('invalid config names the field', () => {
    const config = JSON.parse(CONFIG);
    config.chains[0].targets[1].model = 'auto';
    const err = witError(() => fallback.Gateway.create(JSON.stringify(config)));
    assert.deepEqual(err.kind, { tag: 'invalid-config', val: 'chains[0].targets[1].model' });
    const configPath = tmpJson('err-config-file', config);
    const r = spawnSync(nativeBin('llm-failover-dry-run'), [configPath, example.runs[0].scriptPath], { encoding: 'utf8' });
    assert.equal(r.stderr.trim(), `llm-failover-dry-run: ${configPath}: ${err.message}`);
    // The one-shot constructor says the same.
    const err2 = witError(() => fallback.FallbackRun.create(JSON.stringify(config), { entries: [], firstToken: [] }, 'default', OPTIONS));
    assert.deepEqual(err2, err);
  });

  test('not JSON at all', () => {
    const err = witError(() => fallback.Gateway.create('{"providers": ['));
    assert.equal(err.kind.tag, 'invalid-config');
    assert.match(err.message, /invalid config/);
  });

  test('unknown model lists the valid names', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const err = witError(() => gw.start('gpt-5', OPTIONS));
    assert.deepEqual(err.kind, { tag: 'unknown-model', val: gw.modelNames() });
    assert.equal(nativeError(JSON.parse(CONFIG), { model: 'gpt-5', steps: [] }), `llm-failover-dry-run: ${err.message}`);
  });

  test('a provider without a concrete model', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const err = witError(() => gw.start('openai/auto', OPTIONS));
    assert.deepEqual(err.kind, { tag: 'no-concrete-model' });
    assert.equal(nativeError(JSON.parse(CONFIG), { model: 'openai/auto', steps: [] }), `llm-failover-dry-run: ${err.message}`);
  });

  test('misusing a run: not in flight, finished', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const run = gw.start('default', OPTIONS);
    const send = run.pollAction(OPTIONS.now);
    assert.equal(send.tag, 'send');
    assert.deepEqual(witError(() => run.handleOutcome(OPTIONS.now, 7, { tag: 'success' })).kind, {
      tag: 'not-in-flight',
      val: 7,
    });
    // An `other` outcome is refused and leaves the attempt in flight.
    assert.equal(witError(() => run.handleOutcome(OPTIONS.now, 0, { tag: 'other', val: 'teapot' })).kind.tag, 'unsupported');
    assert.equal(
      witError(() =>
        run.handleOutcome(OPTIONS.now, 0, { tag: 'failure', val: { tag: 'other', val: 'cosmic-ray' } }),
      ).kind.tag,
      'unsupported',
    );
    run.handleOutcome(OPTIONS.now + 10n, 0, { tag: 'success' });
    const done = run.pollAction(OPTIONS.now + 10n);
    assert.equal(done.tag, 'finished');
    assert.equal(done.val.tag, 'success');
    assert.deepEqual(witError(() => run.handleOutcome(OPTIONS.now + 20n, 0, { tag: 'success' })).kind, { tag: 'finished' });
    // Polling a finished run keeps answering the same.
    assert.deepEqual(run.pollAction(OPTIONS.now + 30n), done);
  });
});

describe('other cases', () => {
  const body = '{"error":{"code":403,"message":"Key limit exceeded (daily limit)."}}';
  const http = { tag: 'http', val: { status: 403, headers: [], body } };

  test('a dialect passed by name reads like the named case', () => {
    const named = classifier.classify({ tag: 'openrouter' }, http, 0n);
    assert.deepEqual(classifier.classify({ tag: 'other', val: 'open-router' }, http, 0n), named);
    assert.deepEqual(named.kind, { tag: 'quota-exhausted' });
    assert.equal(witError(() => classifier.classify({ tag: 'other', val: 'skynet' }, http, 0n)).kind.tag, 'unsupported');
  });

  test('a transport failure passed by name', () => {
    const named = classifier.classify({ tag: 'openai' }, { tag: 'transport', val: { tag: 'tls' } }, 0n);
    const other = classifier.classify({ tag: 'openai' }, { tag: 'transport', val: { tag: 'other', val: 'tls' } }, 0n);
    assert.deepEqual(other, named);
    assert.equal(
      witError(() => classifier.classify({ tag: 'openai' }, { tag: 'transport', val: { tag: 'other', val: 'carrier-pigeon' } }, 0n)).kind.tag,
      'unsupported',
    );
  });

  test('a snapshot entry with a kind passed by name', () => {
    const entry = { scope: 'model|openai|gpt-4o-mini', until: 10_000n, since: 5_000n, streak: 1, reason: 'x' };
    const named = cooldowns.join({ entries: [{ ...entry, kind: { tag: 'rate-limited' } }], firstToken: [] }, { entries: [], firstToken: [] });
    const other = cooldowns.join({ entries: [{ ...entry, kind: { tag: 'other', val: 'rate_limited' } }], firstToken: [] }, { entries: [], firstToken: [] });
    assert.deepEqual(other, named);
    assert.equal(
      witError(() => cooldowns.join({ entries: [{ ...entry, kind: { tag: 'other', val: 'gremlins' } }], firstToken: [] }, { entries: [], firstToken: [] })).kind.tag,
      'unsupported',
    );
  });
});

describe('inspect-completion', () => {
  test('a usable completion passes, an error object in a 200 does not', () => {
    const ok = JSON.stringify({
      id: 'chatcmpl-1', object: 'chat.completion', model: 'gpt-4o-mini',
      choices: [{ index: 0, message: { role: 'assistant', content: 'Hi' }, finish_reason: 'stop' }],
    });
    assert.equal(classifier.inspectCompletion({ tag: 'openai' }, ok, 0n), undefined);
    const err = classifier.inspectCompletion(
      { tag: 'openrouter' },
      '{"error":{"code":429,"message":"Rate limit exceeded: free-models-per-day"}}',
      0n,
    );
    assert.ok(err, 'an error object in a 200 is not a completion');
    assert.equal(typeof err.reason, 'string');
    const junk = classifier.inspectCompletion({ tag: 'openai' }, '<html>oops</html>', 0n);
    assert.deepEqual(junk.kind, { tag: 'invalid-response' });
  });
});

describe('snapshots', () => {
  const cooldownScenario = scenarios.find((s) => s.name === 'cooldown-second-run');

  test('JSON: the component reads and writes the native snapshot format', () => {
    const native = nativeDryRun(example.configPath, example.runs[0].scriptPath);
    const text = JSON.stringify(native.snapshot);
    const wit = cooldowns.fromJson(text);
    assert.deepEqual(snapshotJson(wit), native.snapshot);
    assert.deepEqual(JSON.parse(cooldowns.toJson(wit)), native.snapshot);
    assert.equal(witError(() => cooldowns.fromJson('{"entries": 3}')).kind.tag, 'unsupported');
  });

  test('join: a JS model of the order (until, since, streak, kind, reason), commutative and idempotent', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const a = componentDryRun((m, o) => gw.start(m, o), example.runs[0].script).snapshot;
    const gw2 = fallback.Gateway.create(cooldownScenario.configJson);
    const b = componentDryRun((m, o) => gw2.start(m, o), cooldownScenario.runs[0].script).snapshot;
    const ab = cooldowns.join(a, b);
    assert.deepEqual(cooldowns.join(b, a), ab, 'commutative');
    assert.deepEqual(cooldowns.join(ab, ab), ab, 'idempotent');
    assert.deepEqual(cooldowns.join(a, { entries: [], firstToken: [] }), a, 'empty is neutral');
    // The model: per scope, the greater entry; kinds compare in declaration order.
    const kinds = ['auth', 'quota-exhausted', 'rate-limited', 'overloaded', 'server-error', 'timeout', 'connection',
      'context-length', 'content-filtered', 'model-not-found', 'invalid-request', 'request-too-large',
      'invalid-response', 'unknown'];
    const key = (e) => [e.until, e.since, BigInt(e.streak), e.kind ? BigInt(kinds.indexOf(e.kind.tag) + 1) : 0n];
    const greater = (x, y) => {
      const [kx, ky] = [key(x), key(y)];
      for (let i = 0; i < kx.length; i++) if (kx[i] !== ky[i]) return kx[i] > ky[i];
      return x.reason > y.reason;
    };
    const model = new Map();
    for (const e of [...a.entries, ...b.entries]) {
      const cur = model.get(e.scope);
      if (!cur || greater(e, cur)) model.set(e.scope, e);
    }
    const expected = [...model.values()].sort((x, y) => (x.scope < y.scope ? -1 : 1));
    assert.deepEqual(ab.entries, expected);
    // The two runs share scopes (OpenAI's keys), so this join had choices to make.
    assert.ok(a.entries.some((e) => b.entries.some((f) => f.scope === e.scope && f.until !== e.until)));
  });

  test('a merged snapshot makes a second gateway skip what the first learnt', () => {
    const gw1 = fallback.Gateway.create(CONFIG);
    const raw = componentDryRun((m, o) => gw1.start(m, o), example.runs[0].script);
    const gw2 = fallback.Gateway.create(CONFIG);
    assert.equal(gw2.merge(cooldowns.fromJson(cooldowns.toJson(gw1.snapshot(raw.endedAt)))), true);
    assert.equal(gw2.merge(gw1.snapshot(raw.endedAt)), false, 'merging the same again changes nothing');
    assert.equal(gw2.takeDirty(), false, 'merging does not set the dirty flag');
    const run = gw2.start('default', { ...OPTIONS, now: raw.endedAt + 1n });
    const action = run.pollAction(raw.endedAt + 1n);
    assert.equal(action.tag, 'send');
    assert.equal(action.val.provider, 'groq', 'OpenAI keys and Anthropic are cooling down');
    assert.equal(run.trace().filter((e) => e.tag === 'skip').length, 3);
  });

  test('the dirty flag, open scopes and prune', () => {
    const gw = fallback.Gateway.create(CONFIG);
    assert.equal(gw.takeDirty(), false);
    const raw = componentDryRun((m, o) => gw.start(m, o), example.runs[0].script);
    assert.equal(gw.takeDirty(), true, 'the run opened scopes');
    assert.equal(gw.takeDirty(), false, 'taken');
    const open = gw.openScopes(raw.endedAt);
    const names = open.map((s) => s.entry.scope);
    assert.ok(names.includes('key|openai|OPENAI_KEY_1'));
    // The rate limit's reservation (for the retry of key 1) was no open of its
    // own: it ended when the retry reported, and is not listed.
    assert.deepEqual(names, ['key|openai|OPENAI_KEY_1', 'key|openai|OPENAI_KEY_2', 'model|anthropic|claude-3-5-haiku-latest']);
    for (const s of open) assert.deepEqual(s.state, { tag: 'open', val: s.entry.until }, s.entry.scope);
    // Once a cooldown is over the scope is half-open (no probe out).
    const anthropic = open.find((s) => s.entry.scope.startsWith('model|anthropic'));
    const later = gw.openScopes(anthropic.entry.until).find((s) => s.entry.scope === anthropic.entry.scope);
    assert.deepEqual(later.state, { tag: 'half-open', val: undefined });
    // A day later everything is past the retention.
    gw.prune(raw.endedAt + 86_400_000n);
    assert.deepEqual(gw.snapshot(raw.endedAt + 86_400_000n), { entries: [], firstToken: [] });
  });
});

describe('outcomes beyond the scripts: classified, diverged, cancel', () => {
  const classification = (kind, scope) => ({
    kind: { tag: kind }, retryAfterMs: undefined, scope: { tag: scope }, reason: `the host says ${kind}`, status: 503,
  });

  test('a classified outcome is used as it is', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const run = gw.start('default', OPTIONS);
    assert.equal(run.pollAction(OPTIONS.now).tag, 'send');
    run.handleOutcome(OPTIONS.now + 10n, 0, { tag: 'classified', val: classification('overloaded', 'model') });
    const failure = run.trace().map((e, i) => traceEvent(e, `trace[${i}]`)).find((e) => e.event === 'failure');
    assert.deepEqual(failure, {
      event: 'failure', at: Number(OPTIONS.now) + 10, attempt: 0, kind: 'overloaded', scope: 'model',
      status: 503, retry_after_ms: null, reason: 'the host says overloaded',
    });
    assert.deepEqual(run.lastFailure().classification, classification('overloaded', 'model'));
    // A kind or scope by name; an unknown one is refused and leaves the attempt in flight.
    const run2 = gw.start('default', { ...OPTIONS, runId: 2n });
    run2.pollAction(OPTIONS.now);
    const bad = { ...classification('overloaded', 'model'), scope: { tag: 'other', val: 'galaxy' } };
    assert.equal(witError(() => run2.handleOutcome(OPTIONS.now, 0, { tag: 'classified', val: bad })).kind.tag, 'unsupported');
    const named = { ...classification('overloaded', 'model'), kind: { tag: 'other', val: 'server_error' } };
    run2.handleOutcome(OPTIONS.now + 5n, 0, { tag: 'classified', val: named });
    assert.equal(run2.lastFailure().classification.kind.tag, 'server-error');
  });

  test('after the commit a failure is continued; a diverged continuation moves on', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const run = gw.start('default', { ...OPTIONS, stream: true });
    assert.equal(run.pollAction(OPTIONS.now).tag, 'send');
    assert.equal(run.isCommitted(), false);
    run.handleOutcome(OPTIONS.now + 100n, 0, { tag: 'committed' });
    assert.equal(run.isCommitted(), true);
    run.handleOutcome(OPTIONS.now + 200n, 0, { tag: 'failure', val: { tag: 'transport', val: { tag: 'stream-ended-early' } } });
    const next = run.pollAction(OPTIONS.now + 200n);
    assert.equal(next.tag, 'send');
    assert.equal(next.val.provider, 'anthropic');
    assert.deepEqual(next.val.continuation, { tag: 'prefill' }, "Anthropic's dialect finishes with a prefill");
    run.handleOutcome(OPTIONS.now + 300n, 1, { tag: 'diverged' });
    const third = run.pollAction(OPTIONS.now + 300n);
    assert.equal(third.val.provider, 'groq');
    const trace = run.trace().map((e, i) => traceEvent(e, `trace[${i}]`));
    assert.deepEqual(trace.find((e) => e.event === 'diverged'), { event: 'diverged', at: Number(OPTIONS.now) + 300, attempt: 1 });
    const attempts = run.attempts();
    assert.equal(attempts[0].committed, true);
    assert.deepEqual(attempts[1].continuation, { tag: 'prefill' });
    assert.equal(attempts[1].kind, undefined, 'a diverged target is healthy: no failure kind');
  });

  test('forbid-continuation: a failure after the commit ends the stream', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const run = gw.start('default', { ...OPTIONS, stream: true });
    run.pollAction(OPTIONS.now);
    run.handleOutcome(OPTIONS.now + 100n, 0, { tag: 'committed' });
    run.forbidContinuation();
    run.handleOutcome(OPTIONS.now + 200n, 0, { tag: 'failure', val: { tag: 'transport', val: { tag: 'stream-ended-early' } } });
    const done = run.pollAction(OPTIONS.now + 200n);
    assert.equal(done.tag, 'finished');
    const r = runResult(done.val, 'result');
    assert.equal(r.after_commit, true);
    assert.equal(r.cause, 'upstream');
  });

  test('cancel: the run ends as cancelled, nothing cools down', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const run = gw.start('default', OPTIONS);
    run.pollAction(OPTIONS.now);
    run.cancel(OPTIONS.now + 50n);
    const done = run.pollAction(OPTIONS.now + 50n);
    assert.equal(done.tag, 'finished');
    assert.equal(done.val.val.code, 'unknown');
    const r = runResult(done.val, 'result');
    assert.deepEqual([r.result, r.cause, r.http_status], ['failed', 'cancelled', 499]);
    assert.equal(traceEvent(run.trace().at(-1), 'last').result, 'cancelled');
    assert.deepEqual(gw.snapshot(OPTIONS.now + 50n), { entries: [], firstToken: [] });
    run.cancel(OPTIONS.now + 60n); // a no-op once finished
    assert.deepEqual(run.pollAction(OPTIONS.now + 60n), done);
  });
});

describe('first-token samples', () => {
  const json = {
    entries: {},
    first_token: { 'model|openai|gpt-4o-mini': [[1_000, 300], [2_000, 250]], 'model|groq|llama-3.3-70b-versatile': [[1_500, 90]] },
  };

  test('JSON, the WIT list and back', () => {
    const wit = cooldowns.fromJson(JSON.stringify(json));
    assert.deepEqual(wit.firstToken, [
      { scope: 'model|groq|llama-3.3-70b-versatile', samples: [{ at: 1_500n, ms: 90 }] },
      { scope: 'model|openai|gpt-4o-mini', samples: [{ at: 1_000n, ms: 300 }, { at: 2_000n, ms: 250 }] },
    ]);
    assert.deepEqual(snapshotJson(wit), json);
    assert.deepEqual(JSON.parse(cooldowns.toJson(wit)), json);
    assert.deepEqual(JSON.parse(cooldowns.toJson({ entries: [], firstToken: [] })), { entries: {} }, 'left out when empty');
  });

  test('join: the union, newest 16 per scope; a gateway merges them', () => {
    const many = (from) => ({
      entries: [],
      firstToken: [{ scope: 'model|openai|gpt-4o-mini', samples: [...Array(12).keys()].map((i) => ({ at: BigInt(from + i), ms: 100 + from + i })) }],
    });
    const ab = cooldowns.join(many(0), many(10));
    assert.deepEqual(cooldowns.join(many(10), many(0)), ab, 'commutative');
    const at = ab.firstToken[0].samples.map((s) => Number(s.at));
    assert.deepEqual(at, [...Array(16).keys()].map((i) => i + 6), 'the newest 16, oldest first, once each');
    // A scope listed twice in one snapshot is joined with itself.
    const twice = { entries: [], firstToken: [...many(0).firstToken, ...many(10).firstToken] };
    assert.deepEqual(cooldowns.join(twice, { entries: [], firstToken: [] }), ab);
    const gw = fallback.Gateway.create(CONFIG);
    assert.equal(gw.merge(ab), true);
    assert.deepEqual(gw.snapshot(100n).firstToken, ab.firstToken);
    // Enough samples make the model's first-token bound adaptive (below the 15 s default).
    const run = gw.start('default', { ...OPTIONS, stream: true });
    const plan = run.pollAction(OPTIONS.now).val;
    assert.ok(plan.firstTokenTimeoutMs < 15_000n, `adaptive bound ${plan.firstTokenTimeoutMs}`);
  });
});

describe('the boundary types', () => {
  test('u64 arguments: jco converts with BigInt() and wraps modulo 2^64 (hosts range-check)', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const asNumber = gw.start('default', { ...OPTIONS, now: 1_700_000_000_000 });
    assert.equal(asNumber.deadline(), OPTIONS.now + 60_000n);
    assert.equal(gw.start('default', { ...OPTIONS, now: -1n }).deadline(), 2n ** 64n - 1n, '-1 wraps to the maximum');
    assert.throws(() => gw.snapshot(1.5), RangeError);
  });

  test('u64 extremes do not trap', () => {
    const max = 2n ** 64n - 1n;
    const gw = fallback.Gateway.create(CONFIG);
    const run = gw.start('default', { now: max - 5n, seed: max, runId: max, stream: true });
    assert.equal(run.deadline(), max, 'saturating');
    const action = run.pollAction(max - 5n);
    assert.equal(action.tag, 'send');
    assert.equal(action.val.deadline, max);
    assert.equal(action.val.stream, true);
    assert.equal(typeof action.val.headerTimeoutMs, 'bigint');
    const c = classifier.classify(
      { tag: 'openai' },
      { tag: 'http', val: { status: 429, headers: [['retry-after', '5']], body: '' } },
      max,
    );
    assert.equal(c.retryAfterMs, 5000n);
  });

  test('the attempt plan carries the target in full', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const run = gw.start('default', OPTIONS);
    const { tag, val: plan } = run.pollAction(OPTIONS.now);
    assert.equal(tag, 'send');
    assert.deepEqual(plan, {
      attempt: 0,
      target: 0,
      provider: 'openai',
      dialect: { tag: 'openai' },
      baseUrl: 'https://api.openai.com/v1',
      model: 'gpt-4o-mini',
      key: 'OPENAI_KEY_1',
      apiVersion: undefined,
      stream: false,
      headerTimeoutMs: 60_000n, // response_timeout_ms, clipped to the 60 s deadline
      firstTokenTimeoutMs: 15_000n, // the default first-token bound (no samples yet)
      idleTimeoutMs: 30_000n,
      deadline: OPTIONS.now + 60_000n,
      probe: false,
      continuation: undefined,
    });
    // While it is in flight the run waits for it, until the deadline.
    assert.deepEqual(run.pollAction(OPTIONS.now + 1n), { tag: 'wait', val: OPTIONS.now + 60_000n });
  });

  test('many runs and gateways: resources are independent', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const runs = [];
    for (let i = 0; i < 200; i++) runs.push(gw.start('default', { ...OPTIONS, runId: BigInt(i) }));
    const first = runs.map((r) => r.pollAction(OPTIONS.now));
    assert.ok(first.every((a) => a.tag === 'send' && a.val.provider === 'openai'));
    runs.forEach((r, i) => r.handleOutcome(OPTIONS.now + 1n, 0, { tag: 'success' }));
    assert.ok(runs.every((r) => r.pollAction(OPTIONS.now + 1n).tag === 'finished'));
  });
});

test('wit/ is the file the component was built from', () => {
  // scripts/build-component compares them type for type; this only makes sure the
  // tests run against a component of this tree.
  const wit = fs.readFileSync(`${ROOT}/wit/llm-failover.wit`, 'utf8');
  assert.match(wit, /^package llm-failover:core@0\.1\.0;$/m);
  assert.ok(mod.fallback && mod.classifier && mod.cooldowns);
  assert.equal(typeof mod.fallback.Gateway.create, 'function');
  assert.equal(typeof mod.fallback.FallbackRun.create, 'function');
});
