#!/usr/bin/env node
// mock-upstream.mjs — a local, OpenAI-compatible, fault-injecting mock LLM provider.
//
// Used by the gateway's end-to-end tests (workerd via `wrangler dev`, a headless
// browser) and by the local demo. Plain Node (20+), no dependencies.
//
//   node tests/e2e/mock-upstream.mjs [--port N] [--host 127.0.0.1] [--verbose]
//
// prints exactly one line on stdout once listening:  {"listening": true, "port": N}
// (port 0 / no --port = a free port). Only loopback hosts are accepted.
//
//   import { startMockUpstream } from "./mock-upstream.mjs";
//   const mock = await startMockUpstream({ port: 0, host: "127.0.0.1" });
//   mock.port; mock.url /* "http://127.0.0.1:N" */; mock.attempts(); await mock.close();
//
// ── Endpoints (all with permissive CORS; OPTIONS preflight → 204) ──────────────
//   POST /v1/chat/completions, POST /chat/completions (and any path ending in
//        /chat/completions, e.g. /api/v1/…, /openai/v1/…, /v1beta/openai/…)
//   POST /openai/deployments/{deployment}/chat/completions?api-version=…  (model = deployment)
//   GET  /v1/models (or any path ending in /models)        OpenAI list shape
//   GET  /__attempts[?model=X]   every chat request: {seq, at_ms, path, query, model,
//                                stream, authorization, api_key, fault}; DELETE clears
//                                (also resets the fault-after-<n>-ok counters)
//   POST /__control/flap {"name","down_ms","status"?=503,"mode"?="status"|"reset"|"silent",
//                         "retry_after"?: seconds}   GET reports, DELETE clears all
//   GET  /health → 200 "ok"
//
// The behaviour is chosen by the request's `model` (Azure: the deployment), or by
// the `x-mock-fault: <name>` request header, which overrides the model. Matching
// is case-insensitive. `fault` in the attempts log is the behaviour applied
// ("ok" for a success, e.g. a healthy flap-* backend or fault-after-n-ok once healthy).
//
// Success: content "Hello from <model>". Non-streaming: chat.completion JSON with
// choices[0].message.content, usage (nonzero), model = requested model.
// Streaming (stream: true): SSE `data: {chat.completion.chunk}\n\n`: a role chunk
// (role "assistant", content ""), 3 content chunks ("Hello", " from", " <model>"),
// a finish chunk (delta {}, finish_reason "stop"), [if stream_options.include_usage:
// a usage chunk with choices []], then `data: [DONE]\n\n`.
//
// ── Faults ───────────────────────────────────────────────────────────────────
// HTTP-error faults answer the same way whether or not stream is true.
// | name                                   | status | what the mock does                                             |
// |----------------------------------------|--------|----------------------------------------------------------------|
// | ok, any unknown name                   | 200    | success                                                        |
// | slow-ok-<ms>                           | 200    | success after <ms> (nothing, not even headers, before)         |
// | slow-stream-<ms>                       | 200    | success; streaming: <ms> between every SSE chunk               |
// | fault-401                              | 401    | OpenAI invalid_api_key; message echoes the MASKED key          |
// |                                        |        | ("Incorrect API key provided: sk-proj-****…abcd. …")           |
// | fault-402                              | 402    | OpenRouter insufficient credits {"error":{"code":402,…}}       |
// | fault-403-key-limit                    | 403    | OpenRouter "Key limit exceeded (daily limit). …"               |
// | fault-404                              | 404    | OpenAI model_not_found                                         |
// | fault-429                              | 429    | OpenAI rate_limit_exceeded, NO retry hint (header or text)     |
// | fault-429-retry-after-<s>              | 429    | OpenAI rate_limit_exceeded + `Retry-After: <s>` (text agrees)   |
// | fault-429-quota                        | 429    | OpenAI insufficient_quota                                      |
// | fault-500                              | 500    | OpenAI server_error                                            |
// | fault-503                              | 503    | OpenAI "That model is currently overloaded…" server_error       |
// | fault-529                              | 529    | Anthropic overloaded_error (+ x-should-retry: true)            |
// | fault-anthropic-overloaded             | 529    | same as fault-529                                              |
// | fault-502-html                         | 502    | nginx "502 Bad Gateway" HTML page, content-type text/html      |
// | fault-context-length                   | 400    | OpenAI context_length_exceeded                                 |
// | fault-content-filter                   | 400    | Azure content_filter, innererror ResponsibleAIPolicyViolation  |
// | fault-invalid-request                  | 400    | OpenAI invalid_request_error, param max_tokens                 |
// | fault-anthropic-credit                 | 400    | Anthropic "Your credit balance is too low …"                   |
// | fault-gemini-429                       | 429    | Gemini RESOURCE_EXHAUSTED, QuotaFailure (per-minute quotaId),  |
// |                                        |        | RetryInfo retryDelay "2s"                                      |
// | fault-gemini-key                       | 400    | Gemini INVALID_ARGUMENT, ErrorInfo reason API_KEY_INVALID      |
// | fault-openrouter-wrapped               | 429    | OpenRouter "Provider returned error", error.metadata.raw is a  |
// |                                        |        | JSON STRING of an OpenAI 429 ("Please try again in 2s.")       |
// | fault-reset                            | —      | reads the request, then resets the socket (RST), no answer     |
// | fault-silent                           | —      | reads the request, never answers; socket kept until the client |
// |                                        |        | goes away or the mock closes                                   |
// | fault-slow-first-token-<ms>            | 200    | stream: headers + role chunk at once, first content after <ms>;|
// |                                        |        | non-streaming: the answer after <ms>                           |
// | fault-stream-cut                       | 200    | stream: role + 2 content chunks, then the socket is destroyed  |
// |                                        |        | (no finish_reason, no [DONE]). non-stream: half the JSON body  |
// |                                        |        | (content-length of the whole), then destroyed                  |
// | fault-stream-stall                     | 200    | stream: role + 2 content chunks, then nothing, kept open.      |
// |                                        |        | non-stream: half the JSON body, then nothing                   |
// | fault-malformed-chunk                  | 200    | stream: role, 1 content chunk, `data: {not json`, then the rest|
// |                                        |        | + finish + [DONE]. non-stream: normal success                  |
// | fault-no-done                          | 200    | stream: complete with finish_reason "stop" but no [DONE]; the  |
// |                                        |        | response then ends properly. non-stream: normal success        |
// | fault-openrouter-stream-error          | 200    | stream: `: OPENROUTER PROCESSING` comment, then (no role chunk)|
// |                                        |        | an in-band                                                     |
// |                                        |        | {"error":{"code":502,"message":"Provider returned error"},     |
// |                                        |        | "choices":[{"delta":{"content":""},"finish_reason":"error"}]}  |
// |                                        |        | chunk before any content; ends (no [DONE]).                    |
// |                                        |        | non-stream: 200 with {"error":{"code":502,…}} body             |
// | fault-stream-error-event-after-content | 200    | stream: role, 1 content chunk, then an in-band error chunk     |
// |                                        |        | (OpenRouter mid-stream shape, code "server_error"); ends, no   |
// |                                        |        | [DONE]. non-stream: 200 with {"error":{…}} body                |
// | fault-invalid-json-200                 | 200    | content-type application/json, truncated non-JSON body         |
// | fault-empty-choices                    | 200    | chat.completion with choices: [] (stream: one chunk with       |
// |                                        |        | choices [] + [DONE])                                           |
// | fault-after-<n>-ok                     | 503/200| the first <n> requests for this name get fault-503, then ok    |
// |                                        |        | (counter reset by DELETE /__attempts)                          |
// | flap-<name>                            | varies | while a flap for <name> is active (POST /__control/flap): the  |
// |                                        |        | flap's status (OpenAI-style body for it) or reset/silent;      |
// |                                        |        | otherwise ok                                                   |
//
// Not faults but robustness: invalid JSON request → 400 OpenAI invalid_request_error;
// missing model (and no x-mock-fault) → 400; body > 8 MiB → 413; unknown path → 404.
// The attempts log is capped at 10 000 entries (oldest dropped).

import http from "node:http";
import fs from "node:fs";
import { pathToFileURL } from "node:url";

const MAX_ATTEMPTS = 10_000;
const MAX_BODY_BYTES = 8 * 1024 * 1024;

// ── Canned bodies (mirroring tests/fixtures/*.json) ────────────────────────────

const OPENAI_500 = {
  error: {
    message:
      "The server had an error processing your request. Sorry about that! You can retry your request, or contact us through our help center at help.openai.com if you keep seeing this error. (Please include the request ID req_540c6eaab7f4556b2baa22bcba915d51 in your email.)",
    type: "server_error",
    param: null,
    code: null,
  },
};

const OPENAI_503 = {
  error: {
    message:
      "That model is currently overloaded with other requests. You can retry your request, or contact us through our help center at help.openai.com if the error persists. (Please include the request ID c5a7aedfb341afd21e5e96e92e9ffc91 in your message.)",
    type: "server_error",
    param: null,
    code: null,
  },
};

const ANTHROPIC_OVERLOADED = { type: "error", error: { type: "overloaded_error", message: "Overloaded" } };

const NGINX_502_HTML =
  "<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n";

function openaiRateLimit(model, retryAfterS) {
  const hint = retryAfterS == null ? "" : ` Please try again in ${retryAfterS}s.`;
  return {
    error: {
      message:
        retryAfterS == null
          ? `Rate limit reached for ${model} in organization org-mock on requests per min (RPM). Visit https://platform.openai.com/account/rate-limits to learn more.`
          : `Rate limit reached for ${model} in organization org-mock on requests per min (RPM): Limit 3, Used 3, Requested 1.${hint} Visit https://platform.openai.com/account/rate-limits to learn more.`,
      type: "requests",
      param: null,
      code: "rate_limit_exceeded",
    },
  };
}

/** Static HTTP-error faults: name → (ctx) => {status, headers?, body} */
const STATIC_FAULTS = {
  "fault-401": (ctx) => ({
    status: 401,
    body: {
      error: {
        message: `Incorrect API key provided: ${maskKey(ctx.key)}. You can find your API key at https://platform.openai.com/account/api-keys.`,
        type: "invalid_request_error",
        param: null,
        code: "invalid_api_key",
      },
    },
  }),
  "fault-402": () => ({
    status: 402,
    body: {
      error: {
        message:
          "Insufficient credits. This request requires more credits, or fewer max_tokens. You requested up to 32000 tokens, but can only afford 27342. To increase, visit https://openrouter.ai/settings/credits and upgrade to a paid account",
        code: 402,
        metadata: { provider_name: null },
      },
      user_id: "user_mock",
    },
  }),
  "fault-403-key-limit": () => ({
    status: 403,
    body: {
      error: {
        message: "Key limit exceeded (daily limit). Manage it using https://openrouter.ai/settings/keys",
        code: 403,
      },
    },
  }),
  "fault-404": (ctx) => ({
    status: 404,
    body: {
      error: {
        message: `The model \`${ctx.model}\` does not exist or you do not have access to it.`,
        type: "invalid_request_error",
        param: null,
        code: "model_not_found",
      },
    },
  }),
  "fault-429": (ctx) => ({ status: 429, body: openaiRateLimit(ctx.model, null) }),
  "fault-429-quota": () => ({
    status: 429,
    body: {
      error: {
        message:
          "You exceeded your current quota, please check your plan and billing details. For more information on this error, read the docs: https://platform.openai.com/docs/guides/error-codes/api-errors.",
        type: "insufficient_quota",
        param: null,
        code: "insufficient_quota",
      },
    },
  }),
  "fault-500": () => ({ status: 500, body: OPENAI_500 }),
  "fault-503": () => ({ status: 503, body: OPENAI_503 }),
  "fault-529": () => ({ status: 529, headers: { "x-should-retry": "true" }, body: ANTHROPIC_OVERLOADED }),
  "fault-anthropic-overloaded": () => ({
    status: 529,
    headers: { "x-should-retry": "true" },
    body: ANTHROPIC_OVERLOADED,
  }),
  "fault-502-html": () => ({ status: 502, contentType: "text/html", body: NGINX_502_HTML }),
  "fault-context-length": () => ({
    status: 400,
    body: {
      error: {
        message:
          "This model's maximum context length is 4097 tokens. However, your messages resulted in 4294 tokens. Please reduce the length of the messages.",
        type: "invalid_request_error",
        param: "messages",
        code: "context_length_exceeded",
      },
    },
  }),
  "fault-content-filter": () => ({
    status: 400,
    body: {
      error: {
        message:
          "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry. To learn more about our content filtering policies please read our documentation: https://go.microsoft.com/fwlink/?linkid=2198766",
        type: null,
        param: "prompt",
        code: "content_filter",
        status: 400,
        innererror: {
          code: "ResponsibleAIPolicyViolation",
          content_filter_result: {
            hate: { filtered: false, severity: "safe" },
            self_harm: { filtered: false, severity: "safe" },
            sexual: { filtered: true, severity: "high" },
            violence: { filtered: false, severity: "safe" },
          },
        },
      },
    },
  }),
  "fault-invalid-request": () => ({
    status: 400,
    body: {
      error: {
        message:
          "Invalid 'max_tokens': integer below minimum value. Expected a value >= 1, but got -1 instead.",
        type: "invalid_request_error",
        param: "max_tokens",
        code: "integer_below_min_value",
      },
    },
  }),
  "fault-anthropic-credit": () => ({
    status: 400,
    body: {
      type: "error",
      error: {
        type: "invalid_request_error",
        message:
          "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.",
      },
      request_id: "req_011CbrFTcXhtiMzr3s6EocF7",
    },
  }),
  "fault-gemini-429": () => ({
    status: 429,
    body: {
      error: {
        code: 429,
        message:
          "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
        status: "RESOURCE_EXHAUSTED",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.QuotaFailure",
            violations: [
              {
                quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
                quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
                quotaDimensions: { location: "global", model: "gemini-2.5-flash" },
                quotaValue: "10",
              },
            ],
          },
          {
            "@type": "type.googleapis.com/google.rpc.Help",
            links: [
              { description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" },
            ],
          },
          { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2s" },
        ],
      },
    },
  }),
  "fault-gemini-key": () => ({
    status: 400,
    body: {
      error: {
        code: 400,
        message: "API key not valid. Please pass a valid API key.",
        status: "INVALID_ARGUMENT",
        details: [
          {
            "@type": "type.googleapis.com/google.rpc.ErrorInfo",
            reason: "API_KEY_INVALID",
            domain: "googleapis.com",
            metadata: { service: "generativelanguage.googleapis.com" },
          },
          {
            "@type": "type.googleapis.com/google.rpc.LocalizedMessage",
            locale: "en-US",
            message: "API key not valid. Please pass a valid API key.",
          },
        ],
      },
    },
  }),
  "fault-openrouter-wrapped": (ctx) => ({
    status: 429,
    body: {
      error: {
        message: "Provider returned error",
        code: 429,
        metadata: {
          raw: JSON.stringify({
            error: {
              message: `Rate limit reached for ${ctx.model} in organization org-mock on requests per min (RPM): Limit 3, Used 3, Requested 1. Please try again in 2s. Visit https://platform.openai.com/account/rate-limits to learn more.`,
              type: "requests",
              param: null,
              code: "rate_limit_exceeded",
            },
          }),
          provider_name: "OpenAI",
          is_byok: false,
        },
      },
      user_id: "user_mock",
    },
  }),
};

/** An OpenAI-ish error for an arbitrary status (used by flaps). */
function bodyForStatus(status, model) {
  if (status === 401) return STATIC_FAULTS["fault-401"]({ key: "", model }).body;
  if (status === 429) return openaiRateLimit(model, null);
  if (status === 500) return OPENAI_500;
  if (status === 503) return OPENAI_503;
  if (status === 529) return ANTHROPIC_OVERLOADED;
  return {
    error: {
      message: `Mock upstream error (HTTP ${status}).`,
      type: status >= 500 ? "server_error" : "invalid_request_error",
      param: null,
      code: null,
    },
  };
}

// Names that are handled in code (listed by GET /v1/models).
const CODE_FAULTS = [
  "fault-reset",
  "fault-silent",
  "fault-stream-cut",
  "fault-stream-stall",
  "fault-malformed-chunk",
  "fault-no-done",
  "fault-openrouter-stream-error",
  "fault-stream-error-event-after-content",
  "fault-invalid-json-200",
  "fault-empty-choices",
];
const TEMPLATE_EXAMPLES = [
  "slow-ok-500",
  "slow-stream-50",
  "fault-429-retry-after-1",
  "fault-slow-first-token-500",
  "fault-after-2-ok",
  "flap-primary",
];

// ── Helpers ────────────────────────────────────────────────────────────────────

/** Mask a key the way OpenAI does: keep a known prefix and the last 4 characters. */
export function maskKey(key) {
  if (!key) return "''";
  const m = /^(sk-proj-|sk-ant-api\d\d-|sk-or-v1-|sk-)/.exec(key);
  const prefix = m ? m[1] : key.length > 12 ? key.slice(0, 3) : "";
  const rest = key.slice(prefix.length);
  if (rest.length < 12) return prefix + "*".repeat(Math.max(rest.length, 4));
  return prefix + "*".repeat(rest.length - 4) + rest.slice(-4);
}

function headerValue(req, name) {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

function extractKey(req) {
  const auth = headerValue(req, "authorization");
  if (auth) {
    const m = /^\s*bearer\s+(.*)$/i.exec(auth);
    return (m ? m[1] : auth).trim();
  }
  return headerValue(req, "api-key") ?? headerValue(req, "x-api-key") ?? "";
}

function setCors(res) {
  res.setHeader("access-control-allow-origin", "*");
  res.setHeader(
    "access-control-allow-headers",
    "*, authorization, content-type, api-key, x-api-key, x-mock-fault, anthropic-version, x-goog-api-key",
  );
  res.setHeader("access-control-allow-methods", "GET, POST, DELETE, OPTIONS");
  res.setHeader(
    "access-control-expose-headers",
    "*, retry-after, x-should-retry, x-request-id, x-mock-seq, x-mock-fault",
  );
  res.setHeader("access-control-max-age", "600");
}

function sendJson(res, status, body, extraHeaders = {}) {
  if (res.headersSent || res.destroyed) return;
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, statusText(status), {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(text),
    ...extraHeaders,
  });
  res.end(text);
}

function sendText(res, status, text, contentType = "text/plain; charset=utf-8", extraHeaders = {}) {
  if (res.headersSent || res.destroyed) return;
  res.writeHead(status, statusText(status), {
    "content-type": contentType,
    "content-length": Buffer.byteLength(text),
    ...extraHeaders,
  });
  res.end(text);
}

function statusText(status) {
  if (status === 529) return "Site is overloaded";
  return http.STATUS_CODES[status] ?? "Unknown";
}

function openaiError(message, code = null, type = "invalid_request_error", param = null) {
  return { error: { message, type, param, code } };
}

/** Resolves true after ms, or false as soon as `signal` aborts. Never rejects. */
function sleep(ms, signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal.removeEventListener("abort", onAbort);
      resolve(true);
    }, Math.max(0, ms));
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal.addEventListener("abort", onAbort, { once: true });
  });
}

function waitForAbort(signal) {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    signal.addEventListener("abort", () => resolve(), { once: true });
  });
}

function readBody(req) {
  return new Promise((resolve) => {
    const chunks = [];
    let size = 0;
    let tooLarge = false;
    req.on("data", (c) => {
      if (tooLarge) return;
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        tooLarge = true;
        chunks.length = 0;
        return;
      }
      chunks.push(c);
    });
    req.on("end", () => resolve({ tooLarge, text: Buffer.concat(chunks).toString("utf8") }));
    req.on("error", () => resolve({ aborted: true, tooLarge, text: "" }));
    req.on("aborted", () => resolve({ aborted: true, tooLarge, text: "" }));
  });
}

function estimatePromptTokens(body) {
  let chars = 0;
  try {
    chars = JSON.stringify(body?.messages ?? "").length;
  } catch {
    chars = 0;
  }
  return Math.max(1, Math.ceil(chars / 4));
}

function contentPieces(model) {
  return ["Hello", " from", ` ${model}`];
}

function completionBody(ctx, content = `Hello from ${ctx.model}`, choicesOverride) {
  const completionTokens = contentPieces(ctx.model).length;
  return {
    id: `chatcmpl-mock-${ctx.seq}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: ctx.model,
    system_fingerprint: "fp_mock",
    choices: choicesOverride ?? [
      {
        index: 0,
        message: { role: "assistant", content, refusal: null },
        logprobs: null,
        finish_reason: "stop",
      },
    ],
    usage: {
      prompt_tokens: ctx.promptTokens,
      completion_tokens: completionTokens,
      total_tokens: ctx.promptTokens + completionTokens,
    },
  };
}

function chunk(ctx, delta, finishReason = null, extra = {}) {
  return {
    id: `chatcmpl-mock-${ctx.seq}`,
    object: "chat.completion.chunk",
    created: ctx.createdS,
    model: ctx.model,
    system_fingerprint: "fp_mock",
    choices: [{ index: 0, delta, logprobs: null, finish_reason: finishReason }],
    ...extra,
  };
}

function sseWrite(res, data) {
  if (res.destroyed || res.writableEnded) return false;
  res.write(`data: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
  return true;
}

function startSse(res, ctx) {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-request-id": `req_mock_${ctx.seq}`,
    "x-mock-seq": String(ctx.seq),
  });
  res.flushHeaders();
}

function successHeaders(ctx) {
  return { "x-request-id": `req_mock_${ctx.seq}`, "x-mock-seq": String(ctx.seq) };
}

// ── Server ─────────────────────────────────────────────────────────────────────

/**
 * Start the mock. Resolves once listening.
 * @param {{port?: number, host?: string, verbose?: boolean, maxAttempts?: number}} [opts]
 *   maxAttempts: cap of the attempts log (default 10 000; oldest entries dropped).
 * @returns {Promise<{port: number, url: string, close: () => Promise<void>, attempts: () => object[]}>}
 */
export function startMockUpstream({ port = 0, host = "127.0.0.1", verbose = false, maxAttempts = MAX_ATTEMPTS } = {}) {
  if (!isLoopback(host)) {
    return Promise.reject(new Error(`mock-upstream listens on loopback only, got host ${JSON.stringify(host)}`));
  }
  const attemptsLog = [];
  let seq = 0;
  const afterCounters = new Map(); // fault-after-<n>-ok name → count
  const flaps = new Map(); // name → {until_ms, status, mode, retry_after}
  const sockets = new Set();
  const inflight = new Set(); // AbortControllers of requests being handled

  const log = verbose ? (...a) => process.stderr.write(a.join(" ") + "\n") : () => {};

  const server = http.createServer({ noDelay: true }, (req, res) => {
    const ctl = new AbortController();
    inflight.add(ctl);
    res.on("close", () => {
      ctl.abort();
      inflight.delete(ctl);
    });
    res.on("error", () => {});
    req.on("error", () => {});
    handle(req, res, ctl.signal).catch((err) => {
      log("mock-upstream: handler error:", err?.stack ?? err);
      if (!res.headersSent && !res.destroyed) {
        sendJson(res, 500, openaiError(`mock-upstream internal error: ${err?.message ?? err}`, null, "server_error"));
      } else {
        res.destroy();
      }
    });
  });
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => {});
  });
  server.on("clientError", (err, socket) => {
    if (socket.writable && !socket.destroyed) {
      socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    }
    socket.destroy();
  });

  function record(entry) {
    attemptsLog.push(entry);
    if (attemptsLog.length > maxAttempts) attemptsLog.splice(0, attemptsLog.length - maxAttempts);
  }

  function flapState(name, now = Date.now()) {
    const f = flaps.get(name);
    if (!f) return null;
    if (now >= f.until_ms) return { ...f, down: false, remaining_ms: 0 };
    return { ...f, down: true, remaining_ms: f.until_ms - now };
  }

  async function handle(req, res, signal) {
    setCors(res);
    const url = new URL(req.url ?? "/", "http://mock.invalid");
    const path = url.pathname;
    const method = req.method ?? "GET";

    if (method === "OPTIONS") {
      if (headerValue(req, "access-control-request-private-network")) {
        res.setHeader("access-control-allow-private-network", "true");
      }
      res.writeHead(204, { "content-length": "0" });
      return res.end();
    }

    // ── control endpoints
    if (path === "/health" || path === "/") {
      if (method !== "GET" && method !== "HEAD") return notFound(res, method, path);
      return sendText(res, 200, "ok");
    }
    if (path === "/__attempts") {
      if (method === "GET" || method === "HEAD") {
        const model = url.searchParams.get("model");
        const list = model == null ? attemptsLog : attemptsLog.filter((a) => a.model === model);
        return sendJson(res, 200, list);
      }
      if (method === "DELETE") {
        attemptsLog.length = 0;
        afterCounters.clear();
        return sendJson(res, 200, { cleared: true });
      }
      return notFound(res, method, path);
    }
    if (path === "/__control/flap") {
      if (method === "GET" || method === "HEAD") return sendJson(res, 200, flapReport());
      if (method === "DELETE") {
        flaps.clear();
        return sendJson(res, 200, flapReport());
      }
      if (method === "POST") {
        const { text, tooLarge } = await readBody(req);
        if (tooLarge) return sendJson(res, 413, openaiError("Request body too large."));
        let body;
        try {
          body = JSON.parse(text || "{}");
        } catch {
          return sendJson(res, 400, openaiError("We could not parse the JSON body of your request."));
        }
        const problem = validateFlap(body);
        if (problem) return sendJson(res, 400, openaiError(problem));
        flaps.set(body.name, {
          until_ms: Date.now() + body.down_ms,
          status: body.status ?? 503,
          mode: body.mode ?? "status",
          retry_after: body.retry_after ?? null,
        });
        return sendJson(res, 200, { ok: true, ...flapReport() });
      }
      return notFound(res, method, path);
    }

    // ── provider endpoints
    const azure = /^\/openai\/deployments\/([^/]+)\/chat\/completions\/?$/.exec(path);
    if (azure || path.endsWith("/chat/completions")) {
      if (method !== "POST") return notFound(res, method, path);
      return handleChat(req, res, signal, url, azure ? safeDecode(azure[1]) : null);
    }
    if (path.endsWith("/models")) {
      if (method !== "GET" && method !== "HEAD") return notFound(res, method, path);
      const created = 1700000000;
      const ids = ["ok", ...Object.keys(STATIC_FAULTS), ...CODE_FAULTS, ...TEMPLATE_EXAMPLES];
      return sendJson(res, 200, {
        object: "list",
        data: ids.map((id) => ({ id, object: "model", created, owned_by: "mock-upstream" })),
      });
    }
    return notFound(res, method, path);
  }

  function notFound(res, method, path) {
    return sendJson(
      res,
      404,
      openaiError(`Unknown request URL: ${method} ${path}. Please check the URL for typos.`, "unknown_url"),
    );
  }

  function flapReport() {
    const now = Date.now();
    const out = {};
    for (const name of flaps.keys()) out[name] = flapState(name, now);
    return { now_ms: now, flaps: out };
  }

  function validateFlap(b) {
    if (!b || typeof b !== "object" || Array.isArray(b)) return "body must be a JSON object";
    if (typeof b.name !== "string" || !b.name) return "'name' must be a non-empty string";
    if (typeof b.down_ms !== "number" || !Number.isFinite(b.down_ms) || b.down_ms < 0)
      return "'down_ms' must be a number >= 0";
    if (b.status !== undefined && !(Number.isInteger(b.status) && b.status >= 200 && b.status <= 599))
      return "'status' must be an integer HTTP status (200-599)";
    if (b.mode !== undefined && !["status", "reset", "silent"].includes(b.mode))
      return "'mode' must be one of status, reset, silent";
    if (b.retry_after !== undefined && b.retry_after !== null && !(typeof b.retry_after === "number" && b.retry_after >= 0))
      return "'retry_after' must be a number of seconds";
    return null;
  }

  async function handleChat(req, res, signal, url, deployment) {
    const { text, tooLarge, aborted } = await readBody(req);
    if (aborted || signal.aborted) return;
    const thisSeq = ++seq;
    const key = extractKey(req);
    const headerFault = (headerValue(req, "x-mock-fault") ?? "").trim();
    const entry = {
      seq: thisSeq,
      at_ms: Date.now(),
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      model: deployment,
      stream: false,
      authorization: headerValue(req, "authorization") ?? null,
      api_key: headerValue(req, "api-key") ?? headerValue(req, "x-api-key") ?? null,
      fault: null,
    };

    if (tooLarge) {
      entry.fault = "request-too-large";
      record(entry);
      res.setHeader("connection", "close");
      return sendJson(res, 413, openaiError(`Request body exceeds ${MAX_BODY_BYTES} bytes.`));
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      entry.fault = "invalid-json-request";
      record(entry);
      return sendJson(
        res,
        400,
        openaiError(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        ),
      );
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      entry.fault = "invalid-request-body";
      record(entry);
      return sendJson(res, 400, openaiError("The request body must be a JSON object."));
    }
    const model = deployment ?? (typeof body.model === "string" ? body.model : null);
    entry.model = model;
    entry.stream = body.stream === true;
    if (!model && !headerFault) {
      entry.fault = "missing-model";
      record(entry);
      return sendJson(res, 400, openaiError("you must provide a model parameter", null, "invalid_request_error", "model"));
    }

    const ctx = {
      seq: thisSeq,
      model: model ?? headerFault,
      key,
      stream: entry.stream,
      includeUsage: body.stream_options?.include_usage === true,
      promptTokens: estimatePromptTokens(body),
      createdS: Math.floor(Date.now() / 1000),
      signal,
    };
    const name = (headerFault || model).toLowerCase();
    const plan = planFor(name, ctx);
    entry.fault = plan.fault;
    record(entry);
    log(`mock-upstream: #${thisSeq} ${url.pathname} model=${model} stream=${ctx.stream} → ${plan.fault}`);
    await plan.run(res);
  }

  /** Decide what to do for a behaviour name. Returns {fault, run(res)}. */
  function planFor(name, ctx) {
    const { signal } = ctx;
    const ok = (fault = "ok", opts = {}) => ({ fault, run: (res) => answerOk(res, ctx, opts) });
    const httpError = (fault, spec) => ({
      fault,
      run: (res) => {
        const headers = { ...(spec.headers ?? {}) };
        if (spec.contentType && spec.contentType !== "application/json") {
          return sendText(res, spec.status, spec.body, spec.contentType, headers);
        }
        return sendJson(res, spec.status, spec.body, headers);
      },
    });

    if (STATIC_FAULTS[name]) return httpError(name, STATIC_FAULTS[name](ctx));

    let m;
    if ((m = /^slow-ok-(\d+)$/.exec(name))) {
      const ms = Number(m[1]);
      return {
        fault: name,
        run: async (res) => {
          if (!(await sleep(ms, signal))) return;
          return answerOk(res, ctx);
        },
      };
    }
    if ((m = /^slow-stream-(\d+)$/.exec(name))) return ok(name, { gapMs: Number(m[1]) });
    if ((m = /^fault-429-retry-after-(\d+)$/.exec(name))) {
      const s = Number(m[1]);
      return httpError(name, { status: 429, headers: { "retry-after": String(s) }, body: openaiRateLimit(ctx.model, s) });
    }
    if ((m = /^fault-slow-first-token-(\d+)$/.exec(name))) {
      const ms = Number(m[1]);
      return {
        fault: name,
        run: async (res) => {
          if (!ctx.stream) {
            if (!(await sleep(ms, signal))) return;
            return answerOk(res, ctx);
          }
          return answerOk(res, ctx, { firstTokenDelayMs: ms });
        },
      };
    }
    if ((m = /^fault-after-(\d+)-ok$/.exec(name))) {
      const n = Number(m[1]);
      const count = (afterCounters.get(name) ?? 0) + 1;
      afterCounters.set(name, count);
      if (count <= n) return httpError(name, { status: 503, body: OPENAI_503 });
      return ok("ok");
    }
    if ((m = /^flap-(.+)$/.exec(name))) {
      const st = flapState(m[1]);
      if (!st || !st.down) return ok("ok");
      if (st.mode === "reset") return { fault: `flap-down-reset`, run: (res) => resetSocket(res) };
      if (st.mode === "silent") return { fault: `flap-down-silent`, run: () => waitForAbort(signal) };
      const headers = st.retry_after != null ? { "retry-after": String(st.retry_after) } : {};
      return httpError(`flap-down-${st.status}`, {
        status: st.status,
        headers,
        body: bodyForStatus(st.status, ctx.model),
      });
    }

    switch (name) {
      case "fault-reset":
        return { fault: name, run: (res) => resetSocket(res) };
      case "fault-silent":
        return { fault: name, run: () => waitForAbort(signal) };
      case "fault-stream-cut":
      case "fault-stream-stall":
        return {
          fault: name,
          run: async (res) => {
            const cut = name === "fault-stream-cut";
            if (!ctx.stream) {
              const text = JSON.stringify(completionBody(ctx));
              res.writeHead(200, {
                "content-type": "application/json",
                "content-length": Buffer.byteLength(text),
                ...successHeaders(ctx),
              });
              res.write(text.slice(0, Math.floor(text.length / 2)));
            } else {
              startSse(res, ctx);
              sseWrite(res, chunk(ctx, { role: "assistant", content: "" }));
              const pieces = contentPieces(ctx.model);
              sseWrite(res, chunk(ctx, { content: pieces[0] }));
              sseWrite(res, chunk(ctx, { content: pieces[1] }));
            }
            if (cut) {
              // let the bytes reach the kernel, then drop the connection mid-body
              if (!(await sleep(30, signal))) return;
              res.socket?.destroy();
              res.destroy();
              return;
            }
            await waitForAbort(signal);
          },
        };
      case "fault-malformed-chunk":
        return ok(name, ctx.stream ? { malformedAfter: 1 } : {});
      case "fault-no-done":
        return ok(name, { noDone: true });
      case "fault-openrouter-stream-error":
      case "fault-stream-error-event-after-content": {
        const before = name === "fault-openrouter-stream-error";
        const error = before
          ? { code: 502, message: "Provider returned error", metadata: { provider_name: "mock", error_type: "provider_unavailable" } }
          : { code: "server_error", message: "Provider disconnected unexpectedly" };
        return {
          fault: name,
          run: async (res) => {
            if (!ctx.stream) return sendJson(res, 200, { error, user_id: "user_mock" }, successHeaders(ctx));
            startSse(res, ctx);
            if (before) {
              // OpenRouter keeps the connection warm with SSE comments; then the error, no role chunk
              res.write(": OPENROUTER PROCESSING\n\n");
            } else {
              sseWrite(res, chunk(ctx, { role: "assistant", content: "" }));
              sseWrite(res, chunk(ctx, { content: contentPieces(ctx.model)[0] }));
            }
            if (!(await sleep(5, signal))) return;
            sseWrite(res, {
              ...chunk(ctx, { content: "" }, "error", { provider: "mock" }),
              error,
            });
            res.end();
          },
        };
      }
      case "fault-invalid-json-200":
        return {
          fault: name,
          run: (res) => {
            const full = JSON.stringify(completionBody(ctx));
            sendText(res, 200, full.slice(0, Math.floor(full.length / 2)), "application/json", successHeaders(ctx));
          },
        };
      case "fault-empty-choices":
        return {
          fault: name,
          run: (res) => {
            const body = completionBody(ctx, undefined, []);
            if (!ctx.stream) return sendJson(res, 200, body, successHeaders(ctx));
            startSse(res, ctx);
            sseWrite(res, { ...chunk(ctx, {}), choices: [], usage: body.usage });
            sseWrite(res, "[DONE]");
            res.end();
          },
        };
      default:
        return ok("ok");
    }
  }

  function resetSocket(res) {
    const socket = res.socket;
    if (socket && typeof socket.resetAndDestroy === "function") {
      try {
        socket.resetAndDestroy();
        return;
      } catch {
        /* fall through */
      }
    }
    socket?.destroy();
  }

  /**
   * A successful answer, optionally with stream quirks:
   *   gapMs: delay between SSE chunks; firstTokenDelayMs: delay before the first content
   *   chunk; malformedAfter: emit `data: {not json` after this many content chunks;
   *   noDone: omit [DONE].
   */
  async function answerOk(res, ctx, opts = {}) {
    const { signal } = ctx;
    if (!ctx.stream) return sendJson(res, 200, completionBody(ctx), successHeaders(ctx));
    const gap = opts.gapMs ?? 0;
    const pause = async (ms) => (ms > 0 ? sleep(ms, signal) : !signal.aborted);
    startSse(res, ctx);
    sseWrite(res, chunk(ctx, { role: "assistant", content: "" }));
    if (opts.firstTokenDelayMs && !(await pause(opts.firstTokenDelayMs))) return;
    const pieces = contentPieces(ctx.model);
    for (let i = 0; i < pieces.length; i++) {
      if (i > 0 || !opts.firstTokenDelayMs) {
        if (!(await pause(gap))) return;
      }
      sseWrite(res, chunk(ctx, { content: pieces[i] }));
      if (opts.malformedAfter === i + 1) res.write("data: {not json\n\n");
    }
    if (!(await pause(gap))) return;
    sseWrite(res, chunk(ctx, {}, "stop"));
    if (ctx.includeUsage) {
      const usage = completionBody(ctx).usage;
      sseWrite(res, { ...chunk(ctx, {}), choices: [], usage });
    }
    if (!opts.noDone) sseWrite(res, "[DONE]");
    res.end();
  }

  return new Promise((resolve, reject) => {
    const onError = (err) => reject(err);
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      server.on("error", (err) => log("mock-upstream: server error:", err?.message ?? err));
      const addr = server.address();
      const actualPort = typeof addr === "object" && addr ? addr.port : port;
      const urlHost = host.includes(":") ? `[${host}]` : host;
      let closePromise = null;
      resolve({
        port: actualPort,
        url: `http://${urlHost}:${actualPort}`,
        attempts: () => attemptsLog.map((a) => ({ ...a })),
        close() {
          if (closePromise) return closePromise;
          closePromise = new Promise((done) => {
            server.close(() => done());
            for (const ctl of inflight) ctl.abort();
            for (const s of sockets) s.destroy();
            sockets.clear();
          });
          return closePromise;
        },
      });
    });
  });
}

function isLoopback(host) {
  return host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host);
}

function safeDecode(s) {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

// ── CLI ────────────────────────────────────────────────────────────────────────

function parseArgs(argv) {
  const out = { port: 0, host: "127.0.0.1", verbose: false };
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let value;
    const eq = arg.indexOf("=");
    if (arg.startsWith("--") && eq > 0) {
      value = arg.slice(eq + 1);
      arg = arg.slice(0, eq);
    }
    const next = () => {
      if (value !== undefined) return value;
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    if (arg === "--port" || arg === "-p") {
      const p = Number(next());
      if (!Number.isInteger(p) || p < 0 || p > 65535) throw new Error("--port must be an integer 0..65535");
      out.port = p;
    } else if (arg === "--host") {
      out.host = next();
    } else if (arg === "--verbose" || arg === "-v") {
      out.verbose = true;
    } else if (arg === "--help" || arg === "-h") {
      out.help = true;
    } else {
      throw new Error(`unknown argument: ${arg}`);
    }
  }
  return out;
}

function isMain() {
  if (!process.argv[1]) return false;
  try {
    return import.meta.url === pathToFileURL(fs.realpathSync(process.argv[1])).href;
  } catch {
    return false;
  }
}

if (isMain()) {
  let args;
  try {
    args = parseArgs(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`mock-upstream: ${err.message}\n`);
    process.exit(2);
  }
  if (args.help) {
    process.stderr.write("usage: node tests/e2e/mock-upstream.mjs [--port N] [--host 127.0.0.1] [--verbose]\n");
    process.exit(0);
  }
  startMockUpstream(args).then(
    (mock) => {
      process.stdout.write(`{"listening": true, "port": ${mock.port}}\n`);
      const stop = () => {
        mock.close().then(() => process.exit(0));
        setTimeout(() => process.exit(0), 1000).unref();
      };
      process.on("SIGINT", stop);
      process.on("SIGTERM", stop);
    },
    (err) => {
      process.stderr.write(`mock-upstream: ${err.message}\n`);
      process.exit(1);
    },
  );
}
