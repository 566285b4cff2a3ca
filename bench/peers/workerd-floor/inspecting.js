// A second floor for bench/run: worker.js, except that a streamed answer is not
// handed to the runtime as it is but read chunk by chunk in JavaScript and
// written into a TransformStream — the least any Worker must do to see a stream
// (to notice it stalled or ended early and finish it elsewhere, as llm-failover
// does). Its per-chunk cost over worker.js is what reading a stream in a Worker
// costs by itself in this runtime; llm-failover's per-chunk cost is reported
// over both floors.
export default {
  async fetch(request, env, ctx) {
    const url = new URL(request.url);
    if (url.pathname === "/health") return new Response("ok");
    const body = await request.json();
    body.model = body.model === "story" ? "story" : "ok-model";
    const upstream = await fetch(`${env.UPSTREAM}/v1/chat/completions`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: "Bearer sk-bench-primary" },
      body: JSON.stringify(body),
    });
    if (!body.stream || !upstream.body) {
      return new Response(upstream.body, { status: upstream.status, headers: upstream.headers });
    }
    const { readable, writable } = new TransformStream();
    const writer = writable.getWriter();
    const reader = upstream.body.getReader();
    ctx.waitUntil(
      (async () => {
        try {
          for (;;) {
            const { done, value } = await reader.read();
            if (done) break;
            await writer.write(value);
          }
          await writer.close();
        } catch (e) {
          await writer.abort(e).catch(() => {});
        }
      })(),
    );
    return new Response(readable, { status: upstream.status, headers: upstream.headers });
  },
};
