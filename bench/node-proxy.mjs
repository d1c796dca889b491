// Benchmark contender: a Node.js reverse proxy from 127.0.0.1:PORT to a unix socket.
// Usage: node node-proxy.mjs --socket PATH [--port N]   (prints its URL when ready)
import http from 'node:http';

function option(name, fallback) {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : fallback;
}

const socketPath = option('--socket');
const port = Number(option('--port', '0'));
if (!socketPath || !Number.isInteger(port)) {
  console.error('usage: node node-proxy.mjs --socket PATH [--port N]');
  process.exit(2);
}

// Hop-by-hop headers belong to one connection and are not forwarded (RFC 9110 7.6.1).
const HOP = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding',
  'te', 'trailer', 'upgrade']);

function endToEnd(headers) {
  const out = {};
  for (const [k, v] of Object.entries(headers)) {
    if (!HOP.has(k)) out[k] = v;
  }
  return out;
}

const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });

const server = http.createServer((req, res) => {
  const upstream = http.request({
    socketPath,
    agent,
    method: req.method,
    path: req.url,
    headers: endToEnd(req.headers),
  }, (up) => {
    res.writeHead(up.statusCode, endToEnd(up.headers));
    up.pipe(res);
    up.on('error', () => res.destroy());
  });
  upstream.on('error', () => {
    if (!res.headersSent) {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('bad gateway');
    } else {
      res.destroy();
    }
  });
  req.on('error', () => upstream.destroy());
  req.pipe(upstream);
});
server.keepAliveTimeout = 60_000;
server.headersTimeout = 65_000;

server.listen(port, '127.0.0.1', () => {
  console.log(`http://127.0.0.1:${server.address().port}/`);
});

for (const sig of ['SIGTERM', 'SIGINT']) {
  process.on(sig, () => {
    server.close();
    agent.destroy();
    process.exit(0);
  });
}
