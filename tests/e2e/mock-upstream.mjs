#!/usr/bin/env node
// mock-upstream.mjs — a local, fault-injecting mock LLM provider: OpenAI-compatible chat,
// plus the native Anthropic Messages, Gemini generateContent, OpenAI Responses and
// Embeddings APIs.
//
// Used by the gateway's end-to-end tests (workerd via `wrangler dev`, a headless
// browser) and by the local demo. Plain Node (20+), no dependencies.
//
//   node tests/e2e/mock-upstream.mjs [--port N] [--host 127.0.0.1] [--verbose]
//
// prints exactly one line on stdout once listening:  {"listening": true, "port": N}
// (port 0 / no --port = a free port). Only loopback hosts are accepted.
//
//   import { startMockUpstream, STORY, OTHER_STORY, maskKey } from "./mock-upstream.mjs";
//   const mock = await startMockUpstream({ port: 0, host: "127.0.0.1" });
//   mock.port; mock.url /* "http://127.0.0.1:N" */; mock.attempts(); await mock.close();
//
// ── Endpoints (all with permissive CORS; OPTIONS preflight → 204) ──────────────
//   POST /v1/chat/completions, POST /chat/completions (and any path ending in
//        /chat/completions, e.g. /api/v1/…, /openai/v1/…, /v1beta/openai/…)     api "chat"
//   POST /openai/deployments/{deployment}/chat/completions?api-version=…  (model = deployment)
//                                                                          api "azure"
//   POST any path ending in /messages (/v1/messages, /anthropic/v1/messages)  api "anthropic"
//        needs `anthropic-version` and body `max_tokens` (else 400); key: x-api-key
//   POST /v1beta/models/{model}:generateContent, …:streamGenerateContent[?alt=sse]
//        (also /v1/, any prefix; model from the path; key: x-goog-api-key or ?key=)
//        streaming: ?alt=sse → SSE `data: {GenerateContentResponse}`; without → one JSON
//        array of them (errors list-wrapped too, like the real API)          api "gemini"
//   POST any path ending in /responses (OpenAI Responses; input, instructions, stream)
//                                                                          api "responses"
//   POST any path ending in /embeddings, /openai/deployments/{d}/embeddings  api "embeddings"
//   GET  /v1/models (or any path ending in /models)        OpenAI list shape; Anthropic's shape
//        with an anthropic-version header; Gemini's {"models":[…]} for …/v1beta/models or
//        with an x-goog-api-key header
//   GET  /__attempts[?model=X]   every provider request: {seq, at_ms, api, path, query, model,
//                                stream, authorization, api_key, fault, prefill, messages};
//                                DELETE clears (also resets the fault-after-<n>-ok counters)
//   POST /__control/flap {"name","down_ms","status"?=503,"mode"?="status"|"reset"|"silent",
//                         "retry_after"?: seconds}   GET reports, DELETE clears all
//   GET  /health → 200 "ok"
//
// The behaviour is chosen by the request's `model` (Azure: the deployment; Gemini: the path),
// or by the `x-mock-fault: <name>` request header, which overrides the model. Matching
// is case-insensitive. `fault` in the attempts log is the behaviour applied
// ("ok" for a success, e.g. a healthy flap-* backend or fault-after-n-ok once healthy).
// `api_key` is the api-key / x-api-key header (Anthropic: x-api-key first; Gemini:
// x-goog-api-key, else ?key=), `prefill` the text of a trailing assistant message
// (Gemini: role "model") or null, `messages` the number of messages (Gemini: contents,
// Responses: input items, a string input counts 1; embeddings 0). A key in the "wrong"
// header for the API is not an error: the request is served and the log tells.
//
// Success: content "Hello from <model>". Non-streaming: chat.completion JSON with
// choices[0].message.content, usage (nonzero), model = requested model.
// Streaming (stream: true): SSE `data: {chat.completion.chunk}\n\n`: a role chunk
// (role "assistant", content ""), 3 content chunks ("Hello", " from", " <model>"),
// a finish chunk (delta {}, finish_reason "stop"), [if stream_options.include_usage:
// a usage chunk with choices []], then `data: [DONE]\n\n`.
// The native APIs answer the same content in their own shapes:
//   anthropic  message {id:"msg_mock_<seq>", type:"message", content:[{type:"text",text}],
//              stop_reason:"end_turn", usage{input_tokens, output_tokens, cache_*:0}};
//              stream: event: message_start, content_block_start, ping, content_block_delta
//              (text_delta) × n, content_block_stop, message_delta, message_stop
//   gemini     {candidates:[{content:{parts:[{text}],role:"model"},finishReason:"STOP",
//              index:0}], usageMetadata, modelVersion}; stream: one such object per chunk,
//              finishReason + usageMetadata on the last
//   responses  {object:"response", status:"completed", output:[{type:"message", content:
//              [{type:"output_text", text, annotations:[]}]}], usage}; stream: event:
//              response.created, response.in_progress, response.output_item.added,
//              response.content_part.added, response.output_text.delta × n,
//              response.output_text.done, response.content_part.done,
//              response.output_item.done, response.completed (data carries type and
//              sequence_number)
//   embeddings {object:"list", data:[{object:"embedding", index, embedding}], model, usage};
//              8 floats per input from a hash of it (deterministic, unit length),
//              `dimensions` up to 64, encoding_format "base64" → little-endian float32
// Tool use (anthropic, gemini): a model named tool-* with `tools` calls the first tool with
// {"location":"Paris"} (anthropic tool_use block / input_json_delta, stop_reason "tool_use";
// gemini functionCall part, finishReason STOP). Logged as fault "tool-use".
//
// ── Story answers (mid-stream failover) ──────────────────────────────────────
// STORY (exported) is a fixed 60-word paragraph. A story answer streams one content chunk
// per word ("Once", " upon", " a", …) and has usage prompt = the words of all the request's
// message texts (and system prompt / instructions), completion = the words it produced.
// Continuation: when the last message is the assistant's (Gemini: "model") with text P, a
// story model answers the rest of STORY after P, so P + answer == STORY (P compared exactly,
// else with its trailing whitespace trimmed); if P is no prefix of STORY the answer is
// " [unrelated continuation]". A fault-story-* fault applies to that continuation.
// | story, story-<anything else>      | STORY (or its continuation)                          |
// | story-overlap-<k>                 | a continuation first repeats the last k words of P   |
// | story-no-prefill                  | trailing assistant message → 400 "This model does not|
// |                                   | support assistant message prefill. …" (API's shape)  |
// | story-different                   | OTHER_STORY (exported), always from the start         |
// | story-fresh                       | STORY, always from the start (ignores any prefill)    |
// | fault-story-cut-<n>               | role + n words, then the socket is destroyed;        |
// |                                   | non-stream: half the JSON (full content-length), cut |
// | fault-story-stall-<n>             | role + n words, then nothing (kept open)             |
// | fault-story-error-<n>             | role + n words, then the API's in-band error; ends   |
// | fault-story-malformed-<n>         | n words, `data: {not json`, the rest, finish, [DONE] |
// | fault-story-slow-first-<ms>       | role at once, first word after <ms>, rest at once    |
//
// ── Faults ───────────────────────────────────────────────────────────────────
// HTTP-error faults answer the same way whether or not stream is true. The table gives the
// chat (and Responses, Embeddings) answer; Anthropic and Gemini answer each fault in their
// own error envelope (see anthropicErrorFor / geminiErrorFor and tests/e2e/README.md).
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
// | fault-413                              | 413    | request_too_large "Request exceeds the maximum allowed …"      |
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
// |                                        |        | (gemini: 200, promptFeedback.blockReason SAFETY)               |
// | fault-invalid-request                  | 400    | OpenAI invalid_request_error, param max_tokens                 |
// | fault-anthropic-credit                 | 400    | Anthropic "Your credit balance is too low …"                   |
// | fault-gemini-429                       | 429    | Gemini RESOURCE_EXHAUSTED, QuotaFailure (per-minute quotaId),  |
// |                                        |        | RetryInfo retryDelay "2s"                                      |
// | fault-gemini-key                       | 400    | Gemini INVALID_ARGUMENT, ErrorInfo reason API_KEY_INVALID      |
// | fault-gemini-location                  | 400    | Gemini FAILED_PRECONDITION "User location is not supported …"  |
// | fault-openrouter-wrapped               | 429    | OpenRouter "Provider returned error", error.metadata.raw is a  |
// |                                        |        | JSON STRING of an OpenAI 429 ("Please try again in 2s.")       |
// | fault-require-key                      | 401/403| no key in the API's own header: the API's "missing key" error  |
// |                                        |        | (chat 401, azure 401, anthropic 401, gemini 403); else ok      |
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
// |                                        |        | (anthropic: no message_stop; gemini/responses: normal)         |
// | fault-openrouter-stream-error          | 200    | stream: `: OPENROUTER PROCESSING` comment, then (no role chunk)|
// |                                        |        | an in-band                                                     |
// |                                        |        | {"error":{"code":502,"message":"Provider returned error"},     |
// |                                        |        | "choices":[{"delta":{"content":""},"finish_reason":"error"}]}  |
// |                                        |        | chunk before any content; ends (no [DONE]).                    |
// |                                        |        | non-stream: 200 with {"error":{"code":502,…}} body             |
// |                                        |        | (native APIs: their in-band error before any content)          |
// | fault-stream-error-event-after-content | 200    | stream: role, 1 content chunk, then an in-band error chunk     |
// |                                        |        | (OpenRouter mid-stream shape, code "server_error"); ends, no   |
// |                                        |        | [DONE]. non-stream: 200 with {"error":{…}} body                |
// | fault-invalid-json-200                 | 200    | content-type application/json, truncated non-JSON body         |
// | fault-empty-choices                    | 200    | chat.completion with choices: [] (stream: one chunk with       |
// |                                        |        | choices [] + [DONE])                                           |
// | fault-after-<n>-ok                     | 503/200| the first <n> requests for this name get fault-503, then ok    |
// |                                        |        | (counter reset by DELETE /__attempts)                          |
// | flap-<name>                            | varies | while a flap for <name> is active (POST /__control/flap): the  |
// |                                        |        | flap's status (the API's body for it) or reset/silent;         |
// |                                        |        | otherwise ok                                                   |
// In-band errors of the native APIs (stream-error-event-after-content, fault-story-error-<n>,
// openrouter-stream-error): anthropic `event: error` {"type":"error","error":{"type":
// "overloaded_error","message":"Overloaded"}} (non-stream: 529); gemini a final
// `data: {"error":{"code":503,…,"status":"UNAVAILABLE"}}` (non-stream: 503); responses
// `event: response.failed` with status "failed", error.code "server_error" (non-stream: 200
// with that failed response). Malformed chunks are an event whose data is `{not json`.
// Embeddings do not stream: stream faults and story names answer a plain success there.
//
// Not faults but robustness: invalid JSON request → 400 invalid_request_error (in the API's
// shape); missing model (and no x-mock-fault) → 400; body > 8 MiB → 413; unknown path → 404.
// The attempts log is capped at 10 000 entries (oldest dropped).

import http from "node:http";
import fs from "node:fs";
import { createHash } from "node:crypto";
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
  // Upstreams that echo the credentials they got, unmasked: raw (a debugging proxy),
  // base64 as in a Basic-auth header (`user:key`), and percent-encoded in a URL.
  "fault-401-echo-raw": (ctx) => ({
    status: 401,
    body: { error: { message: `invalid credentials: ${ctx.key}`, type: "authentication_error", code: "invalid_api_key" } },
  }),
  "fault-401-echo-base64": (ctx) => ({
    status: 401,
    body: {
      error: {
        message: `invalid credentials: Authorization: Basic ${Buffer.from(`apikey:${ctx.key}`).toString("base64")}`,
        type: "authentication_error",
        code: "invalid_api_key",
      },
    },
  }),
  "fault-401-echo-url": (ctx) => ({
    status: 401,
    body: {
      error: {
        message: `invalid credentials for https://upstream.invalid/v1/chat?key=${encodeURIComponent(ctx.key)}`,
        type: "authentication_error",
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
  "fault-413": () => ({
    status: 413,
    body: {
      error: {
        message: "Request exceeds the maximum allowed number of bytes.",
        type: "invalid_request_error",
        param: null,
        code: "request_too_large",
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
  "fault-gemini-location": () => ({
    status: 400,
    body: { error: { code: 400, message: "User location is not supported for the API use.", status: "FAILED_PRECONDITION" } },
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
  "fault-require-key",
  "story",
  "story-no-prefill",
  "story-different",
  "story-fresh",
];
const TEMPLATE_EXAMPLES = [
  "slow-ok-500",
  "slow-stream-50",
  "fault-429-retry-after-1",
  "fault-slow-first-token-500",
  "fault-after-2-ok",
  "flap-primary",
  "story-overlap-3",
  "fault-story-cut-10",
  "fault-story-stall-10",
  "fault-story-error-10",
  "fault-story-malformed-10",
  "fault-story-slow-first-500",
  "tool-weather",
];

// Faults that only make sense on a stream (or a streamed body); the embeddings API answers
// them with a plain success.
const STREAM_FAULTS = new Set([
  "fault-stream-cut",
  "fault-stream-stall",
  "fault-malformed-chunk",
  "fault-no-done",
  "fault-openrouter-stream-error",
  "fault-stream-error-event-after-content",
]);

// ── Story answers (mid-stream failover / continuation tests) ───────────────────

/** The canonical 60-word story answer (plain ASCII, no newlines). */
export const STORY =
  "Once upon a time, in a quiet harbor town, an old lighthouse keeper named Mara kept a logbook of every ship that passed. One stormy night, a small boat without lights drifted toward the rocks. Mara rang the bell, lit the great lamp, and waited. By morning, the boat was safe; its crew brought her fresh bread and a song.";

/** A different 60-word answer (model `story-different`); shares no prefix with STORY. */
export const OTHER_STORY =
  "The robot gardener woke at dawn and counted its seedlings: forty tomatoes, twelve peppers, and one stubborn sunflower. Rain was coming, so it covered the beds, checked the drains, and hummed a cheerful little tune it had learned from the children next door. When the storm passed, every single sprout stood tall, and the sunflower finally turned toward the sun.";

/** What a story model answers to a prefill that is not a prefix of STORY. */
const UNRELATED_CONTINUATION = " [unrelated continuation]";

/** Split text into word chunks, each later word with its leading whitespace ("Once", " upon", …). */
function splitWords(text) {
  const pieces = text.match(/\s*\S+/g) ?? [];
  const used = pieces.reduce((n, p) => n + p.length, 0);
  if (used < text.length) {
    // trailing whitespace: keep it, on the last chunk
    if (pieces.length) pieces[pieces.length - 1] += text.slice(used);
    else pieces.push(text.slice(used));
  }
  return pieces;
}

function countWords(s) {
  return typeof s === "string" ? (s.match(/\S+/g) ?? []).length : 0;
}

/**
 * The rest of STORY after the prefill P, or null if P is not a prefix of STORY.
 * P is first compared exactly (so P + rest == STORY); failing that, with its trailing
 * whitespace trimmed.
 */
function storyRest(p) {
  if (STORY.startsWith(p)) return STORY.slice(p.length);
  const t = p.trimEnd();
  if (STORY.startsWith(t)) return STORY.slice(t.length);
  return null;
}

/** The last k words of p with their spacing, exactly as they appear at the end of p. */
function lastWords(p, k) {
  if (k <= 0 || !p) return "";
  const toks = p.match(/\s*\S+/g) ?? [];
  const used = toks.reduce((n, t) => n + t.length, 0);
  return toks.slice(-k).join("") + p.slice(used);
}

const TEXT_PART_TYPES = new Set(["text", "input_text", "output_text"]);

/**
 * The text of a message's content: a string, or the concatenated `text` of its text parts
 * (OpenAI/Anthropic content parts, Responses input/output_text parts, Gemini parts).
 * null when there is no text at all.
 */
function textOf(content) {
  if (typeof content === "string") return content;
  if (!Array.isArray(content)) return null;
  let found = false;
  let s = "";
  for (const part of content) {
    if (!part || typeof part !== "object" || typeof part.text !== "string") continue;
    if (part.type !== undefined && !TEXT_PART_TYPES.has(part.type)) continue;
    found = true;
    s += part.text;
  }
  return found ? s : null;
}

/**
 * Summarise a conversation: list = [{role, text}] in order (role "assistant" for the model's
 * turns), extra = other prompt texts (system prompts, instructions).
 */
function conversation(list, extra, estimate) {
  const last = list.length ? list[list.length - 1] : null;
  const lastRole = last && typeof last.role === "string" ? last.role : null;
  let words = 0;
  for (const m of list) words += countWords(m.text);
  for (const t of extra) words += countWords(t);
  return {
    messages: list.length,
    lastRole,
    prefill: lastRole === "assistant" && typeof last.text === "string" ? last.text : null,
    words,
    estimate,
  };
}

const NO_CONVERSATION = { messages: 0, lastRole: null, prefill: null, words: 0, estimate: 1 };

const STORY_FAULT_RE = /^fault-story-(?:(cut|stall|error|malformed)-(\d+)|slow-first-(\d+))$/;

function isStoryName(name) {
  return name === "story" || name.startsWith("story-") || STORY_FAULT_RE.test(name);
}

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
    "*, authorization, content-type, api-key, x-api-key, x-mock-fault, anthropic-version, anthropic-dangerous-direct-browser-access, x-goog-api-key",
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

function estimatePromptTokens(body, field = "messages") {
  let chars = 0;
  try {
    chars = JSON.stringify(body?.[field] ?? "").length;
  } catch {
    chars = 0;
  }
  return Math.max(1, Math.ceil(chars / 4));
}

function contentPieces(model) {
  return ["Hello", " from", ` ${model}`];
}

function completionBody(ctx, content = `Hello from ${ctx.model}`, choicesOverride, usage) {
  const completionTokens = usage ? usage.completion : contentPieces(ctx.model).length;
  const promptTokens = usage ? usage.prompt : ctx.promptTokens;
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
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
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

function startSse(res, ctx, extraHeaders = {}) {
  res.writeHead(200, {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-request-id": `req_mock_${ctx.seq}`,
    "x-mock-seq": String(ctx.seq),
    ...extraHeaders,
  });
  res.flushHeaders();
}

/** Write raw text on a response that is still open. */
function rawWrite(res, text) {
  if (res.destroyed || res.writableEnded) return false;
  res.write(text);
  return true;
}

/** An SSE event with an `event:` line (Anthropic, Responses). */
function eventWrite(res, event, data) {
  return rawWrite(res, `event: ${event}\ndata: ${typeof data === "string" ? data : JSON.stringify(data)}\n\n`);
}

function successHeaders(ctx) {
  const h = { "x-request-id": `req_mock_${ctx.seq}`, "x-mock-seq": String(ctx.seq) };
  if (ctx.api === "anthropic") h["request-id"] = `req_mock_${ctx.seq}`;
  return h;
}

/** Send an error spec {status, headers?, contentType?, body}. */
function sendSpec(res, spec) {
  const headers = { ...(spec.headers ?? {}) };
  if (spec.contentType && spec.contentType !== "application/json") {
    return sendText(res, spec.status, spec.body, spec.contentType, headers);
  }
  return sendJson(res, spec.status, spec.body, headers);
}

function rfc3339(ms) {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}


// ── Native error shapes ────────────────────────────────────────────────────────
// Every API has: errorFor(name) for the named HTTP faults, errorForStatus(status) for flaps,
// requestError(kind) for requests the mock rejects, missingKey() for fault-require-key and
// prefillError() for story-no-prefill. A spec is {status, headers?, contentType?, body}.

// OpenAI (chat, Azure, Responses, Embeddings): the canned bodies above.
// https://platform.openai.com/docs/guides/error-codes
function openaiErrorFor(name, ctx) {
  if (STATIC_FAULTS[name]) return STATIC_FAULTS[name](ctx);
  const m = /^fault-429-retry-after-(\d+)$/.exec(name);
  if (m) {
    const s = Number(m[1]);
    return { status: 429, headers: { "retry-after": String(s) }, body: openaiRateLimit(ctx.model, s) };
  }
  return null;
}

function openaiErrorForStatus(status, ctx) {
  return { status, body: bodyForStatus(status, ctx.model) };
}

function openaiRequestError(kind, ctx) {
  switch (kind) {
    case "too-large":
      return { status: 413, body: openaiError(`Request body exceeds ${MAX_BODY_BYTES} bytes.`) };
    case "invalid-json":
      return {
        status: 400,
        body: openaiError(
          "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON. If you have trouble figuring out how to fix this, please contact us through our help center at help.openai.com.)",
        ),
      };
    case "not-object":
      return { status: 400, body: openaiError("The request body must be a JSON object.") };
    case "missing-model":
      return { status: 400, body: openaiError("you must provide a model parameter", null, "invalid_request_error", "model") };
    // Embeddings: https://platform.openai.com/docs/api-reference/embeddings/create
    case "missing-input":
      return { status: 400, body: openaiError("'input' is a required property", null, "invalid_request_error", "input") };
    case "invalid-input":
      return {
        status: 400,
        body: openaiError(
          "'$.input' is invalid. Please check the API reference: https://platform.openai.com/docs/api-reference.",
          null,
          "invalid_request_error",
          "input",
        ),
      };
    case "invalid-dimensions":
      return {
        status: 400,
        body: openaiError("Invalid value for 'dimensions': expected an integer >= 1.", "invalid_value", "invalid_request_error", "dimensions"),
      };
    default:
      return { status: 400, body: openaiError(`Invalid request (${kind}).`) };
  }
}

const OPENAI_MISSING_KEY =
  "You didn't provide an API key. You need to provide your API key in an Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY), or as the password field (with blank username) if you're accessing the API from your browser and are prompted for a username. You can obtain an API key from https://platform.openai.com/account/api-keys.";

function openaiMissingKey() {
  return { status: 401, body: openaiError(OPENAI_MISSING_KEY, null, "invalid_request_error", null) };
}

// Azure OpenAI (API Management in front): a missing `api-key` header.
function azureMissingKey() {
  return {
    status: 401,
    body: {
      error: {
        code: "401",
        message:
          "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.",
      },
    },
  };
}

const NO_PREFILL_MESSAGE =
  "This model does not support assistant message prefill. The conversation must end with a user message.";

function openaiPrefillError(param) {
  return { status: 400, body: openaiError(NO_PREFILL_MESSAGE, null, "invalid_request_error", param) };
}

// Anthropic: https://docs.anthropic.com/en/api/errors
// {"type":"error","error":{"type":…,"message":…},"request_id":…}
function anthropicError(ctx, status, type, message, headers = {}) {
  return {
    status,
    headers: { "request-id": `req_mock_${ctx.seq}`, ...headers },
    body: { type: "error", error: { type, message }, request_id: `req_mock_${ctx.seq}` },
  };
}

const ANTHROPIC_CREDIT_MESSAGE =
  "Your credit balance is too low to access the Anthropic API. Please go to Plans & Billing to upgrade or purchase credits.";

// 429 with the anthropic-ratelimit-* headers (https://docs.anthropic.com/en/api/rate-limits);
// retry-after only when the fault carries one.
function anthropicRateLimit(ctx, retryAfterS) {
  const headers = {
    "anthropic-ratelimit-requests-limit": "50",
    "anthropic-ratelimit-requests-remaining": "0",
    "anthropic-ratelimit-requests-reset": rfc3339(Date.now() + (retryAfterS ?? 60) * 1000),
    "x-should-retry": "true",
  };
  if (retryAfterS != null) headers["retry-after"] = String(retryAfterS);
  return anthropicError(
    ctx,
    429,
    "rate_limit_error",
    "This request would exceed the rate limit for your organization (org-mock) of 50 requests per minute. For details, refer to: https://docs.anthropic.com/en/api/rate-limits. You can see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase.",
    headers,
  );
}

function firstOfNextMonthUtc() {
  const d = new Date();
  const next = new Date(Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + 1, 1));
  return next.toISOString().slice(0, 10);
}

function anthropicErrorFor(name, ctx) {
  const E = (status, type, message, headers) => anthropicError(ctx, status, type, message, headers);
  const m = /^fault-429-retry-after-(\d+)$/.exec(name);
  if (m) return anthropicRateLimit(ctx, Number(m[1]));
  switch (name) {
    case "fault-401":
    case "fault-gemini-key":
      return E(401, "authentication_error", "invalid x-api-key");
    case "fault-402":
    case "fault-anthropic-credit":
      return E(400, "invalid_request_error", ANTHROPIC_CREDIT_MESSAGE);
    case "fault-403-key-limit":
      return E(403, "permission_error", "Your API key does not have permission to use the specified resource.");
    case "fault-404":
      return E(404, "not_found_error", `model: ${ctx.model}`);
    case "fault-429":
      return anthropicRateLimit(ctx, null);
    case "fault-gemini-429":
    case "fault-openrouter-wrapped":
      return anthropicRateLimit(ctx, 2);
    case "fault-429-quota":
      return E(
        429,
        "rate_limit_error",
        `You have reached your specified API usage limits. You will regain access on ${firstOfNextMonthUtc()} at 00:00 UTC.`,
      );
    case "fault-500":
      return E(500, "api_error", "Internal server error", { "x-should-retry": "true" });
    case "fault-503":
    case "fault-529":
    case "fault-anthropic-overloaded":
      // Anthropic has no 503 of its own: overloaded is 529
      return E(529, "overloaded_error", "Overloaded", { "x-should-retry": "true" });
    case "fault-502-html":
      return STATIC_FAULTS["fault-502-html"](ctx);
    case "fault-context-length":
      return E(400, "invalid_request_error", "prompt is too long: 210000 tokens > 200000 maximum");
    case "fault-invalid-request":
      return E(400, "invalid_request_error", "max_tokens: Input should be greater than or equal to 1");
    case "fault-413":
      return E(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.");
    case "fault-content-filter":
      return E(400, "invalid_request_error", "Output blocked by content filtering policy");
    case "fault-401-echo-raw":
    case "fault-401-echo-base64":
    case "fault-401-echo-url":
      // an echoing proxy in front of Anthropic: the same echoed text, Anthropic's envelope
      return E(401, "authentication_error", STATIC_FAULTS[name](ctx).body.error.message);
    case "fault-gemini-location":
      // what api.anthropic.com answers from an unsupported region (tests/fixtures/anthropic.json)
      return { status: 403, body: { error: { type: "forbidden", message: "Request not allowed" } } };
    default:
      return STATIC_FAULTS[name] ? STATIC_FAULTS[name](ctx) : null;
  }
}

function anthropicErrorForStatus(status, ctx) {
  const E = (type, message, headers) => anthropicError(ctx, status, type, message, headers);
  switch (status) {
    case 400:
      return E("invalid_request_error", "Invalid request.");
    case 401:
      return E("authentication_error", "invalid x-api-key");
    case 403:
      return E("permission_error", "Your API key does not have permission to use the specified resource.");
    case 404:
      return E("not_found_error", "Not found");
    case 413:
      return E("request_too_large", "Request exceeds the maximum allowed number of bytes.");
    case 429:
      return { ...anthropicRateLimit(ctx, null), status };
    case 500:
      return E("api_error", "Internal server error", { "x-should-retry": "true" });
    case 503:
    case 529:
      return E("overloaded_error", "Overloaded", { "x-should-retry": "true" });
    default:
      return E(status >= 500 ? "api_error" : "invalid_request_error", `Mock upstream error (HTTP ${status}).`);
  }
}

function anthropicRequestError(kind, ctx) {
  const E = (status, type, message) => anthropicError(ctx, status, type, message);
  switch (kind) {
    case "too-large":
      return E(413, "request_too_large", "Request exceeds the maximum allowed number of bytes.");
    case "invalid-json":
      return E(400, "invalid_request_error", "There was an issue with the formatting of your request body: it is not valid JSON.");
    case "not-object":
      return E(400, "invalid_request_error", "Input should be a valid dictionary or object to extract fields from");
    case "missing-anthropic-version":
      return E(400, "invalid_request_error", "anthropic-version: header is required");
    case "missing-model":
      return E(400, "invalid_request_error", "model: Field required");
    case "missing-max-tokens":
      return E(400, "invalid_request_error", "max_tokens: Field required");
    case "missing-messages":
      return E(400, "invalid_request_error", "messages: Field required");
    default:
      return E(400, "invalid_request_error", `Invalid request (${kind}).`);
  }
}

// Gemini: https://ai.google.dev/gemini-api/docs/troubleshooting
// {"error":{"code":…,"message":…,"status":…,"details":[…]}}
function googleError(status, statusName, message, details) {
  const error = { code: status, message, status: statusName };
  if (details) error.details = details;
  return { status, body: { error } };
}

const GEMINI_OVERLOADED = "The model is overloaded. Please try again later.";
const GEMINI_INTERNAL =
  "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting";
const GEMINI_QUOTA_MESSAGE =
  "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.";

function geminiRateLimit(ctx, retryDelay) {
  return googleError(429, "RESOURCE_EXHAUSTED", GEMINI_QUOTA_MESSAGE, [
    {
      "@type": "type.googleapis.com/google.rpc.QuotaFailure",
      violations: [
        {
          quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
          quotaId: "GenerateRequestsPerMinutePerProjectPerModel-FreeTier",
          quotaDimensions: { location: "global", model: ctx.model },
          quotaValue: "10",
        },
      ],
    },
    {
      "@type": "type.googleapis.com/google.rpc.Help",
      links: [{ description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }],
    },
    { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay },
  ]);
}

function geminiDailyQuota(ctx) {
  return googleError(
    429,
    "RESOURCE_EXHAUSTED",
    `${GEMINI_QUOTA_MESSAGE} To monitor your current usage, head to: https://ai.dev/rate-limit. \n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 250, model: ${ctx.model}`,
    [
      {
        "@type": "type.googleapis.com/google.rpc.QuotaFailure",
        violations: [
          {
            quotaMetric: "generativelanguage.googleapis.com/generate_content_free_tier_requests",
            quotaId: "GenerateRequestsPerDayPerProjectPerModel-FreeTier",
            quotaDimensions: { location: "global", model: ctx.model },
            quotaValue: "250",
          },
        ],
      },
      {
        "@type": "type.googleapis.com/google.rpc.Help",
        links: [{ description: "Learn more about Gemini API quotas", url: "https://ai.google.dev/gemini-api/docs/rate-limits" }],
      },
      // the real per-day answer carries a RetryInfo too (tests/fixtures/gemini.json)
      { "@type": "type.googleapis.com/google.rpc.RetryInfo", retryDelay: "2s" },
    ],
  );
}

function geminiErrorFor(name, ctx) {
  const m = /^fault-429-retry-after-(\d+)$/.exec(name);
  if (m) return geminiRateLimit(ctx, `${Number(m[1])}s`);
  switch (name) {
    case "fault-401":
    case "fault-gemini-key":
      return STATIC_FAULTS["fault-gemini-key"](ctx);
    case "fault-402":
    case "fault-anthropic-credit":
    case "fault-429-quota":
      return geminiDailyQuota(ctx);
    case "fault-403-key-limit":
      return googleError(403, "PERMISSION_DENIED", `Permission denied: Consumer 'api_key:${maskKey(ctx.key)}' has been suspended.`, [
        {
          "@type": "type.googleapis.com/google.rpc.ErrorInfo",
          reason: "CONSUMER_SUSPENDED",
          domain: "googleapis.com",
          metadata: { service: "generativelanguage.googleapis.com", consumer: "projects/000000000000" },
        },
      ]);
    case "fault-404":
      return googleError(
        404,
        "NOT_FOUND",
        `models/${ctx.model} is not found for API version ${ctx.version ?? "v1beta"}, or is not supported for generateContent. Call ListModels to see the list of available models and their supported methods.`,
      );
    case "fault-429":
    case "fault-gemini-429":
    case "fault-openrouter-wrapped":
      return geminiRateLimit(ctx, "2s");
    case "fault-500":
      return googleError(500, "INTERNAL", GEMINI_INTERNAL);
    case "fault-503":
    case "fault-529":
    case "fault-anthropic-overloaded":
      return googleError(503, "UNAVAILABLE", GEMINI_OVERLOADED);
    case "fault-502-html":
      return STATIC_FAULTS["fault-502-html"](ctx);
    case "fault-context-length":
      return googleError(
        400,
        "INVALID_ARGUMENT",
        "The input token count (1200000) exceeds the maximum number of tokens allowed (1048576).",
      );
    case "fault-invalid-request":
      return googleError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.");
    case "fault-413":
      return googleError(400, "INVALID_ARGUMENT", "Request payload size exceeds the limit: 20971520 bytes.");
    case "fault-gemini-location":
      return googleError(400, "FAILED_PRECONDITION", "User location is not supported for the API use.");
    case "fault-content-filter":
      return null; // a 200 with promptFeedback.blockReason, see planFor
    default:
      return STATIC_FAULTS[name] ? STATIC_FAULTS[name](ctx) : null;
  }
}

const GOOGLE_STATUS = {
  400: "INVALID_ARGUMENT",
  401: "UNAUTHENTICATED",
  403: "PERMISSION_DENIED",
  404: "NOT_FOUND",
  409: "ABORTED",
  429: "RESOURCE_EXHAUSTED",
  499: "CANCELLED",
  500: "INTERNAL",
  501: "NOT_IMPLEMENTED",
  503: "UNAVAILABLE",
  504: "DEADLINE_EXCEEDED",
};

function geminiErrorForStatus(status, ctx, retryAfterS) {
  if (status === 429) return geminiRateLimit(ctx, `${retryAfterS ?? 2}s`);
  if (status === 503) return googleError(503, "UNAVAILABLE", GEMINI_OVERLOADED);
  if (status === 500) return googleError(500, "INTERNAL", GEMINI_INTERNAL);
  return googleError(
    status,
    GOOGLE_STATUS[status] ?? (status >= 500 ? "UNKNOWN" : "FAILED_PRECONDITION"),
    `Mock upstream error (HTTP ${status}).`,
  );
}

function geminiRequestError(kind) {
  switch (kind) {
    case "too-large":
      return googleError(413, "INVALID_ARGUMENT", `Request payload size exceeds the limit: ${MAX_BODY_BYTES} bytes.`);
    case "invalid-json":
      return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Unexpected token.");
    case "not-object":
      return googleError(400, "INVALID_ARGUMENT", "Invalid JSON payload received. Expected an object.");
    case "missing-contents":
      return googleError(400, "INVALID_ARGUMENT", "* GenerateContentRequest.contents: contents is not specified\n");
    default:
      return googleError(400, "INVALID_ARGUMENT", "Request contains an invalid argument.");
  }
}

/** streamGenerateContent without alt=sse answers errors as a JSON array, like the real API. */
function finalizeSpec(spec, ctx) {
  if (ctx.api !== "gemini" || !ctx.stream || ctx.sse) return spec;
  if (spec.contentType && spec.contentType !== "application/json") return spec;
  if (typeof spec.body !== "object" || spec.body === null || Array.isArray(spec.body)) return spec;
  return { ...spec, body: [spec.body] };
}

// ── Answers ────────────────────────────────────────────────────────────────────
//
// An answer is described once and rendered by each API:
//   {text, pieces (the content chunks), usage {prompt, completion}, tool?, empty?, blocked?,
//    gapMs, firstTokenDelayMs, malformedAfter, noDone, truncateJson, openrouterPreamble,
//    tail: null | {kind: "cut"|"stall"|"error", after: n}}
// `tail` breaks the answer after n content chunks (streaming) or, non-streaming, sends half
// the body (cut/stall) or the API's in-band error (error).

function makeAnswer(ctx, over = {}) {
  const text = over.text ?? `Hello from ${ctx.model}`;
  const pieces = over.pieces ?? (over.text !== undefined ? splitWords(text) : contentPieces(ctx.model));
  return {
    tool: null,
    empty: false,
    blocked: false,
    gapMs: 0,
    firstTokenDelayMs: 0,
    malformedAfter: null,
    noDone: false,
    truncateJson: false,
    openrouterPreamble: false,
    tail: null,
    ...over,
    text,
    pieces,
    usage: over.usage ?? { prompt: ctx.promptTokens, completion: pieces.length },
  };
}

const TOOL_INPUT = { location: "Paris" };
const TOOL_JSON_PIECES = ['{"location": ', '"Paris"}']; // Anthropic input_json_delta chunks

// ── OpenAI Chat Completions ────────────────────────────────────────────────────
// https://platform.openai.com/docs/api-reference/chat/object
// https://platform.openai.com/docs/api-reference/chat/streaming

function openaiUsage(u) {
  return { prompt_tokens: u.prompt, completion_tokens: u.completion, total_tokens: u.prompt + u.completion };
}

function chatBody(ctx, ans) {
  return completionBody(ctx, ans.text, ans.empty ? [] : undefined, ans.usage);
}

function chatInbandErrorObject(ans) {
  return ans.openrouterPreamble
    ? { code: 502, message: "Provider returned error", metadata: { provider_name: "mock", error_type: "provider_unavailable" } }
    : { code: "server_error", message: "Provider disconnected unexpectedly" };
}

function chatInbandError(ctx, ans) {
  return { status: 200, headers: successHeaders(ctx), body: { error: chatInbandErrorObject(ans), user_id: "user_mock" } };
}

function chatWriter(res, ctx, ans) {
  return {
    start: () => startSse(res, ctx),
    preamble() {
      if (ans.empty) return;
      // OpenRouter keeps the connection warm with SSE comments; then the error, no role chunk
      if (ans.openrouterPreamble) rawWrite(res, ": OPENROUTER PROCESSING\n\n");
      else sseWrite(res, chunk(ctx, { role: "assistant", content: "" }));
    },
    piece: (text) => sseWrite(res, chunk(ctx, { content: text })),
    malformed: () => rawWrite(res, "data: {not json\n\n"),
    error: () =>
      sseWrite(res, {
        ...chunk(ctx, { content: "" }, "error", { provider: "mock" }),
        error: chatInbandErrorObject(ans),
      }),
    finish() {
      const usage = openaiUsage(ans.usage);
      if (ans.empty) {
        sseWrite(res, { ...chunk(ctx, {}), choices: [], usage });
        sseWrite(res, "[DONE]");
        return;
      }
      sseWrite(res, chunk(ctx, {}, "stop"));
      if (ctx.includeUsage) sseWrite(res, { ...chunk(ctx, {}), choices: [], usage });
      if (!ans.noDone) sseWrite(res, "[DONE]");
    },
  };
}

// ── Anthropic Messages ─────────────────────────────────────────────────────────
// https://docs.anthropic.com/en/api/messages
// https://docs.anthropic.com/en/api/messages-streaming

function anthropicContent(ctx, ans) {
  if (ans.empty) return [];
  if (ans.tool) return [{ type: "tool_use", id: ans.tool.id, name: ans.tool.name, input: ans.tool.input }];
  return [{ type: "text", text: ans.text }];
}

function anthropicBody(ctx, ans) {
  return {
    id: `msg_mock_${ctx.seq}`,
    type: "message",
    role: "assistant",
    model: ctx.model,
    content: anthropicContent(ctx, ans),
    stop_reason: ans.tool ? "tool_use" : "end_turn",
    stop_sequence: null,
    usage: {
      input_tokens: ans.usage.prompt,
      output_tokens: ans.usage.completion,
      cache_creation_input_tokens: 0,
      cache_read_input_tokens: 0,
    },
  };
}

function anthropicInbandError(ctx) {
  // "an overloaded_error … would normally correspond to an HTTP 529 in a non-streaming context"
  return anthropicError(ctx, 529, "overloaded_error", "Overloaded", { "x-should-retry": "true" });
}

function anthropicWriter(res, ctx, ans) {
  const ev = (type, data = {}) => eventWrite(res, type, { type, ...data });
  return {
    start: () => startSse(res, ctx, { "request-id": `req_mock_${ctx.seq}` }),
    preamble() {
      ev("message_start", {
        message: {
          id: `msg_mock_${ctx.seq}`,
          type: "message",
          role: "assistant",
          model: ctx.model,
          content: [],
          stop_reason: null,
          stop_sequence: null,
          usage: { input_tokens: ans.usage.prompt, cache_creation_input_tokens: 0, cache_read_input_tokens: 0, output_tokens: 1 },
        },
      });
      if (!ans.empty) {
        ev("content_block_start", {
          index: 0,
          content_block: ans.tool
            ? { type: "tool_use", id: ans.tool.id, name: ans.tool.name, input: {} }
            : { type: "text", text: "" },
        });
      }
      ev("ping");
    },
    piece: (text) =>
      ev("content_block_delta", {
        index: 0,
        delta: ans.tool ? { type: "input_json_delta", partial_json: text } : { type: "text_delta", text },
      }),
    malformed: () => rawWrite(res, "event: content_block_delta\ndata: {not json\n\n"),
    error: () => ev("error", { error: { type: "overloaded_error", message: "Overloaded" } }),
    finish() {
      if (!ans.empty) ev("content_block_stop", { index: 0 });
      ev("message_delta", {
        delta: { stop_reason: ans.tool ? "tool_use" : "end_turn", stop_sequence: null },
        usage: { output_tokens: ans.usage.completion },
      });
      if (!ans.noDone) ev("message_stop");
    },
  };
}

// ── Gemini generateContent / streamGenerateContent ─────────────────────────────
// https://ai.google.dev/api/generate-content

const GEMINI_SAFETY_BLOCKED = [
  { category: "HARM_CATEGORY_SEXUALLY_EXPLICIT", probability: "HIGH", blocked: true },
  { category: "HARM_CATEGORY_HATE_SPEECH", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_HARASSMENT", probability: "NEGLIGIBLE" },
  { category: "HARM_CATEGORY_DANGEROUS_CONTENT", probability: "NEGLIGIBLE" },
];

function geminiUsage(ans, withCandidates = true) {
  const u = { promptTokenCount: ans.usage.prompt };
  if (withCandidates) u.candidatesTokenCount = ans.usage.completion;
  u.totalTokenCount = ans.usage.prompt + (withCandidates ? ans.usage.completion : 0);
  return u;
}

function geminiParts(ans, text) {
  if (ans.tool) return [{ functionCall: { name: ans.tool.name, args: ans.tool.input } }];
  return [{ text }];
}

/** One GenerateContentResponse with one candidate; `last` adds finishReason and usageMetadata. */
function geminiResponse(ctx, ans, parts, last) {
  const candidate = { content: { parts, role: "model" } };
  if (last) candidate.finishReason = "STOP";
  candidate.index = 0;
  const out = { candidates: [candidate] };
  if (last) out.usageMetadata = geminiUsage(ans);
  out.modelVersion = ctx.model;
  out.responseId = `mock-resp-${ctx.seq}`;
  return out;
}

function geminiBody(ctx, ans) {
  if (ans.empty) {
    return { usageMetadata: geminiUsage(ans, false), modelVersion: ctx.model, responseId: `mock-resp-${ctx.seq}` };
  }
  if (ans.blocked) {
    return {
      promptFeedback: { blockReason: "SAFETY", safetyRatings: GEMINI_SAFETY_BLOCKED },
      usageMetadata: geminiUsage(ans, false),
      modelVersion: ctx.model,
      responseId: `mock-resp-${ctx.seq}`,
    };
  }
  return geminiResponse(ctx, ans, geminiParts(ans, ans.text), true);
}

function geminiInbandError() {
  return googleError(503, "UNAVAILABLE", GEMINI_OVERLOADED);
}

/** SSE (`?alt=sse`: `data: {GenerateContentResponse}`) or, without alt=sse, one JSON array. */
function geminiWriter(res, ctx, ans) {
  let opened = false;
  let lastSent = false;
  const emitRaw = (text) => {
    if (ctx.sse) return rawWrite(res, `data: ${text}\n\n`);
    const r = rawWrite(res, (opened ? ",\r\n" : "[") + text);
    opened = true;
    return r;
  };
  const emit = (obj) => emitRaw(JSON.stringify(obj));
  const close = () => {
    if (!ctx.sse) rawWrite(res, opened ? "]" : "[]");
  };
  return {
    start() {
      if (ctx.sse) return startSse(res, ctx);
      res.writeHead(200, { "content-type": "application/json; charset=UTF-8", ...successHeaders(ctx) });
      res.flushHeaders();
    },
    preamble() {},
    piece(text, i, isLast) {
      if (isLast) lastSent = true;
      emit(geminiResponse(ctx, ans, geminiParts(ans, text), isLast));
    },
    malformed: () => emitRaw("{not json"),
    error() {
      emit({ error: { code: 503, message: GEMINI_OVERLOADED, status: "UNAVAILABLE" } });
      close();
    },
    finish() {
      if (!lastSent) {
        if (ans.empty) emit(geminiBody(ctx, ans));
        else if (ans.blocked) {
          emit({
            candidates: [{ finishReason: "SAFETY", index: 0, safetyRatings: GEMINI_SAFETY_BLOCKED }],
            usageMetadata: geminiUsage(ans, false),
            modelVersion: ctx.model,
            responseId: `mock-resp-${ctx.seq}`,
          });
        } else emit(geminiResponse(ctx, ans, geminiParts(ans, ""), true));
      }
      close();
    },
  };
}

// ── OpenAI Responses ───────────────────────────────────────────────────────────
// https://platform.openai.com/docs/api-reference/responses
// https://platform.openai.com/docs/api-reference/responses-streaming

function responseObject(ctx, { status, output, usage, error = null }) {
  const b = ctx.body ?? {};
  return {
    id: `resp_mock_${ctx.seq}`,
    object: "response",
    created_at: ctx.createdS,
    status,
    error,
    incomplete_details: null,
    instructions: b.instructions ?? null,
    max_output_tokens: b.max_output_tokens ?? null,
    model: ctx.model,
    output,
    parallel_tool_calls: true,
    previous_response_id: b.previous_response_id ?? null,
    reasoning: { effort: null, summary: null },
    store: b.store ?? true,
    temperature: b.temperature ?? 1,
    text: { format: { type: "text" } },
    tool_choice: "auto",
    tools: [],
    top_p: b.top_p ?? 1,
    truncation: "disabled",
    usage,
    user: null,
    metadata: {},
  };
}

function responsesUsage(u) {
  return {
    input_tokens: u.prompt,
    input_tokens_details: { cached_tokens: 0 },
    output_tokens: u.completion,
    output_tokens_details: { reasoning_tokens: 0 },
    total_tokens: u.prompt + u.completion,
  };
}

function responsesItem(ctx, status, text) {
  return {
    id: `msg_mock_${ctx.seq}`,
    type: "message",
    status,
    role: "assistant",
    content: text == null ? [] : [{ type: "output_text", text, annotations: [] }],
  };
}

const RESPONSES_FAILED = {
  code: "server_error",
  message:
    "An error occurred while processing your request. You can retry your request, or contact us through our help center at help.openai.com if the error persists.",
};

function responsesBody(ctx, ans) {
  return responseObject(ctx, {
    status: "completed",
    output: ans.empty ? [] : [responsesItem(ctx, "completed", ans.text)],
    usage: responsesUsage(ans.usage),
  });
}

function responsesInbandError(ctx, ans) {
  const partial = ans.pieces.slice(0, ans.tail?.after ?? 0).join("");
  return {
    status: 200,
    headers: successHeaders(ctx),
    body: responseObject(ctx, {
      status: "failed",
      error: RESPONSES_FAILED,
      output: ans.empty ? [] : [responsesItem(ctx, "incomplete", partial)],
      usage: null,
    }),
  };
}

function responsesWriter(res, ctx, ans) {
  let seqNo = 0;
  let sent = "";
  const ev = (type, data) => eventWrite(res, type, { type, sequence_number: seqNo++, ...data });
  const at = { item_id: `msg_mock_${ctx.seq}`, output_index: 0, content_index: 0 };
  return {
    start: () => startSse(res, ctx),
    preamble() {
      const r = responseObject(ctx, { status: "in_progress", output: [], usage: null });
      ev("response.created", { response: r });
      ev("response.in_progress", { response: r });
      if (ans.empty) return;
      ev("response.output_item.added", { output_index: 0, item: responsesItem(ctx, "in_progress", null) });
      ev("response.content_part.added", { ...at, part: { type: "output_text", text: "", annotations: [] } });
    },
    piece(text) {
      sent += text;
      ev("response.output_text.delta", { ...at, delta: text, logprobs: [] });
    },
    malformed: () => rawWrite(res, "event: response.output_text.delta\ndata: {not json\n\n"),
    error() {
      ev("response.failed", {
        response: responseObject(ctx, {
          status: "failed",
          error: RESPONSES_FAILED,
          output: ans.empty ? [] : [responsesItem(ctx, "incomplete", sent)],
          usage: null,
        }),
      });
    },
    finish() {
      if (!ans.empty) {
        ev("response.output_text.done", { ...at, text: ans.text, logprobs: [] });
        ev("response.content_part.done", { ...at, part: { type: "output_text", text: ans.text, annotations: [] } });
        ev("response.output_item.done", { output_index: 0, item: responsesItem(ctx, "completed", ans.text) });
      }
      ev("response.completed", { response: responsesBody(ctx, ans) });
    },
  };
}

// ── OpenAI Embeddings ──────────────────────────────────────────────────────────
// https://platform.openai.com/docs/api-reference/embeddings

/** A deterministic unit vector (float32 values) for an input key. */
function embedVector(key, dims) {
  const bytes = [];
  for (let block = 0; bytes.length < dims * 4; block++) {
    bytes.push(...createHash("sha256").update(`${block}:${key}`).digest());
  }
  const buf = Buffer.from(bytes);
  const v = [];
  for (let i = 0; i < dims; i++) v.push(buf.readUInt32LE(i * 4) / 2 ** 31 - 1);
  const norm = Math.sqrt(v.reduce((s, x) => s + x * x, 0)) || 1;
  return v.map((x) => Math.fround(x / norm));
}

function float32Base64(v) {
  const buf = Buffer.alloc(v.length * 4);
  v.forEach((x, i) => buf.writeFloatLE(x, i * 4));
  return buf.toString("base64");
}

function embeddingsBody(ctx, ans) {
  const e = ctx.embed ?? { inputs: [], dims: 8, base64: false, tokens: 0 };
  return {
    object: "list",
    data: ans.empty
      ? []
      : e.inputs.map((key, index) => {
          const v = embedVector(key, e.dims);
          return { object: "embedding", index, embedding: e.base64 ? float32Base64(v) : v };
        }),
    model: ctx.model,
    usage: { prompt_tokens: e.tokens, total_tokens: e.tokens },
  };
}

// ── The APIs ───────────────────────────────────────────────────────────────────

const OPENAI_DIALECT = {
  errorFor: openaiErrorFor,
  errorForStatus: openaiErrorForStatus,
  requestError: openaiRequestError,
  missingKey: openaiMissingKey,
  prefillError: () => openaiPrefillError("messages"),
  body: chatBody,
  inbandError: chatInbandError,
  writer: chatWriter,
};

const DIALECTS = {
  chat: OPENAI_DIALECT,
  azure: { ...OPENAI_DIALECT, missingKey: azureMissingKey },
  responses: {
    ...OPENAI_DIALECT,
    prefillError: () => openaiPrefillError("input"),
    body: responsesBody,
    inbandError: responsesInbandError,
    writer: responsesWriter,
  },
  embeddings: { ...OPENAI_DIALECT, body: embeddingsBody, inbandError: null, writer: null },
  anthropic: {
    errorFor: anthropicErrorFor,
    errorForStatus: anthropicErrorForStatus,
    requestError: anthropicRequestError,
    missingKey: (ctx) => anthropicError(ctx, 401, "authentication_error", "x-api-key header is required"),
    prefillError: (ctx) => anthropicError(ctx, 400, "invalid_request_error", NO_PREFILL_MESSAGE),
    body: anthropicBody,
    inbandError: anthropicInbandError,
    writer: anthropicWriter,
  },
  gemini: {
    errorFor: geminiErrorFor,
    errorForStatus: geminiErrorForStatus,
    requestError: geminiRequestError,
    missingKey: () =>
      googleError(
        403,
        "PERMISSION_DENIED",
        "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.",
      ),
    prefillError: () => googleError(400, "INVALID_ARGUMENT", NO_PREFILL_MESSAGE),
    body: geminiBody,
    inbandError: geminiInbandError,
    writer: geminiWriter,
  },
};

// ── Request parsing, per API ───────────────────────────────────────────────────

/** The API's key, for the log's api_key (the API's own header first). */
function loggedKey(api, req, url) {
  const apiKey = headerValue(req, "api-key");
  const xApiKey = headerValue(req, "x-api-key");
  if (api === "anthropic") return xApiKey ?? apiKey ?? null;
  if (api === "gemini") return headerValue(req, "x-goog-api-key") ?? url.searchParams.get("key") ?? apiKey ?? xApiKey ?? null;
  return apiKey ?? xApiKey ?? null;
}

/** Whether the API's own key header (or Gemini's ?key=) is present, for fault-require-key. */
function hasApiKey(api, req, url) {
  if (api === "anthropic") return !!headerValue(req, "x-api-key");
  if (api === "gemini") return !!(headerValue(req, "x-goog-api-key") || url.searchParams.get("key"));
  return !!(headerValue(req, "authorization") || headerValue(req, "api-key"));
}

function firstToolName(api, tools) {
  if (!Array.isArray(tools)) return null;
  for (const t of tools) {
    if (!t || typeof t !== "object") continue;
    if (api === "anthropic" && typeof t.name === "string" && t.name) return t.name;
    if (api === "gemini") {
      const decls = t.functionDeclarations ?? t.function_declarations;
      if (Array.isArray(decls)) {
        for (const f of decls) if (f && typeof f.name === "string" && f.name) return f.name;
      }
    }
  }
  return null;
}

/** Embeddings input → {inputs: [hash keys], tokens} or {problem}. */
function parseEmbeddingInput(input) {
  if (input === undefined || input === null) return { problem: "missing-input" };
  const isTokens = (a) => Array.isArray(a) && a.length > 0 && a.every((x) => Number.isInteger(x));
  if (typeof input === "string") return { inputs: [`text:${input}`], tokens: countWords(input) };
  if (!Array.isArray(input) || input.length === 0) return { problem: "invalid-input" };
  if (isTokens(input)) return { inputs: [`tokens:${JSON.stringify(input)}`], tokens: input.length };
  const inputs = [];
  let tokens = 0;
  for (const x of input) {
    if (typeof x === "string") {
      inputs.push(`text:${x}`);
      tokens += countWords(x);
    } else if (isTokens(x)) {
      inputs.push(`tokens:${JSON.stringify(x)}`);
      tokens += x.length;
    } else return { problem: "invalid-input" };
  }
  return { inputs, tokens };
}

/**
 * Read what the mock needs from a parsed request body.
 * → {model, stream, includeUsage, conv, tool, embed?, problem?: kind for requestError}
 */
function parseRequest(api, body, route, req, headerFault) {
  const str = (v) => (typeof v === "string" ? v : null);
  switch (api) {
    case "chat":
    case "azure": {
      const model = route.deployment ?? str(body.model);
      const msgs = Array.isArray(body.messages) ? body.messages : [];
      return {
        model,
        stream: body.stream === true,
        includeUsage: body.stream_options?.include_usage === true,
        conv: conversation(
          msgs.map((m) => ({ role: m?.role, text: textOf(m?.content) })),
          [],
          estimatePromptTokens(body),
        ),
        problem: !model && !headerFault ? "missing-model" : null,
      };
    }
    case "anthropic": {
      const model = str(body.model);
      const msgs = Array.isArray(body.messages) ? body.messages : [];
      let problem = null;
      if (!headerValue(req, "anthropic-version")) problem = "missing-anthropic-version";
      else if (!model && !headerFault) problem = "missing-model";
      else if (body.max_tokens === undefined || body.max_tokens === null) problem = "missing-max-tokens";
      else if (!Array.isArray(body.messages)) problem = "missing-messages";
      return {
        model,
        stream: body.stream === true,
        includeUsage: false,
        conv: conversation(
          msgs.map((m) => ({ role: m?.role, text: textOf(m?.content) })),
          [textOf(body.system)],
          estimatePromptTokens(body),
        ),
        tool: firstToolName(api, body.tools),
        problem,
      };
    }
    case "gemini": {
      const contents = Array.isArray(body.contents) ? body.contents : null;
      const list = (contents ?? []).map((c) => ({
        role: c?.role === "model" ? "assistant" : typeof c?.role === "string" ? c.role : "user",
        text: textOf(c?.parts),
      }));
      const sys = body.systemInstruction ?? body.system_instruction;
      return {
        model: route.model,
        stream: route.stream,
        includeUsage: false,
        conv: conversation(list, [textOf(sys?.parts)], estimatePromptTokens(body, "contents")),
        tool: firstToolName(api, body.tools),
        problem: contents ? null : "missing-contents",
      };
    }
    case "responses": {
      const model = str(body.model);
      let list = [];
      if (typeof body.input === "string") list = [{ role: "user", text: body.input }];
      else if (Array.isArray(body.input)) {
        list = body.input.map((item) => {
          if (!item || typeof item !== "object") return { role: null, text: null };
          if (typeof item.role === "string") return { role: item.role, text: textOf(item.content) };
          return { role: typeof item.type === "string" ? item.type : null, text: null };
        });
      }
      return {
        model,
        stream: body.stream === true,
        includeUsage: false,
        conv: conversation(list, [str(body.instructions)], estimatePromptTokens(body, "input")),
        problem: !model && !headerFault ? "missing-model" : null,
      };
    }
    case "embeddings": {
      const model = route.deployment ?? str(body.model);
      const parsed = parseEmbeddingInput(body.input);
      let dims = 8;
      let problem = !model && !headerFault ? "missing-model" : parsed.problem ?? null;
      if (body.dimensions !== undefined && body.dimensions !== null) {
        if (!Number.isInteger(body.dimensions) || body.dimensions < 1) problem = problem ?? "invalid-dimensions";
        else dims = Math.min(64, body.dimensions);
      }
      return {
        model,
        stream: false,
        includeUsage: false,
        conv: NO_CONVERSATION,
        embed: {
          inputs: parsed.inputs ?? [],
          tokens: parsed.tokens ?? 0,
          dims,
          base64: body.encoding_format === "base64",
        },
        problem,
      };
    }
    default:
      return { model: null, stream: false, includeUsage: false, conv: NO_CONVERSATION, problem: "unknown-api" };
  }
}

// ── Streaming engine ───────────────────────────────────────────────────────────

/**
 * Render a streaming answer through an API's writer
 * {start, preamble, piece(text, i, isLast), malformed, error, finish}.
 */
async function runStream(res, ctx, ans, w) {
  const { signal } = ctx;
  const gap = ans.gapMs ?? 0;
  const pause = async (ms) => (ms > 0 ? sleep(ms, signal) : !signal.aborted);
  w.start();
  w.preamble();
  if (ans.firstTokenDelayMs && !(await pause(ans.firstTokenDelayMs))) return;
  const n = ans.pieces.length;
  const limit = ans.tail ? Math.min(ans.tail.after, n) : n;
  if (ans.malformedAfter === 0) w.malformed();
  for (let i = 0; i < limit; i++) {
    if (i > 0 || !ans.firstTokenDelayMs) {
      if (!(await pause(gap))) return;
    }
    w.piece(ans.pieces[i], i, !ans.tail && i === n - 1);
    if (ans.malformedAfter === i + 1) w.malformed();
  }
  if (!ans.tail && ans.malformedAfter != null && ans.malformedAfter > n) w.malformed();
  if (ans.tail) return breakAnswer(res, ctx, ans.tail.kind, () => w.error());
  if (!(await pause(gap))) return;
  w.finish();
  if (!res.destroyed && !res.writableEnded) res.end();
}

/** The end of a broken answer: cut (destroy), stall (keep open), error (write it, end). */
async function breakAnswer(res, ctx, kind, writeError) {
  const { signal } = ctx;
  if (kind === "cut") {
    // let the bytes reach the kernel, then drop the connection mid-body
    if (!(await sleep(30, signal))) return;
    res.socket?.destroy();
    res.destroy();
    return;
  }
  if (kind === "stall") return waitForAbort(signal);
  if (!(await sleep(5, signal))) return;
  writeError?.();
  if (!res.destroyed && !res.writableEnded) res.end();
}

/** Send an answer in the request's API, streaming or not. */
async function respond(res, ctx, ans) {
  const d = DIALECTS[ctx.api];
  if (ans.truncateJson) {
    const full = JSON.stringify(d.body(ctx, ans));
    return sendText(res, 200, full.slice(0, Math.floor(full.length / 2)), "application/json", successHeaders(ctx));
  }
  if (ctx.stream && d.writer) return runStream(res, ctx, ans, d.writer(res, ctx, ans));
  if (ans.tail?.kind === "error" && d.inbandError) return sendSpec(res, d.inbandError(ctx, ans));
  const text = JSON.stringify(d.body(ctx, ans));
  if (ans.tail && ans.tail.kind !== "error") {
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(text),
      ...successHeaders(ctx),
    });
    res.write(text.slice(0, Math.floor(text.length / 2)));
    return breakAnswer(res, ctx, ans.tail.kind);
  }
  return sendJson(res, 200, text, successHeaders(ctx));
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

// ── Model lists ────────────────────────────────────────────────────────────────

const MODEL_IDS = ["ok", ...Object.keys(STATIC_FAULTS), ...CODE_FAULTS, ...TEMPLATE_EXAMPLES];

function modelList(shape) {
  const created = 1700000000;
  if (shape === "anthropic") {
    // https://docs.anthropic.com/en/api/models-list
    return {
      data: MODEL_IDS.map((id) => ({ type: "model", id, display_name: id, created_at: "2023-11-14T22:13:20Z" })),
      has_more: false,
      first_id: MODEL_IDS[0],
      last_id: MODEL_IDS[MODEL_IDS.length - 1],
    };
  }
  if (shape === "gemini") {
    // https://ai.google.dev/api/models#method:-models.list
    return {
      models: MODEL_IDS.map((id) => ({
        name: `models/${id}`,
        version: "001",
        displayName: id,
        description: "mock-upstream behaviour",
        inputTokenLimit: 1048576,
        outputTokenLimit: 8192,
        supportedGenerationMethods: ["generateContent", "countTokens"],
        temperature: 1,
        topP: 0.95,
        topK: 64,
        maxTemperature: 2,
      })),
    };
  }
  return {
    object: "list",
    data: MODEL_IDS.map((id) => ({ id, object: "model", created, owned_by: "mock-upstream" })),
  };
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
      return handleApi(req, res, signal, url, {
        api: azure ? "azure" : "chat",
        deployment: azure ? safeDecode(azure[1]) : null,
      });
    }
    const gemini = /\/(v1|v1beta)\/models\/([^/]+):(generateContent|streamGenerateContent)$/.exec(safeDecode(path));
    if (gemini) {
      if (method !== "POST") return notFound(res, method, path);
      const stream = gemini[3] === "streamGenerateContent";
      return handleApi(req, res, signal, url, {
        api: "gemini",
        model: gemini[2],
        version: gemini[1],
        stream,
        sse: stream && url.searchParams.get("alt") === "sse",
      });
    }
    if (path.endsWith("/messages")) {
      if (method !== "POST") return notFound(res, method, path);
      return handleApi(req, res, signal, url, { api: "anthropic" });
    }
    if (path.endsWith("/responses")) {
      if (method !== "POST") return notFound(res, method, path);
      return handleApi(req, res, signal, url, { api: "responses" });
    }
    const azureEmbeddings = /^\/openai\/deployments\/([^/]+)\/embeddings\/?$/.exec(path);
    if (azureEmbeddings || path.endsWith("/embeddings")) {
      if (method !== "POST") return notFound(res, method, path);
      return handleApi(req, res, signal, url, {
        api: "embeddings",
        deployment: azureEmbeddings ? safeDecode(azureEmbeddings[1]) : null,
      });
    }
    if (path.endsWith("/models")) {
      if (method !== "GET" && method !== "HEAD") return notFound(res, method, path);
      const shape =
        path.endsWith("/v1beta/models") || headerValue(req, "x-goog-api-key")
          ? "gemini"
          : headerValue(req, "anthropic-version")
            ? "anthropic"
            : "openai";
      return sendJson(res, 200, modelList(shape));
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

  /** One provider request: parse, log, then answer with the behaviour its name selects. */
  async function handleApi(req, res, signal, url, route) {
    const { text, tooLarge, aborted } = await readBody(req);
    if (aborted || signal.aborted) return;
    const thisSeq = ++seq;
    const api = route.api;
    const d = DIALECTS[api];
    const headerFault = (headerValue(req, "x-mock-fault") ?? "").trim();
    const entry = {
      seq: thisSeq,
      at_ms: Date.now(),
      api,
      path: url.pathname,
      query: url.search.replace(/^\?/, ""),
      model: route.deployment ?? route.model ?? null,
      stream: route.stream ?? false,
      authorization: headerValue(req, "authorization") ?? null,
      api_key: loggedKey(api, req, url),
      fault: null,
      prefill: null,
      messages: 0,
    };
    // what the error helpers need before the body is understood
    const pre = {
      seq: thisSeq,
      api,
      model: entry.model,
      stream: route.stream ?? false,
      sse: route.sse ?? false,
      version: route.version ?? null,
      key: extractKey(req),
    };
    const reject = (fault, kind, ctx = pre) => {
      entry.fault = fault;
      record(entry);
      return sendSpec(res, finalizeSpec(d.requestError(kind, ctx), ctx));
    };

    if (tooLarge) {
      res.setHeader("connection", "close");
      return reject("request-too-large", "too-large");
    }
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return reject("invalid-json-request", "invalid-json");
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) {
      return reject("invalid-request-body", "not-object");
    }
    const info = parseRequest(api, body, route, req, headerFault);
    entry.model = info.model;
    entry.stream = info.stream;
    entry.prefill = info.conv.prefill;
    entry.messages = info.conv.messages;
    pre.model = info.model ?? headerFault;
    if (info.problem) return reject(info.problem, info.problem);

    const ctx = {
      ...pre,
      model: info.model ?? headerFault,
      key: api === "gemini" ? (headerValue(req, "x-goog-api-key") ?? url.searchParams.get("key") ?? pre.key) : pre.key,
      stream: info.stream,
      includeUsage: info.includeUsage,
      promptTokens: info.conv.estimate,
      conv: info.conv,
      tool: info.tool ?? null,
      embed: info.embed ?? null,
      hasKey: hasApiKey(api, req, url),
      body,
      createdS: Math.floor(Date.now() / 1000),
      signal,
    };
    const name = (headerFault || info.model).toLowerCase();
    const plan = planFor(name, ctx);
    entry.fault = plan.fault;
    record(entry);
    log(`mock-upstream: #${thisSeq} ${api} ${url.pathname} model=${info.model} stream=${ctx.stream} → ${plan.fault}`);
    await plan.run(res);
  }

  /** Decide what to do for a behaviour name. Returns {fault, run(res)}. */
  function planFor(name, ctx) {
    const { signal } = ctx;
    const d = DIALECTS[ctx.api];
    const answer = (fault, over = {}) => ({ fault, run: (res) => respond(res, ctx, makeAnswer(ctx, over)) });
    const ok = (fault = "ok", over = {}) => answer(fault, over);
    const delayed = (fault, ms, over = {}) => ({
      fault,
      run: async (res) => {
        if (!(await sleep(ms, signal))) return;
        return respond(res, ctx, makeAnswer(ctx, over));
      },
    });
    const httpError = (fault, spec) => ({ fault, run: (res) => sendSpec(res, finalizeSpec(spec, ctx)) });

    // embeddings do not stream: stream faults and story answers are plain successes there
    if (ctx.api === "embeddings" && (STREAM_FAULTS.has(name) || isStoryName(name))) return ok("ok");
    if (ctx.api === "gemini" && name === "fault-content-filter") {
      return ok(name, { blocked: true, pieces: [], usage: { prompt: ctx.promptTokens, completion: 0 } });
    }

    const spec = d.errorFor(name, ctx);
    if (spec) return httpError(name, spec);

    let m;
    if ((m = /^slow-ok-(\d+)$/.exec(name))) return delayed(name, Number(m[1]));
    if ((m = /^slow-stream-(\d+)$/.exec(name))) return ok(name, { gapMs: Number(m[1]) });
    if ((m = /^fault-slow-first-token-(\d+)$/.exec(name))) {
      const ms = Number(m[1]);
      if (!ctx.stream) return delayed(name, ms);
      return ok(name, { firstTokenDelayMs: ms });
    }
    if ((m = /^fault-after-(\d+)-ok$/.exec(name))) {
      const n = Number(m[1]);
      const count = (afterCounters.get(name) ?? 0) + 1;
      afterCounters.set(name, count);
      if (count <= n) return httpError(name, d.errorFor("fault-503", ctx));
      return ok("ok");
    }
    if ((m = /^flap-(.+)$/.exec(name))) {
      const st = flapState(m[1]);
      if (!st || !st.down) return ok("ok");
      if (st.mode === "reset") return { fault: `flap-down-reset`, run: (res) => resetSocket(res) };
      if (st.mode === "silent") return { fault: `flap-down-silent`, run: () => waitForAbort(signal) };
      const base = d.errorForStatus(st.status, ctx, st.retry_after);
      const headers = { ...(base.headers ?? {}) };
      if (st.retry_after != null) headers["retry-after"] = String(st.retry_after);
      return httpError(`flap-down-${st.status}`, { ...base, headers });
    }
    if (isStoryName(name)) return storyPlan(name, ctx, { answer, delayed, httpError });
    if (name === "fault-require-key") {
      return ctx.hasKey ? ok("ok") : httpError(name, d.missingKey(ctx));
    }

    switch (name) {
      case "fault-reset":
        return { fault: name, run: (res) => resetSocket(res) };
      case "fault-silent":
        return { fault: name, run: () => waitForAbort(signal) };
      case "fault-stream-cut":
        return answer(name, { tail: { kind: "cut", after: 2 } });
      case "fault-stream-stall":
        return answer(name, { tail: { kind: "stall", after: 2 } });
      case "fault-malformed-chunk":
        return ok(name, ctx.stream ? { malformedAfter: 1 } : {});
      case "fault-no-done":
        return ok(name, { noDone: true });
      case "fault-openrouter-stream-error":
        return answer(name, { openrouterPreamble: true, tail: { kind: "error", after: 0 } });
      case "fault-stream-error-event-after-content":
        return answer(name, { tail: { kind: "error", after: 1 } });
      case "fault-invalid-json-200":
        return answer(name, { truncateJson: true });
      case "fault-empty-choices":
        return answer(name, {
          empty: true,
          pieces: [],
          usage: {
            prompt: ctx.promptTokens,
            completion: ctx.api === "chat" || ctx.api === "azure" ? contentPieces(ctx.model).length : 0,
          },
        });
      default:
        if (name.startsWith("tool-") && ctx.tool) {
          return ok("tool-use", {
            tool: { id: `toolu_mock_${ctx.seq}`, name: ctx.tool, input: TOOL_INPUT },
            text: JSON.stringify(TOOL_INPUT),
            pieces: ctx.api === "anthropic" ? TOOL_JSON_PIECES : [""],
          });
        }
        return ok("ok");
    }
  }

  /**
   * Story answers: STORY (or OTHER_STORY), continued after an assistant prefill, with the
   * fault of fault-story-* applied to whatever this response sends.
   */
  function storyPlan(name, ctx, { answer, delayed, httpError }) {
    const conv = ctx.conv;
    let text;
    if (name === "story-different") text = OTHER_STORY;
    else if (name === "story-fresh") text = STORY;
    else if (name === "story-no-prefill" && conv.lastRole === "assistant") {
      return httpError(name, DIALECTS[ctx.api].prefillError(ctx));
    } else if (conv.prefill != null) {
      const rest = storyRest(conv.prefill);
      if (rest === null) text = UNRELATED_CONTINUATION;
      else {
        const k = /^story-overlap-(\d+)$/.exec(name);
        text = (k ? lastWords(conv.prefill, Number(k[1])) : "") + rest;
      }
    } else text = STORY;
    const over = { text, usage: { prompt: conv.words, completion: splitWords(text).length } };
    const m = STORY_FAULT_RE.exec(name);
    if (m?.[1] === "malformed") over.malformedAfter = Number(m[2]);
    else if (m?.[1]) over.tail = { kind: m[1], after: Number(m[2]) };
    else if (m?.[3] !== undefined) {
      const ms = Number(m[3]);
      return ctx.stream ? answer(name, { ...over, firstTokenDelayMs: ms }) : delayed(name, ms, over);
    }
    return answer(name, over);
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
