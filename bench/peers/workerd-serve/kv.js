// An in-memory Workers KV for `workerd serve` (bench/run's production-runtime
// rows): workerd's KV binding sends GET/PUT/DELETE `https://…/<urlencoded key>`
// to the service it names; this answers them from a Map, as KV would (a value,
// or 404). Lists and metadata are not needed by the gateway.
const store = new Map();

export default {
  async fetch(request) {
    const url = new URL(request.url);
    const key = decodeURIComponent(url.pathname.slice(1));
    switch (request.method) {
      case "GET": {
        const v = store.get(key);
        return v === undefined ? new Response(null, { status: 404 }) : new Response(v);
      }
      case "PUT":
        store.set(key, new Uint8Array(await request.arrayBuffer()));
        return new Response(null, { status: 200 });
      case "DELETE":
        store.delete(key);
        return new Response(null, { status: 200 });
      default:
        return new Response("method not allowed", { status: 405 });
    }
  },
};
