// A decomposition floor (not a bench/run row yet): worker.js, plus the runtime
// operations a failover gateway performs on every request, each switched on by
// the request header `x-mode` (comma-separated):
//   read   read the answer with a reader loop (as a gateway that inspects it)
//   ab     read it with one arrayBuffer()       text   read it with text()
//   abort  an AbortController whose signal the upstream fetch carries
//   timer  a setTimeout cleared when the answer is read (a response timeout)
//   listen an abort listener on the client request's signal
//   hdr    the upstream headers copied into a new Headers
//   wait   ctx.waitUntil(Promise.resolve())     log    one console.log line
// Run it in workerd serve and compare the process's CPU per request across modes:
//   node bench/peers/workerd-serve/serve.mjs --floor --script bench/peers/workerd-floor/ops.js \
//        --port N --vars vars.json          (vars.json: {"UPSTREAM": "<mock url>"})
// then bench-loadgen with --header 'x-mode: read,abort,timer,listen,hdr,log'
// and /proc/<workerd pid>/stat (utime+stime) before and after. Figures: issue 13.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    const modes = new Set((request.headers.get("x-mode") || "").split(",").filter(Boolean));
    const body = JSON.parse(await request.text());
    body.model = body.model === "story" ? "story" : "ok-model";
    const init = {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-bench-primary" },
      body: JSON.stringify(body),
    };
    let timer;
    if (modes.has("abort")) init.signal = new AbortController().signal;
    if (modes.has("timer")) timer = setTimeout(() => {}, 1000);
    if (modes.has("listen") && request.signal) request.signal.addEventListener("abort", () => {});
    const upstream = await fetch(`${env.UPSTREAM}/v1/chat/completions`, init);
    let out = upstream.body;
    if (modes.has("read")) {
      const reader = upstream.body.getReader();
      const parts = [];
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        parts.push(value);
      }
      out = parts.length === 1 ? parts[0] : new Blob(parts);
    } else if (modes.has("ab")) {
      out = new Uint8Array(await upstream.arrayBuffer());
    } else if (modes.has("text")) {
      out = await upstream.text();
    }
    if (timer !== undefined) clearTimeout(timer);
    let headers = upstream.headers;
    if (modes.has("hdr")) {
      headers = new Headers();
      for (const [k, v] of upstream.headers) headers.append(k, v);
    }
    if (modes.has("wait")) ctx.waitUntil(Promise.resolve());
    if (modes.has("log")) console.log(JSON.stringify({ level: "info", msg: "request", model: body.model, status: upstream.status }));
    return new Response(out, { status: upstream.status, headers });
  },
};
