// A minimal host for the component: the example of docs/COMPONENT.md. It answers
// non-streaming OpenAI-style chat requests with fallback, retries and cooldowns
// decided by the component; it only moves bytes and time. host.test.mjs runs it
// against the fault-injecting mock upstream (tests/e2e/mock-upstream.mjs).
//
//   import * as core from './llm_failover.js';      // jco transpile output
//   const host = createHost(core, configJson, { secrets: process.env });
//   const answer = await host.complete({ model: 'default', messages: [...] });

export function createHost({ fallback, classifier }, configJson, { fetch = globalThis.fetch, secrets = {} } = {}) {
  const gateway = fallback.Gateway.create(configJson); // throws a ComponentError for a bad config
  const now = () => BigInt(Date.now());
  let runs = 0n;

  /** One upstream attempt -> the outcome to report, and the answer to keep. */
  async function attempt(plan, request) {
    const headers = { 'content-type': 'application/json' };
    if (plan.key !== undefined) headers.authorization = `Bearer ${secrets[plan.key]}`;
    let res, text;
    try {
      res = await fetch(`${plan.baseUrl}/chat/completions`, {
        method: 'POST',
        headers,
        body: JSON.stringify({ ...request, model: plan.model }),
        signal: AbortSignal.timeout(Number(plan.headerTimeoutMs)),
      });
      text = await res.text();
    } catch (e) {
      const code = e.cause?.code;
      const transport =
        e.name === 'TimeoutError' ? 'header-timeout'
        : code === 'ECONNREFUSED' ? 'connection-refused'
        : code === 'ENOTFOUND' ? 'dns'
        : 'reset-before-headers';
      return { outcome: { tag: 'failure', val: { tag: 'transport', val: { tag: transport } } } };
    }
    const answer = { status: res.status, text };
    if (!res.ok) {
      const http = { status: res.status, headers: [...res.headers], body: text };
      return { outcome: { tag: 'failure', val: { tag: 'http', val: http } }, answer };
    }
    if (classifier.inspectCompletion(plan.dialect, text, now()) !== undefined) {
      return { outcome: { tag: 'failure', val: { tag: 'invalid-success', val: text } }, answer };
    }
    return { outcome: { tag: 'success' }, answer };
  }

  /** One client request -> `{status, body, target?, attempts}`. */
  async function complete(request) {
    let run;
    try {
      run = gateway.start(request.model, {
        now: now(),
        seed: BigInt(Math.floor(Math.random() * 2 ** 52)),
        runId: ++runs,
        stream: false,
      });
    } catch (e) {
      // unknown-model / no-concrete-model: the client's mistake.
      return { status: 400, body: JSON.stringify({ error: { message: e.payload.message, type: e.payload.kind.tag } }) };
    }
    const answers = new Map(); // attempt id -> what the upstream said
    const attempts = () => run.attempts().map((a) => `${a.provider}/${a.model}=${a.kind?.tag ?? 'ok'}`);
    for (;;) {
      const action = run.pollAction(now());
      switch (action.tag) {
        case 'send': {
          const plan = action.val;
          const { outcome, answer } = await attempt(plan, request);
          if (answer) answers.set(plan.attempt, answer);
          run.handleOutcome(now(), plan.attempt, outcome);
          break;
        }
        case 'wait': // a backoff or a honoured Retry-After
          await new Promise((resolve) => setTimeout(resolve, Math.max(0, Number(action.val - now()))));
          break;
        case 'finished': {
          const result = action.val;
          if (result.tag === 'success') {
            const { provider, model, attempt: id } = result.val;
            return { status: 200, body: answers.get(id).text, target: `${provider}/${model}`, attempts: attempts() };
          }
          const failure = result.val; // tag 'failed' (or 'other' from a newer component: treat alike)
          if (failure.propagate !== undefined) {
            // A request error, or a pinned provider's own error: pass it on as it came.
            const { status, text } = answers.get(failure.propagate);
            return { status, body: text, attempts: attempts() };
          }
          const body = JSON.stringify({ error: { message: failure.message, type: failure.kind.tag } });
          return { status: failure.httpStatus, body, retryAfterMs: failure.retryAfterMs, attempts: attempts() };
        }
        default: // `other`: an action this host does not know yet
          throw new Error(`unsupported action ${action.val}`);
      }
    }
  }

  return { gateway, complete };
}
