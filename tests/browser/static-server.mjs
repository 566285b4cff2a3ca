// static-server.mjs — serves the www/ page and the built npm package on loopback.
//
//   import { startStatic } from "./static-server.mjs";
//   const srv = await startStatic({ port: 0, routes: { "/": "www", "/pkg/": "build/pkg" } });
//   srv.url; await srv.close();
//
//   node tests/browser/static-server.mjs [--port N] [/prefix/=dir ...]
//
// Paths are resolved against the repo root; a route maps a URL prefix to a folder
// (longest prefix wins); `..` never escapes a folder. `.wasm` is served as
// application/wasm (needed for WebAssembly.instantiateStreaming). No caching.
import http from "node:http";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

const TYPES = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json",
  ".wasm": "application/wasm",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".ts": "text/plain; charset=utf-8",
  ".md": "text/plain; charset=utf-8",
};

export function startStatic({ port = 0, host = "127.0.0.1", routes }) {
  const table = Object.entries(routes)
    .map(([prefix, dir]) => [prefix, path.resolve(REPO, dir)])
    .sort((a, b) => b[0].length - a[0].length);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    let pathname;
    try {
      pathname = decodeURIComponent(url.pathname);
    } catch {
      res.writeHead(400).end("bad path");
      return;
    }
    const route = table.find(([prefix]) => pathname.startsWith(prefix));
    if (!route) {
      res.writeHead(404).end("not found");
      return;
    }
    const [prefix, dir] = route;
    let file = path.resolve(dir, "." + path.posix.sep + pathname.slice(prefix.length));
    if (file !== dir && !file.startsWith(dir + path.sep)) {
      res.writeHead(403).end("forbidden");
      return;
    }
    if (fs.existsSync(file) && fs.statSync(file).isDirectory()) file = path.join(file, "index.html");
    fs.readFile(file, (err, data) => {
      if (err) {
        res.writeHead(404, { "content-type": "text/plain" }).end(`not found: ${pathname}`);
        return;
      }
      res.writeHead(200, {
        "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
        "cache-control": "no-store",
      });
      res.end(data);
    });
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => {
      const { port: p } = server.address();
      resolve({
        port: p,
        url: `http://${host}:${p}`,
        close: () => new Promise((r) => server.close(() => r())),
      });
    });
  });
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const args = process.argv.slice(2);
  let port = 8080;
  const routes = {};
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--port") port = Number(args[++i]);
    else {
      const [prefix, dir] = args[i].split("=");
      routes[prefix] = dir;
    }
  }
  if (Object.keys(routes).length === 0) Object.assign(routes, { "/": "www", "/pkg/": "build/pkg" });
  const srv = await startStatic({ port, routes });
  console.log(JSON.stringify({ listening: true, port: srv.port, url: srv.url }));
}
