// The component, driven step by step from JavaScript through its WIT exports
// (gateway / fallback-run: poll-action, handle-outcome), must decide exactly what
// the native core decides: the same result, trace, attempts and cooldowns as the
// `llm-failover-dry-run` CLI, for every scenario in scenarios/. Then the negative
// checks prove the comparison can fail.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { before, describe, test } from 'node:test';
import {
  ROOT,
  assertSameRun,
  checkExpect,
  componentDryRun,
  componentScenario,
  loadComponent,
  loadScenarios,
  nativeDryRun,
  nativeScenario,
  tmpJson,
  toCoreJson,
} from './harness.mjs';

const mod = await loadComponent();
const scenarios = loadScenarios();

test('there are scenarios to replay', () => {
  const names = scenarios.map((s) => s.name);
  for (const required of [
    'example', 'rate-limit-retry-after', 'overloaded-503-fallback', 'key-rotation-401', 'invalid-request',
    'pinned-provider', 'cooldown-second-run', 'commit-then', 'streaming',
  ]) {
    assert.ok(names.includes(required), `scenarios/${required}.json`);
  }
});

for (const scenario of scenarios) {
  describe(`scenario ${scenario.name}`, () => {
    let native;
    before(() => {
      native = nativeScenario(scenario);
    });

    test('the native runs do what the scenario says', () => {
      native.forEach((out, i) => checkExpect(out, scenario.runs[i].expect, `run ${i}`));
    });

    for (const mode of ['shared', 'merged', 'one-shot']) {
      test(`component (${mode} cooldowns) = native`, () => {
        const mine = componentScenario(mod, scenario, mode);
        assert.equal(mine.length, native.length);
        mine.forEach((raw, i) => assertSameRun(native[i], raw, `run ${i}`));
      });
    }
  });
}

describe('the run resource agrees with its trace', () => {
  test('deadline, pinned, chain name, last failure', () => {
    const s = scenarios.find((x) => x.name === 'pinned-provider');
    const gw = mod.fallback.Gateway.create(s.configJson);
    const raw = componentDryRun((m, o) => gw.start(m, o), s.runs[1].script);
    const { run } = raw;
    assert.equal(run.isPinned(), true);
    assert.equal(run.chainName(), 'openai/gpt-4o-mini');
    assert.equal(run.deadline(), BigInt(s.runs[1].script.now) + 300_000n, 'pinned runs use the default deadline');
    const lf = run.lastFailure();
    const core = toCoreJson(raw);
    const lastFailure = core.trace.filter((e) => e.event === 'failure').at(-1);
    assert.equal(lf.attempt, lastFailure.attempt);
    assert.equal(lf.classification.reason, lastFailure.reason);
    assert.deepEqual(lf.classification.kind, { tag: 'server-error' });
    assert.deepEqual(lf.classification.scope, { tag: 'model' });
    assert.equal(lf.classification.status, 500);
    // The gateway's snapshot is the table the run used.
    assert.deepEqual(gw.snapshot(raw.endedAt), raw.snapshot);

    const auto = gw.start('default', { now: 0n, seed: 0n, runId: 0n, stream: false });
    assert.equal(auto.isPinned(), false);
    assert.equal(auto.chainName(), 'default');
    assert.equal(auto.deadline(), 60_000n, 'the chain budget (examples/config.json)');
    assert.equal(auto.lastFailure(), undefined);
    assert.equal(auto.finalResult(), undefined);
  });
});

describe('negative checks: the comparison can fail', () => {
  const example = () => scenarios.find((s) => s.name === 'example');

  test('a different script gives a different trace, and the comparator says so', () => {
    const s = example();
    const native = nativeDryRun(s.configPath, s.runs[0].scriptPath);
    const script = structuredClone(s.runs[0].script);
    script.steps[0].headers['retry-after'] = '3'; // wait 3 s instead of 2 s
    const gw = mod.fallback.Gateway.create(s.configJson);
    const raw = componentDryRun((m, o) => gw.start(m, o), script);
    assert.throws(() => assertSameRun(native, raw), assert.AssertionError);
    assert.notDeepEqual(toCoreJson(raw).trace, native.trace);
    // …while the native CLI on the same changed script agrees with the component.
    const changed = nativeDryRun(s.configPath, tmpJson('example-retry-after-3', script));
    assertSameRun(changed, raw);
  });

  test('one fewer failure in the script is caught', () => {
    const s = example();
    const native = nativeDryRun(s.configPath, s.runs[0].scriptPath);
    const script = structuredClone(s.runs[0].script);
    script.steps.splice(4, 1); // Anthropic overloaded once instead of twice
    const gw = mod.fallback.Gateway.create(s.configJson);
    const raw = componentDryRun((m, o) => gw.start(m, o), script);
    assert.throws(() => assertSameRun(native, raw), assert.AssertionError);
  });

  test('a timestamp off by 1 ms is caught', () => {
    const s = example();
    const native = nativeDryRun(s.configPath, s.runs[0].scriptPath);
    const gw = mod.fallback.Gateway.create(s.configJson);
    const raw = componentDryRun((m, o) => gw.start(m, o), s.runs[0].script);
    assertSameRun(native, raw);
    const tampered = { ...raw, trace: structuredClone(raw.trace) };
    tampered.trace[3].val.at += 1n;
    assert.throws(() => assertSameRun(native, tampered), assert.AssertionError);
  });

  test('a cooldown entry that differs is caught', () => {
    const s = example();
    const native = nativeDryRun(s.configPath, s.runs[0].scriptPath);
    const gw = mod.fallback.Gateway.create(s.configJson);
    const raw = componentDryRun((m, o) => gw.start(m, o), s.runs[0].script);
    const tampered = { ...raw, snapshot: structuredClone(raw.snapshot) };
    tampered.snapshot.entries[0].streak += 1;
    assert.throws(() => assertSameRun(native, tampered), assert.AssertionError);
  });

  test('a u64 that crosses as a number instead of a bigint is caught', () => {
    const s = example();
    const native = nativeDryRun(s.configPath, s.runs[0].scriptPath);
    const gw = mod.fallback.Gateway.create(s.configJson);
    const raw = componentDryRun((m, o) => gw.start(m, o), s.runs[0].script);
    const tampered = { ...raw, attempts: structuredClone(raw.attempts) };
    tampered.attempts[0].startedAt = Number(tampered.attempts[0].startedAt);
    assert.throws(() => assertSameRun(native, tampered), /bigint/);
  });

  test('a none that crosses as null, or a missing field, is caught', () => {
    const s = example();
    const native = nativeDryRun(s.configPath, s.runs[0].scriptPath);
    const gw = mod.fallback.Gateway.create(s.configJson);
    const raw = componentDryRun((m, o) => gw.start(m, o), s.runs[0].script);
    const nulled = { ...raw, trace: structuredClone(raw.trace) };
    const failure = nulled.trace.find((e) => e.tag === 'failure' && e.val.retryAfterMs === undefined);
    failure.val.retryAfterMs = null;
    assert.throws(() => assertSameRun(native, nulled), /none must be undefined/);
    const missing = { ...raw, trace: structuredClone(raw.trace) };
    delete missing.trace[0].val.probe;
    assert.throws(() => assertSameRun(native, missing), /fields/);
  });

  test('a scenario whose native run disagrees with its `expect` is caught', () => {
    const s = example();
    const native = nativeDryRun(s.configPath, s.runs[0].scriptPath);
    assert.throws(() => checkExpect(native, { provider: 'anthropic' }, 'example'), assert.AssertionError);
  });
});

test('every scenario file is valid JSON with a description', () => {
  const dir = path.join(ROOT, 'tests', 'component', 'scenarios');
  for (const f of fs.readdirSync(dir).filter((x) => x.endsWith('.json'))) {
    const s = JSON.parse(fs.readFileSync(path.join(dir, f), 'utf8'));
    assert.equal(typeof s.description, 'string', f);
    assert.ok(Array.isArray(s.runs) && s.runs.length > 0, f);
  }
});
