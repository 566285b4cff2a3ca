// The rest of the WIT surface: errors as values (never traps), `other` cases,
// snapshots (export, merge, join, JSON) against the native CLI's, the gateway's
// table (dirty flag, open scopes, prune), and u64 values as bigints.

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
  snapshot as snapshotJson,
  tmpJson,
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
    const err2 = witError(() => fallback.FallbackRun.create(JSON.stringify(config), { entries: [] }, 'default', OPTIONS));
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
    const named = cooldowns.join({ entries: [{ ...entry, kind: { tag: 'rate-limited' } }] }, { entries: [] });
    const other = cooldowns.join({ entries: [{ ...entry, kind: { tag: 'other', val: 'rate_limited' } }] }, { entries: [] });
    assert.deepEqual(other, named);
    assert.equal(
      witError(() => cooldowns.join({ entries: [{ ...entry, kind: { tag: 'other', val: 'gremlins' } }] }, { entries: [] })).kind.tag,
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
    assert.deepEqual(cooldowns.join(a, { entries: [] }), a, 'empty is neutral');
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
    for (const s of open) {
      if (s.entry.until > raw.endedAt) {
        assert.deepEqual(s.state, { tag: 'open', val: s.entry.until }, s.entry.scope);
      } else {
        // The rate limit's reservation already ended: half-open, no probe out.
        assert.deepEqual(s.state, { tag: 'half-open', val: undefined }, s.entry.scope);
      }
    }
    assert.ok(open.some((s) => s.state.tag === 'open') && open.some((s) => s.state.tag === 'half-open'));
    // Once a cooldown is over the scope is half-open (no probe out).
    const anthropic = open.find((s) => s.entry.scope.startsWith('model|anthropic'));
    const later = gw.openScopes(anthropic.entry.until).find((s) => s.entry.scope === anthropic.entry.scope);
    assert.deepEqual(later.state, { tag: 'half-open', val: undefined });
    // A day later everything is past the retention.
    gw.prune(raw.endedAt + 86_400_000n);
    assert.deepEqual(gw.snapshot(raw.endedAt + 86_400_000n), { entries: [] });
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
      firstTokenTimeoutMs: 30_000n,
      idleTimeoutMs: 30_000n,
      deadline: OPTIONS.now + 60_000n,
      probe: false,
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
