// The component's `classifier.classify` against the native `llm-failover-classify`
// CLI, on every real provider error in tests/fixtures/ (and a few transport
// failures): the same kind, scope, retry hint, status and reason.

import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { ROOT, kind, loadComponent, nativeClassify, scope } from './harness.mjs';

const { classifier } = await loadComponent();

const FIXTURES = path.join(ROOT, 'tests', 'fixtures');
const DEFAULT_NOW = 1_748_877_332_000;

/** The WIT dialect for a configuration name. */
function dialect(name) {
  return name === 'openai-compatible' ? { tag: 'openai-compatible' } : { tag: name };
}

function fixtures() {
  const all = [];
  for (const f of fs.readdirSync(FIXTURES).filter((x) => x.endsWith('.json')).sort()) {
    for (const fx of JSON.parse(fs.readFileSync(path.join(FIXTURES, f), 'utf8'))) all.push(fx);
  }
  return all;
}

/** One fixture as a CLI line and as WIT arguments, with the same text on both sides. */
function cases() {
  const out = [];
  for (const fx of fixtures()) {
    const body = typeof fx.body === 'string' ? fx.body : JSON.stringify(fx.body);
    const now = fx.now_ms ?? DEFAULT_NOW;
    if (fx.in_stream) {
      out.push({
        name: fx.name,
        line: { provider: fx.provider, stream_error: body, now_ms: now },
        outcome: { tag: 'stream-error', val: body },
        dialect: dialect(fx.provider),
        now: BigInt(now),
      });
    } else {
      // The CLI reads headers into a sorted map: same order here.
      const headers = Object.entries(fx.headers ?? {})
        .map(([k, v]) => [k, String(v)])
        .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
      out.push({
        name: fx.name,
        line: { provider: fx.provider, status: fx.status, headers: Object.fromEntries(headers), body, now_ms: now },
        outcome: { tag: 'http', val: { status: fx.status, headers, body } },
        dialect: dialect(fx.provider),
        now: BigInt(now),
      });
    }
  }
  for (const t of ['connection_refused', 'dns', 'reset_before_headers', 'tls', 'header_timeout',
    'first_token_timeout', 'stream_idle_timeout', 'stream_ended_early']) {
    out.push({
      name: `transport ${t}`,
      line: { provider: 'openai', transport: t, now_ms: DEFAULT_NOW },
      outcome: { tag: 'transport', val: { tag: t.replaceAll('_', '-') } },
      dialect: { tag: 'openai' },
      now: BigInt(DEFAULT_NOW),
    });
  }
  return out;
}

test('the fixtures are there', () => {
  assert.ok(fixtures().length >= 129, `${fixtures().length} fixtures`);
});

test('classify: component = native CLI on every fixture', () => {
  const all = cases();
  const native = nativeClassify(all.map((c) => c.line));
  assert.equal(native.length, all.length);
  all.forEach((c, i) => {
    const n = native[i];
    assert.equal(n.error, undefined, `${c.name}: the CLI refused the line: ${n.error}`);
    const mine = classifier.classify(c.dialect, c.outcome, c.now);
    assert.deepEqual(Object.keys(mine).sort(), ['kind', 'reason', 'retryAfterMs', 'scope', 'status'], c.name);
    const got = {
      kind: kind(mine.kind, 'kind'),
      scope: scope(mine.scope, 'scope'),
      retry_after_ms: mine.retryAfterMs === undefined ? null : Number(mine.retryAfterMs),
      status: mine.status ?? null,
      reason: mine.reason,
    };
    if (mine.retryAfterMs !== undefined) assert.equal(typeof mine.retryAfterMs, 'bigint', c.name);
    const want = { kind: n.kind, scope: n.scope, retry_after_ms: n.retry_after_ms, status: n.status, reason: n.reason };
    assert.deepEqual(got, want, c.name);
  });
});

test('classify: a different outcome gives a different verdict (the comparison can fail)', () => {
  const [c] = cases().filter((x) => x.name.startsWith('openai-429-insufficient-quota'));
  const [n] = nativeClassify([c.line]);
  const other = classifier.classify(c.dialect, { tag: 'transport', val: { tag: 'dns' } }, c.now);
  assert.notEqual(kind(other.kind, 'kind'), n.kind);
});
