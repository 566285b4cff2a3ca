// The component in a real host loop: example-host.mjs (the docs' example) makes
// real HTTP requests on loopback to the fault-injecting mock upstream, with the
// real clock, and the component decides. Checks what the client got and what the
// upstream saw.

import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { startMockUpstream } from '../e2e/mock-upstream.mjs';
import { createHost } from './example-host.mjs';
import { loadComponent } from './harness.mjs';

const core = await loadComponent();

describe('example host against the mock upstream', () => {
  let mock;
  let config;
  // A fresh host (its own cooldown table) per test: a 401 cools the key down for
  // every model of its provider, which would change the next test.
  const newHost = () =>
    createHost(core, JSON.stringify(config), {
      secrets: { PRIMARY_KEY_1: 'sk-test-one-1111', PRIMARY_KEY_2: 'sk-test-two-2222' },
    });
  before(async () => {
    mock = await startMockUpstream({ port: 0, host: '127.0.0.1' });
    config = {
      providers: [
        { name: 'primary', dialect: 'openai', base_url: `${mock.url}/v1`, keys: ['PRIMARY_KEY_1', 'PRIMARY_KEY_2'] },
        { name: 'backup', dialect: 'openai-compatible', base_url: `${mock.url}/v1` },
      ],
      chains: [
        {
          name: 'demo',
          targets: [
            { provider: 'primary', model: 'fault-503' },
            { provider: 'backup', model: 'ok' },
          ],
        },
        {
          name: 'keys',
          targets: [
            { provider: 'primary', model: 'fault-401' },
            { provider: 'backup', model: 'ok' },
          ],
        },
        { name: 'reset', targets: [{ provider: 'primary', model: 'fault-reset' }, { provider: 'backup', model: 'ok' }] },
      ],
    };
  });
  after(async () => {
    await mock?.close();
  });

  const messages = [{ role: 'user', content: 'Hello' }];
  const seen = (model) => mock.attempts().filter((a) => a.model === model);

  test('503 twice, then the backup answers; the next request skips the primary', async () => {
    const host = newHost();
    const first = await host.complete({ model: 'demo', messages });
    assert.equal(first.status, 200);
    assert.equal(first.target, 'backup/ok');
    assert.equal(JSON.parse(first.body).choices[0].message.content, 'Hello from ok');
    assert.deepEqual(first.attempts, ['primary/fault-503=overloaded', 'primary/fault-503=overloaded', 'backup/ok=ok']);
    const tries = seen('fault-503');
    assert.equal(tries.length, 2, 'one retry after a backoff');
    assert.ok(tries[1].at_ms - tries[0].at_ms >= 250, 'the backoff was waited for');
    assert.equal(tries[0].authorization, 'Bearer sk-test-one-1111', 'the key name resolved to its secret');

    const second = await host.complete({ model: 'demo', messages });
    assert.equal(second.status, 200);
    assert.deepEqual(second.attempts, ['backup/ok=ok'], 'the primary is cooling down: no request');
    assert.equal(seen('fault-503').length, 2);
    const open = host.gateway.openScopes(BigInt(Date.now())).map((s) => s.entry.scope);
    assert.ok(open.includes('model|primary|fault-503'));
  });

  test('401 rotates the key, then falls back', async () => {
    const host = newHost();
    const r = await host.complete({ model: 'keys', messages });
    assert.equal(r.status, 200);
    assert.deepEqual(r.attempts, ['primary/fault-401=auth', 'primary/fault-401=auth', 'backup/ok=ok']);
    assert.deepEqual(
      seen('fault-401').map((a) => a.authorization),
      ['Bearer sk-test-one-1111', 'Bearer sk-test-two-2222'],
    );
  });

  test('a reset connection is a transport failure', async () => {
    const host = newHost();
    const r = await host.complete({ model: 'reset', messages });
    assert.equal(r.status, 200);
    assert.equal(r.attempts[0], 'primary/fault-reset=connection');
    assert.equal(r.target, 'backup/ok');
  });

  test('a request error goes back as the provider sent it; an unknown model is a 400', async () => {
    const host = newHost();
    const r = await host.complete({ model: 'primary/fault-invalid-request', messages });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.param, 'max_tokens', "the provider's own body");
    assert.equal(seen('fault-invalid-request').length, 1, 'not retried');
    const u = await host.complete({ model: 'nope', messages });
    assert.equal(u.status, 400);
    assert.match(JSON.parse(u.body).error.message, /unknown model `nope`/);
  });
});
