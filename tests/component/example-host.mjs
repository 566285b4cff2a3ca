// A minimal host for the component: the example of docs/COMPONENT.md. It serves
// OpenAI-style chat completions, streaming or not, with fallback, retries,
// cooldowns and mid-stream continuation, all decided by the component's `session`:
// the session says what to send upstream (URL, headers, body, which key and how)
// and what to answer the client (a whole response, or a stream's head and SSE
// events). This host only moves bytes and time: fetch, abort, timers, writing the
// response. host.test.mjs runs it against the fault-injecting mock upstream
// (tests/e2e/mock-upstream.mjs).
//
//   import * as core from './llm_failover.js';      // jco transpile output
//   const host = createHost(core, configJson, { secrets: process.env });
//   http.createServer(host.handle).listen(8787);    // POST /v1/chat/completions

/** What a failed fetch means, in the WIT's terms (before any response head). */
function transportFailure(error) {
  const code = error?.cause?.code ?? error?.code ?? '';
  if (code === 'ECONNREFUSED') return 'connection-refused';
  if (code === 'ENOTFOUND' || code === 'EAI_AGAIN') return 'dns';
  if (/^(ERR_TLS|ERR_SSL|CERT_|UNABLE_TO_VERIFY|DEPTH_ZERO|SELF_SIGNED)/.test(code)) return 'tls';
  return 'reset-before-headers';
}

export function createHost(core, configJson, options = {}) {
  const { fallback, session: sessions } = core;
  const {
    fetch = globalThis.fetch,
    secrets = {},
    now = () => BigInt(Date.now()),
    onDone = () => {}, // (session) => void: logs, metrics (the trace is redacted)
    saveCooldowns = () => {}, // (snapshot) => void: share what this instance learnt
  } = options;
  const gateway = fallback.Gateway.create(configJson); // throws a ComponentError for a bad config
  let runs = 0n;

  /**
   * Answers one client request (its JSON body as text) on `res`, anything with
   * node:http's `writeHead(status, headers)`, `write(text)` and `end([text])`.
   * `signal` aborting means the client went away.
   */
  async function answer(body, res, { signal } = {}) {
    let session;
    try {
      session = sessions.Session.create(gateway, body, {
        now: now(),
        seed: BigInt(Math.floor(Math.random() * 2 ** 52)),
        runId: ++runs,
      });
    } catch (e) {
      const kind = e.payload?.kind;
      if (kind?.tag !== 'bad-request') throw e;
      // Not JSON, no messages, an unknown model…: the component wrote the answer.
      res.writeHead(kind.val.status, { 'content-type': 'application/json' });
      res.end(kind.val.body);
      return;
    }

    // Inputs for the session, in the order they happened; the loop below feeds
    // them in. Network callbacks only queue (the session is not reentrant).
    const inbox = [];
    let wake = () => {};
    const deliver = (input) => {
      inbox.push(input);
      wake();
    };
    const fetches = new Map(); // attempt -> AbortController

    /** Makes the upstream request the session asked for, adding the key it names. */
    function send(req) {
      const headers = Object.fromEntries(req.headers);
      if (req.key !== undefined) {
        const value = secrets[req.key.name];
        if (value === undefined) {
          deliver(() => session.handleMissingKey(now(), req.attempt));
          return;
        }
        session.addSecret(value); // redacted from everything the session passes back
        headers[req.key.header] = req.key.prefix + value;
      }
      const controller = new AbortController();
      fetches.set(req.attempt, controller);
      const id = req.attempt;
      (async () => {
        let upstream;
        try {
          upstream = await fetch(req.url, { method: req.method, headers, body: req.body, signal: controller.signal });
        } catch (e) {
          if (!controller.signal.aborted) deliver(() => session.handleError(now(), id, { tag: transportFailure(e) }));
          return;
        }
        deliver(() => session.handleHead(now(), id, upstream.status, [...upstream.headers]));
        try {
          // Every chunk as it arrives: the session parses the SSE and runs the timers.
          for await (const chunk of upstream.body ?? []) deliver(() => session.handleBody(now(), id, chunk));
          deliver(() => session.handleEnd(now(), id));
        } catch {
          if (!controller.signal.aborted) deliver(() => session.handleError(now(), id, { tag: 'stream-ended-early' }));
        }
      })();
    }

    function abort(attempt) {
      fetches.get(attempt)?.abort();
      fetches.delete(attempt);
    }

    const cancel = () => deliver(() => session.cancel(now()));
    signal?.addEventListener('abort', cancel);
    try {
      for (;;) {
        for (let out; (out = session.pollOutput(now())) !== undefined; ) {
          switch (out.tag) {
            case 'send':
              send(out.val);
              break;
            case 'abort':
              abort(out.val);
              break;
            case 'respond': // the whole answer, or an error before any stream started
              res.writeHead(out.val.status, Object.fromEntries(out.val.headers));
              res.end(out.val.body);
              break;
            case 'stream-start':
              res.writeHead(200, Object.fromEntries(out.val.headers));
              break;
            case 'stream-event': // data, comment, [DONE] or the final error: write it as it is
              res.write(out.val.sse);
              break;
            case 'done':
              for (const attempt of [...fetches.keys()]) abort(attempt);
              if (!res.writableEnded) res.end();
              onDone(session);
              if (gateway.takeDirty()) saveCooldowns(gateway.snapshot(now()));
              return;
            default: // `other`: an output this host does not know yet
              break;
          }
        }
        if (inbox.length === 0) {
          // Wait for the network, the session's next timer, or the client going away.
          const at = session.nextTimeout();
          let timer;
          await new Promise((resolve) => {
            wake = resolve;
            if (at !== undefined) {
              const ms = Math.max(0, Number(at - now()));
              timer = setTimeout(() => deliver(() => session.handleTimeout(at > now() ? at : now())), ms);
            }
          });
          clearTimeout(timer);
        }
        while (inbox.length > 0) inbox.shift()();
      }
    } finally {
      signal?.removeEventListener('abort', cancel);
    }
  }

  /** A node:http request handler: `POST …/chat/completions`. */
  async function handle(req, res) {
    if (req.method !== 'POST' || !req.url.split('?')[0].endsWith('/chat/completions')) {
      res.writeHead(404, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: 'not found', type: 'invalid_request_error' } }));
      return;
    }
    const chunks = [];
    for await (const chunk of req) chunks.push(chunk);
    const gone = new AbortController();
    res.on('close', () => {
      if (!res.writableFinished) gone.abort(); // the client left before the answer ended
    });
    try {
      await answer(Buffer.concat(chunks).toString('utf8'), res, { signal: gone.signal });
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { message: `host error: ${e.message}`, type: 'server_error' } }));
    }
  }

  return { gateway, answer, handle };
}
