// The component in a real host loop: example-host.mjs (the docs' example) serves
// HTTP on loopback and makes real requests to the fault-injecting mock upstream,
// with the real clock and real timers; the component's session decides. Checks
// what the client got (over HTTP, streams included) and what the upstream saw.

import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { STORY, startMockUpstream } from '../e2e/mock-upstream.mjs';
import { createHost } from './example-host.mjs';
import { loadComponent } from './harness.mjs';

const core = await loadComponent();

const SECRETS = { PRIMARY_KEY_1: 'sk-test-one-1111', PRIMARY_KEY_2: 'sk-test-two-2222', BACKUP_KEY: 'sk-test-backup-3333' };
const FAST = { response_timeout_ms: 1500, header_timeout_ms: 1500, first_token_timeout_ms: 500, idle_timeout_ms: 1500 };

/** The SSE text of a response -> its events: {data, json?} or {comment}. */
function parseSse(text) {
  const events = [];
  for (const block of text.split('\n\n')) {
    if (block === '') continue;
    if (block.startsWith(':')) {
      events.push({ comment: block.slice(1).trim() });
      continue;
    }
    const data = block
      .split('\n')
      .filter((l) => l.startsWith('data:'))
      .map((l) => l.slice(5).trimStart())
      .join('\n');
    let json;
    try {
      json = JSON.parse(data);
    } catch {
      json = undefined;
    }
    events.push({ data, json });
  }
  return events;
}

describe('example host against the mock upstream', () => {
  let mock;
  let config;
  const servers = [];
  /** Everything any client received, and every session's trace: no key may be in it. */
  const seenByClients = [];
  const bigints = (_, v) => (typeof v === 'bigint' ? Number(v) : v);

  // A fresh host (its own cooldown table) per test: a 401 cools the key down for
  // every model of its provider, which would change the next test.
  async function newHost() {
    const host = createHost(core, JSON.stringify(config), {
      secrets: SECRETS,
      onDone: (s) => seenByClients.push(JSON.stringify([s.trace(), s.attempts(), s.finalResult()], bigints)),
    });
    const server = http.createServer(host.handle);
    await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
    servers.push(server);
    const url = `http://127.0.0.1:${server.address().port}/v1/chat/completions`;
    /** POSTs a chat request (an object, or raw text) -> what the client got. */
    host.chat = async (body) => {
      const res = await fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
      const text = await res.text();
      const headers = Object.fromEntries(res.headers);
      seenByClients.push(JSON.stringify(headers), text);
      const r = {
        status: res.status,
        headers,
        body: text,
        target: headers['x-llm-failover-target'],
        attempts: headers['x-llm-failover-attempts']?.split(', '),
      };
      if (headers['content-type']?.startsWith('text/event-stream')) {
        r.events = parseSse(text);
        r.text = r.events.map((e) => e.json?.choices?.[0]?.delta?.content ?? '').join('');
        r.done = r.events.some((e) => e.data === '[DONE]');
      }
      return r;
    };
    return host;
  }

  before(async () => {
    mock = await startMockUpstream({ port: 0, host: '127.0.0.1' });
    const upstream = `${mock.url}/v1`;
    const keys = ['PRIMARY_KEY_1', 'PRIMARY_KEY_2'];
    config = {
      providers: [
        { name: 'primary', dialect: 'openai', base_url: upstream, keys },
        { name: 'backup', dialect: 'openai-compatible', base_url: upstream },
        // OpenRouter documents assistant prefill: it finishes a broken story.
        { name: 'storyteller', dialect: 'openrouter', base_url: upstream, keys: ['BACKUP_KEY'] },
        { name: 'cut', dialect: 'openai-compatible', base_url: upstream, keys },
      ],
      chains: [
        { name: 'demo', targets: [{ provider: 'primary', model: 'fault-503' }, { provider: 'backup', model: 'ok' }] },
        { name: 'keys', targets: [{ provider: 'primary', model: 'fault-401' }, { provider: 'backup', model: 'ok' }] },
        { name: 'reset', targets: [{ provider: 'primary', model: 'fault-reset' }, { provider: 'backup', model: 'ok' }] },
        {
          name: 'silent',
          targets: [{ provider: 'primary', model: 'fault-silent' }, { provider: 'backup', model: 'ok-after-silence' }],
          budgets: FAST,
        },
        {
          name: 'slow-first',
          targets: [{ provider: 'primary', model: 'fault-slow-first-token-3000' }, { provider: 'backup', model: 'ok-stream' }],
          budgets: FAST,
        },
        {
          name: 'in-band',
          targets: [{ provider: 'primary', model: 'fault-openrouter-stream-error' }, { provider: 'backup', model: 'ok-in-band' }],
        },
        {
          name: 'story',
          targets: [{ provider: 'cut', model: 'fault-story-cut-20' }, { provider: 'storyteller', model: 'story' }],
          budgets: FAST,
        },
        {
          name: 'no-continuation',
          targets: [{ provider: 'primary', model: 'fault-stream-cut' }, { provider: 'backup', model: 'ok-never' }],
          continuation: false,
        },
      ],
    };
  });
  after(async () => {
    for (const s of servers) s.close();
    await mock?.close();
  });

  const messages = [{ role: 'user', content: 'Hello' }];
  const seen = (model) => mock.attempts().filter((a) => a.model === model);

  test('503 twice, then the backup answers; the next request skips the primary', async () => {
    const host = await newHost();
    const first = await host.chat({ model: 'demo', messages });
    assert.equal(first.status, 200);
    assert.equal(first.target, 'backup/ok');
    assert.equal(JSON.parse(first.body).choices[0].message.content, 'Hello from ok');
    assert.deepEqual(first.attempts, ['primary/fault-503=overloaded', 'primary/fault-503=overloaded', 'backup/ok=ok']);
    const tries = seen('fault-503');
    assert.equal(tries.length, 2, 'one retry after a backoff');
    assert.ok(tries[1].at_ms - tries[0].at_ms >= 250, 'the backoff was waited for');
    assert.equal(tries[0].authorization, 'Bearer sk-test-one-1111', 'the key name resolved to its secret');
    assert.equal(tries[0].path, '/v1/chat/completions', "the session's URL");

    const second = await host.chat({ model: 'demo', messages });
    assert.equal(second.status, 200);
    assert.deepEqual(second.attempts, ['backup/ok=ok'], 'the primary is cooling down: no request');
    assert.equal(seen('fault-503').length, 2);
    const open = host.gateway.openScopes(BigInt(Date.now())).map((s) => s.entry.scope);
    assert.ok(open.includes('model|primary|fault-503'));
  });

  test('401 rotates the key, then falls back', async () => {
    const host = await newHost();
    const r = await host.chat({ model: 'keys', messages });
    assert.equal(r.status, 200);
    assert.deepEqual(r.attempts, ['primary/fault-401=auth', 'primary/fault-401=auth', 'backup/ok=ok']);
    assert.deepEqual(
      seen('fault-401').map((a) => a.authorization),
      ['Bearer sk-test-one-1111', 'Bearer sk-test-two-2222'],
    );
    assert.equal(seen('ok').at(-1).authorization, null, 'a keyless provider gets no key header');
  });

  test('a reset connection is a transport failure', async () => {
    const host = await newHost();
    const r = await host.chat({ model: 'reset', messages });
    assert.equal(r.status, 200);
    assert.equal(r.attempts[0], 'primary/fault-reset=connection');
    assert.equal(r.target, 'backup/ok');
  });

  test("a silent upstream: the session's timer fires, the host aborts it and falls back", async () => {
    const host = await newHost();
    const started = Date.now();
    const r = await host.chat({ model: 'silent', messages });
    const ms = Date.now() - started;
    assert.equal(r.status, 200);
    assert.deepEqual(r.attempts, ['primary/fault-silent=timeout', 'backup/ok-after-silence=ok']);
    assert.ok(ms >= 1400 && ms < 5000, `the 1.5 s response timeout, not longer: ${ms} ms`);
    assert.equal(seen('fault-silent').length, 1, 'a timeout is not retried');
  });

  test('a request error goes back as the provider sent it; bad requests are answered by the component', async () => {
    const host = await newHost();
    const r = await host.chat({ model: 'primary/fault-invalid-request', messages });
    assert.equal(r.status, 400);
    assert.equal(JSON.parse(r.body).error.param, 'max_tokens', "the provider's own body");
    assert.equal(seen('fault-invalid-request').length, 1, 'not retried');
    const u = await host.chat({ model: 'nope', messages });
    assert.equal(u.status, 404, "the core's answer to an unknown model (api::route_error)");
    assert.match(JSON.parse(u.body).error.message, /unknown model `nope`/);
    assert.equal(JSON.parse(u.body).error.code, 'model_not_found');
    const bad = await host.chat('{"model": "demo", "messages": [');
    assert.equal(bad.status, 400);
    assert.equal(JSON.parse(bad.body).error.code, 'invalid_json');
    const none = await host.chat({ model: 'demo' });
    assert.equal(JSON.parse(none.body).error.param, 'messages');
  });

  test('streaming: a failure before the first token falls back invisibly (timer and abort)', async () => {
    const host = await newHost();
    const r = await host.chat({ model: 'slow-first', messages, stream: true });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-type'], 'text/event-stream; charset=utf-8');
    assert.equal(r.target, 'backup/ok-stream');
    assert.equal(r.text, 'Hello from ok-stream', 'only the backup streamed');
    assert.equal(r.done, true);
    assert.equal(seen('fault-slow-first-token-3000').length, 1);
    assert.ok(r.events.every((e) => !e.json?.error), 'no error event');
    // The backup's time to first token was observed: the table learns it.
    const samples = host.gateway.snapshot(BigInt(Date.now())).firstToken;
    assert.ok(samples.some((s) => s.scope === 'model|backup|ok-stream' && s.samples.length === 1));
  });

  test('streaming: an in-band error before any content falls back invisibly', async () => {
    const host = await newHost();
    const r = await host.chat({ model: 'in-band', messages, stream: true });
    assert.equal(r.status, 200);
    assert.equal(r.target, 'backup/ok-in-band');
    assert.equal(r.text, 'Hello from ok-in-band');
    assert.equal(r.events.filter((e) => e.data === '[DONE]').length, 1);
    assert.ok(r.events.every((e) => !e.json?.error));
  });

  test('streaming: a stream cut after the commit is finished by the next target', async () => {
    const host = await newHost();
    const r = await host.chat({ model: 'story', messages, stream: true, stream_options: { include_usage: true } });
    assert.equal(r.status, 200);
    assert.equal(r.target, 'cut/fault-story-cut-20', 'the stream started on the primary');
    assert.equal(r.text, STORY, 'the whole story, word for word, in one stream');
    assert.equal(r.events.filter((e) => e.data === '[DONE]').length, 1);
    assert.ok(r.events.every((e) => !e.json?.error), 'no error event');
    const [prefill] = seen('story').map((a) => a.prefill);
    assert.ok(prefill && STORY.startsWith(prefill.trimEnd()), 'the backup was sent what the client already had');
    const parts = r.events.filter((e) => e.json?.llm_failover).at(-1)?.json.llm_failover;
    assert.equal(parts?.continued, true);
    assert.deepEqual(parts.parts.map((p) => p.target), ['cut/fault-story-cut-20', 'storyteller/story']);
    assert.ok(r.events.some((e) => e.comment?.startsWith('x-llm-failover-parts:')));
    assert.equal(seen('story')[0].authorization, 'Bearer sk-test-backup-3333');
  });

  test('streaming: a cut nothing may continue ends with an error event, never [DONE]', async () => {
    const host = await newHost();
    const r = await host.chat({ model: 'no-continuation', messages, stream: true });
    assert.equal(r.status, 200, 'the stream had started');
    assert.equal(r.text, 'Hello from', 'the two chunks before the cut');
    assert.equal(r.done, false);
    const last = r.events.at(-1);
    assert.equal(last.json?.error?.type, 'upstream_error');
    assert.equal(seen('ok-never').length, 0, 'continuation is off for this chain');
  });

  test('keys never reach a client, a log or a trace (upstreams that echo them, raw or encoded)', async () => {
    for (const model of ['fault-401-echo-raw', 'fault-401-echo-base64', 'fault-401-echo-url']) {
      const host = await newHost(); // a 401 cools the provider's keys down
      const r = await host.chat({ model: `primary/${model}`, messages });
      assert.equal(r.status, 401, model);
      assert.equal(seen(model).length, 2, `${model}: both keys tried`);
    }
    const everything = seenByClients.join('\n');
    assert.ok(everything.includes('invalid credentials'), 'the echoing bodies did reach the client, redacted');
    for (const [name, value] of Object.entries(SECRETS)) {
      const forms = [value, Buffer.from(`apikey:${value}`).toString('base64'), encodeURIComponent(value)];
      for (const form of forms) assert.ok(!everything.includes(form), `${name} leaked (${form})`);
    }
  });
});
