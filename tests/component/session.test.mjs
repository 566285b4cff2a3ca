// The `session` export with a fake clock (harness.simulateSession, the loop of
// src/sim.rs): what it asks the host to send (URL, headers, body, the key by name
// and header), what it answers the client (whole responses, streams as SSE), its
// timers, missing keys, continuation after the commit, cancellation, request
// errors as values, and redaction. Every trace converts strictly.

import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { attemptRecord, loadComponent, loadScenarios, runResult, simulateSession, sseChunk, traceEvent } from './harness.mjs';

const core = await loadComponent();
const { fallback, session: sessions } = core;
const CONFIG = loadScenarios().find((s) => s.name === 'example').configJson; // examples/config.json
const T0 = 1_700_000_000_000n;
const KEYS = { OPENAI_KEY_1: 'sk-live-openai-one-7f3a', OPENAI_KEY_2: 'sk-live-openai-two-9c1d', ANTHROPIC_KEY: 'sk-ant-live-5e2b', GROQ_KEY: 'gsk_live_groq_8d4c' };
const messages = [{ role: 'user', content: 'Tell me a story.' }];
const bigints = (_, v) => (typeof v === 'bigint' ? Number(v) : v);

function start(request, { gw = fallback.Gateway.create(CONFIG), now = T0, runId = 1n } = {}) {
  const body = typeof request === 'string' ? request : JSON.stringify(request);
  return { gw, s: sessions.Session.create(gw, body, { now, seed: 7n, runId }) };
}

function witError(f) {
  try {
    f();
  } catch (e) {
    assert.ok(e.payload, `expected a component error, got ${e}`);
    return e.payload;
  }
  assert.fail('expected an error');
}

const completion = (content) =>
  JSON.stringify({
    id: 'chatcmpl-1', object: 'chat.completion', model: 'm',
    choices: [{ index: 0, message: { role: 'assistant', content }, finish_reason: 'stop' }],
    usage: { prompt_tokens: 4, completion_tokens: 2, total_tokens: 6 },
  });
const ok = (content, latency = 100) => [[latency, { head: [200, [['content-type', 'application/json']]] }], [0, { body: completion(content) }], [0, { end: true }]];
/**
 * A 200 SSE stream of `words` in pieces of `split` bytes (events cut anywhere);
 * `complete`: then the finish chunk, [DONE] and the end, else nothing more.
 */
function stream(words, { latency = 100, split = 7, complete = true } = {}) {
  const events = [sseChunk(''), ...words.map((w) => sseChunk(w))];
  if (complete) events.push(sseChunk(undefined, 'stop'), 'data: [DONE]\n\n');
  const bytes = new TextEncoder().encode(events.join(''));
  const wire = [[latency, { head: [200, [['content-type', 'text/event-stream']]] }]];
  for (let i = 0; i < bytes.length; i += split) wire.push([5, { body: bytes.slice(i, i + split) }]);
  if (complete) wire.push([0, { end: true }]);
  return wire;
}
/** Anthropic's native Messages answer and event stream (the example config's
 * `anthropic` provider is called in its own API). */
const message = (content) =>
  JSON.stringify({ id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [{ type: 'text', text: content }],
    stop_reason: 'end_turn', usage: { input_tokens: 4, output_tokens: 2 } });
const sse = (event, data) => `event: ${event}\ndata: ${JSON.stringify({ type: event, ...data })}\n\n`;
function anthropicStream(words, { latency = 100, split = 7 } = {}) {
  const events = [
    sse('message_start', { message: { id: 'msg_1', type: 'message', role: 'assistant', model: 'm', content: [], usage: { input_tokens: 4, output_tokens: 1 } } }),
    sse('content_block_start', { index: 0, content_block: { type: 'text', text: '' } }),
    ...words.map((w) => sse('content_block_delta', { index: 0, delta: { type: 'text_delta', text: w } })),
    sse('content_block_stop', { index: 0 }),
    sse('message_delta', { delta: { stop_reason: 'end_turn' }, usage: { output_tokens: words.length } }),
    sse('message_stop', {}),
  ];
  const bytes = new TextEncoder().encode(events.join(''));
  const wire = [[latency, { head: [200, [['content-type', 'text/event-stream']]] }]];
  for (let i = 0; i < bytes.length; i += split) wire.push([5, { body: bytes.slice(i, i + split) }]);
  wire.push([0, { end: true }]);
  return wire;
}
const native = (req) => req.url.endsWith('/messages');
/** An answer in the API the request was sent in. */
const okFor = (req, content) =>
  native(req) ? [[100, { head: [200, [['content-type', 'application/json']]] }], [0, { body: message(content) }], [0, { end: true }]] : ok(content);
const streamFor = (req, words) => (native(req) ? anthropicStream(words) : stream(words));
/** A stream cut after `words`. */
const cut = (words) => [...stream(words, { complete: false }), [10, { error: 'stream-ended-early' }]];

/** The run's trace, attempts and result, converted strictly (every field, every type). */
function run(s) {
  return {
    trace: s.trace().map((e, i) => traceEvent(e, `trace[${i}]`)),
    attempts: s.attempts().map((a, i) => attemptRecord(a, `attempts[${i}]`)),
    result: s.finalResult() && runResult(s.finalResult(), 'result'),
  };
}

describe('requests the gateway does not serve are error values with the answer', () => {
  const cases = [
    ['{"model": "default", "messages": [', 400, 'invalid_json', null],
    ['', 400, null, null],
    [{ model: 'default' }, 400, null, 'messages'],
    [{ model: 'gpt-5', messages }, 404, 'model_not_found', 'model'],
    [{ model: 'openai/auto', messages }, 404, 'model_not_found', 'model'],
  ];
  for (const [request, status, code, param] of cases) {
    test(`${JSON.stringify(request).slice(0, 40)} -> ${status}`, () => {
      const err = witError(() => start(request));
      assert.equal(err.kind.tag, 'bad-request');
      const r = err.kind.val;
      assert.deepEqual(Object.keys(r).sort(), ['body', 'code', 'param', 'status', 'type']);
      assert.equal(r.status, status);
      assert.equal(r.type, 'invalid_request_error');
      assert.equal(r.code, code ?? undefined);
      assert.equal(r.param, param ?? undefined);
      assert.deepEqual(JSON.parse(r.body), { error: { message: err.message, type: r.type, param, code } });
    });
  }
  test('an unknown model names the valid ones', () => {
    const gw = fallback.Gateway.create(CONFIG);
    const err = witError(() => start({ model: 'gpt-5', messages }, { gw }));
    for (const name of gw.modelNames()) assert.ok(err.message.includes(name), name);
  });
});

describe('a non-streaming request', () => {
  test('the send says everything; a 503 is retried after the backoff; the answer is the body', () => {
    const { s } = start({ model: 'default', messages, temperature: 0.2 });
    const got = simulateSession(s, T0, (req) =>
      req.attempt === 0
        ? [[80, { head: [503, [['content-type', 'application/json']]] }], [0, { body: `{"error":{"message":"overloaded (key ${KEYS.OPENAI_KEY_1})","type":"server_error"}}` }], [0, { end: true }]]
        : ok('Once upon a time.'),
    { keys: KEYS });
    const [first, second] = got.sent;
    assert.deepEqual(Object.keys(first.req).sort(), ['attempt', 'body', 'headers', 'key', 'method', 'stream', 'url']);
    assert.equal(first.req.url, 'https://api.openai.com/v1/chat/completions');
    assert.equal(first.req.method, 'POST');
    assert.deepEqual(first.req.headers, [['content-type', 'application/json']]);
    assert.deepEqual(first.req.key, { name: 'OPENAI_KEY_1', header: 'authorization', prefix: 'Bearer ' });
    assert.equal(first.req.stream, false);
    assert.deepEqual(JSON.parse(first.req.body), { model: 'gpt-4o-mini', messages, temperature: 0.2 });
    assert.equal(second.req.attempt, 1);
    assert.ok(second.at - first.at >= 80n + 250n, 'the backoff (at least 250 ms) after the 503');

    const r = got.response;
    assert.equal(r.status, 200);
    assert.equal(r.body, completion('Once upon a time.'));
    assert.equal(r.target, 'openai/gpt-4o-mini');
    assert.equal(r.failure, undefined);
    const headers = Object.fromEntries(r.headers);
    assert.equal(headers['content-type'], 'application/json');
    assert.equal(headers['x-llm-failover-attempts'], 'openai/gpt-4o-mini=overloaded, openai/gpt-4o-mini=ok');
    assert.equal(got.outputs.at(-1).tag, 'done');
    assert.equal(s.nextTimeout(), undefined, 'done: no timer');
    const { trace, result } = run(s);
    assert.deepEqual(trace.map((e) => e.event), ['send', 'failure', 'cooled_down', 'retry', 'send', 'success', 'finished']);
    assert.deepEqual(trace[3].why, { reason: 'backoff' });
    assert.equal(result.provider, 'openai');
    assert.ok(!JSON.stringify([got.outputs, s.trace()], bigints).includes(KEYS.OPENAI_KEY_1), 'the echoed key is redacted');
  });

  test("a silent upstream: the session's timers, an abort, the next target", () => {
    const config = JSON.parse(CONFIG);
    config.chains[0].budgets.response_timeout_ms = 5_000;
    const gw = fallback.Gateway.create(JSON.stringify(config));
    const { s } = start({ model: 'default', messages }, { gw });
    assert.equal(s.pollOutput(T0).tag, 'send');
    assert.equal(s.nextTimeout(), T0 + 5_000n, 'the response timeout');
    const got = simulateSession(s, T0, (req) => (req.attempt === 0 ? [] : okFor(req, 'Hi')), { keys: KEYS });
    assert.ok(got.aborted.includes(0), 'the silent request is aborted');
    assert.deepEqual(got.sent.map((x) => [x.at, x.req.url]), [[T0 + 5_000n, 'https://api.anthropic.com/v1/messages']]);
    assert.deepEqual(got.sent[0].req.key, { name: 'ANTHROPIC_KEY', header: 'x-api-key', prefix: '' });
    const { trace } = run(s);
    const failure = trace.find((e) => e.event === 'failure');
    assert.equal(failure.kind, 'timeout');
    assert.equal(got.response.status, 200);
    assert.equal(got.response.target, 'anthropic/claude-3-5-haiku-latest');
  });

  test('a missing key is an auth failure of that key; the next key goes', () => {
    const { s } = start({ model: 'default', messages });
    const keys = { OPENAI_KEY_2: KEYS.OPENAI_KEY_2 };
    const got = simulateSession(s, T0, () => ok('Hi'), { keys });
    assert.deepEqual(got.sent.map((x) => x.req.key?.name), ['OPENAI_KEY_1', 'OPENAI_KEY_2']);
    const { trace, attempts } = run(s);
    const failure = trace.find((e) => e.event === 'failure');
    assert.equal(failure.kind, 'auth');
    assert.equal(failure.scope, 'key');
    assert.match(failure.reason, /no key named `OPENAI_KEY_1`/);
    assert.deepEqual(attempts.map((a) => a.kind), ['auth', null]);
    assert.equal(got.response.status, 200);
  });

  test('transport failures by name; an unknown one is refused; late inputs are ignored', () => {
    const { s } = start({ model: 'default', messages });
    const send = s.pollOutput(T0);
    assert.equal(send.tag, 'send');
    assert.equal(s.pollOutput(T0), undefined, 'nothing more until an input');
    assert.equal(witError(() => s.handleError(T0 + 1n, 0, { tag: 'other', val: 'carrier-pigeon' })).kind.tag, 'unsupported');
    s.handleError(T0 + 10n, 0, { tag: 'other', val: 'connection_refused' });
    const outs = [];
    for (let o; (o = s.pollOutput(T0 + 10n)) !== undefined; ) outs.push(o);
    // The request is over (abort is idempotent for the host); the retry waits for its backoff.
    assert.deepEqual(outs, [{ tag: 'abort', val: 0 }]);
    assert.ok(s.nextTimeout() > T0 + 10n);
    s.handleBody(T0 + 11n, 0, new TextEncoder().encode('late')); // attempt 0 is over: ignored
    s.handleEnd(T0 + 11n, 0);
    const failures = run(s).trace.filter((e) => e.event === 'failure');
    assert.equal(failures.length, 1);
    assert.equal(failures[0].kind, 'connection');
  });
});

describe('a streaming request', () => {
  test('held until the first content, split anywhere, written as SSE', () => {
    const { s, gw } = start({ model: 'default', messages, stream: true });
    const got = simulateSession(s, T0, () => stream(['Once', ' upon', ' a', ' time.']), { keys: KEYS });
    assert.equal(got.sent[0].req.stream, true);
    assert.deepEqual(got.sent[0].req.headers, [['content-type', 'application/json'], ['accept', 'text/event-stream']]);
    assert.equal(got.head.target, 'openai/gpt-4o-mini');
    assert.equal(Object.fromEntries(got.head.headers)['content-type'], 'text/event-stream; charset=utf-8');
    for (const e of got.events) {
      if (e.event.tag === 'data') assert.equal(e.sse, `data: ${e.event.val}\n\n`);
    }
    assert.deepEqual(got.events.at(-1), { event: { tag: 'done' }, sse: 'data: [DONE]\n\n' });
    const text = got.events
      .filter((e) => e.event.tag === 'data')
      .map((e) => JSON.parse(e.event.val).choices[0]?.delta?.content ?? '')
      .join('');
    assert.equal(text, 'Once upon a time.');
    const { trace, attempts, result } = run(s);
    assert.deepEqual(trace.map((e) => e.event), ['send', 'committed', 'success', 'finished']);
    assert.equal(attempts[0].committed, true);
    assert.equal(result.result, 'success');
    // Its time to first token went into the gateway's table.
    const [samples] = gw.snapshot(got.now).firstToken;
    assert.equal(samples.scope, 'model|openai|gpt-4o-mini');
    assert.equal(samples.samples.length, 1);
  });

  test('an event that is not JSON is dropped, never forwarded', () => {
    const { s } = start({ model: 'default', messages, stream: true });
    const wire = [...stream(['Hi'], { complete: false }), [1, { body: 'data: {not json\n\n' }], ...stream([' there']).slice(2)];
    const got = simulateSession(s, T0, () => wire, { keys: KEYS });
    assert.ok(!got.sse.includes('not json'));
    const dropped = run(s).trace.find((e) => e.event === 'dropped');
    assert.deepEqual(Object.keys(dropped).sort(), ['at', 'attempt', 'count', 'event', 'why']);
    assert.equal(dropped.count, 1);
  });

  test('a stream broken after the commit is continued in the same client stream', () => {
    const { s } = start({ model: 'default', messages, stream: true });
    const got = simulateSession(
      s,
      T0,
      (req) =>
        req.attempt === 0 ? cut(['Once', ' upon']) : streamFor(req, [' a', ' time.']),
      { keys: KEYS },
    );
    assert.equal(got.head.target, 'openai/gpt-4o-mini');
    const text = got.events
      .filter((e) => e.event.tag === 'data')
      .map((e) => JSON.parse(e.event.val).choices?.[0]?.delta?.content ?? '')
      .join('');
    assert.equal(text, 'Once upon a time.');
    const body = JSON.parse(got.sent[1].req.body);
    assert.deepEqual(body.messages.at(-1), { role: 'assistant', content: 'Once upon' }, 'the prefill');
    assert.ok(got.events.some((e) => e.event.tag === 'comment' && e.sse.startsWith(': x-llm-failover-parts:')));
    assert.equal(got.events.at(-1).event.tag, 'done');
    const { trace, attempts } = run(s);
    assert.ok(trace.some((e) => e.event === 'spliced'));
    assert.deepEqual(trace.filter((e) => e.event === 'send').map((e) => e.continuation), [null, 'prefill']);
    assert.deepEqual(attempts.map((a) => [a.committed, a.continuation]), [[true, null], [true, 'prefill']]);
  });

  test('when nothing can finish it, the stream ends with an error event', () => {
    const { s } = start({ model: 'openai/gpt-4o-mini', messages, stream: true });
    const got = simulateSession(s, T0, () => cut(['Once']), { keys: KEYS });
    const last = got.events.at(-1);
    assert.equal(last.event.tag, 'error');
    assert.deepEqual(Object.keys(last.event.val).sort(), ['code', 'kind', 'message']);
    assert.match(last.sse, /^data: .*\n\n$/);
    assert.deepEqual(JSON.parse(last.sse.slice(6)), {
      error: { message: last.event.val.message, type: 'upstream_error', code: last.event.val.code, param: null },
    });
    assert.deepEqual([last.event.val.kind, last.event.val.code], [{ tag: 'connection' }, 'connection']);
    assert.ok(!got.events.some((e) => e.event.tag === 'done'), 'never [DONE]');
    const { result } = run(s);
    assert.equal(result.after_commit, true);
  });

  test('cancel: the request in flight is aborted, the run ends as cancelled', () => {
    const { s, gw } = start({ model: 'default', messages, stream: true });
    const got = simulateSession(s, T0, () => stream(['Once', ' upon']), { keys: KEYS, until: T0 + 50n });
    assert.equal(got.doneAt, undefined, 'still waiting for the upstream');
    s.cancel(T0 + 60n);
    const outs = [];
    for (let o; (o = s.pollOutput(T0 + 60n)) !== undefined; ) outs.push(o);
    assert.deepEqual(outs, [{ tag: 'abort', val: 0 }, { tag: 'done' }]);
    const { result, trace } = run(s);
    assert.deepEqual([result.cause, result.http_status], ['cancelled', 499]);
    assert.equal(trace.at(-1).result, 'cancelled');
    assert.deepEqual(gw.snapshot(T0 + 60n).entries, [], 'nothing cooled down');
  });
});

test('sessions share their gateway’s table', () => {
  const gw = fallback.Gateway.create(CONFIG);
  const a = start({ model: 'default', messages }, { gw }).s;
  simulateSession(a, T0, () => [[50, { head: [401, []] }], [0, { body: '{"error":{"message":"bad key","type":"invalid_request_error","code":"invalid_api_key"}}' }], [0, { end: true }]], { keys: KEYS });
  assert.ok(gw.takeDirty());
  const b = start({ model: 'default', messages }, { gw, now: T0 + 5_000n, runId: 2n }).s;
  const got = simulateSession(b, T0 + 5_000n, () => ok('Hi'), { keys: KEYS });
  assert.ok(got.sent.every((x) => x.req.key?.name !== 'OPENAI_KEY_1'), "the first session's 401 cooled that key");
});
