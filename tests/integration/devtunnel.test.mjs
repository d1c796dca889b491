// A dev server's WebSocket through dext (`dext dev ui-source`): the upgrade request is
// carried to the dev server with its own Host and Origin and without the page's
// cookies (dext's secret among them), then bytes go both ways until either side ends.
// Anything else that asks for an upgrade is refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import { tmpState, makeExt, startDext, runDext, waitFor } from './lib.mjs';

let st;
let d;
let dev;
let devPort;
const upgrades = [];
const sockets = new Set();

before(async () => {
  st = tmpState();
  const dir = makeExt(st.dir, 'tunneled', {
    ui: { 'dashboard-tab': { title: 'T', root: '/ui', src: 'index.html' } },
  }, { 'ui/index.html': '<!doctype html><html><head></head><body>files</body></html>' });
  d = await startDext([dir], { env: st.env });
  // The dev server: its page, and an "echo" protocol on upgrade that answers each
  // chunk with "echo:" + chunk, and closes on "close".
  dev = http.createServer((req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html' });
    res.end('<!doctype html><html><head></head><body>dev</body></html>');
  });
  dev.on('upgrade', (req, socket, headBytes) => {
    upgrades.push({ url: req.url, headers: req.headers });
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    if (req.headers.upgrade !== 'echo') {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      return;
    }
    socket.write('HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n');
    const onData = (b) => {
      if (b.toString() === 'close') { socket.end(); return; }
      socket.write(Buffer.concat([Buffer.from('echo:'), b]));
    };
    if (headBytes.length) onData(headBytes);
    socket.on('data', onData);
    socket.on('end', () => socket.end());
    socket.on('error', () => {});
  });
  await new Promise((r) => dev.listen(0, '127.0.0.1', r));
  devPort = dev.address().port;
  const r = await runDext(['dev', 'ui-source', 'tunneled', `http://127.0.0.1:${devPort}`], { env: st.env });
  assert.equal(r.code, 0, r.stderr);
  await new Promise((res) => setTimeout(res, 400)); // dext run takes the record change
}, { timeout: 60000 });

after(async () => {
  for (const s of sockets) s.destroy();
  dev?.close();
  await d?.stop();
}, { timeout: 30000 });

/** Opens a connection to dext and sends an upgrade head; resolves with a reader. */
function connect(head) {
  return new Promise((resolve, reject) => {
    const s = net.connect(d.port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const waiters = [];
    let closed = false;
    const check = () => {
      for (let i = 0; i < waiters.length; i++) {
        const w = waiters[i];
        if (w.test(buf.toString('latin1')) || (closed && w.onClose)) {
          waiters.splice(i--, 1);
          w.resolve(buf.toString('latin1'));
        }
      }
    };
    s.on('data', (c) => { buf = Buffer.concat([buf, c]); check(); });
    s.on('close', () => { closed = true; for (const w of waiters.splice(0)) w.resolve(buf.toString('latin1')); });
    s.on('error', () => {});
    s.on('connect', () => {
      s.write(head);
      resolve({
        socket: s,
        until(re, ms = 5000) {
          return new Promise((res, rej) => {
            const w = { test: (t) => re.test(t), resolve: res, onClose: true };
            waiters.push(w);
            check();
            setTimeout(() => rej(new Error(`timed out waiting for ${re}; got ${buf.length} bytes, ending ${JSON.stringify(buf.toString('latin1').slice(-120))}`)), ms);
          });
        },
        closed: () => closed,
        bytes: () => buf,
      });
    });
    s.on('error', reject);
  });
}

const host = () => `127.0.0.1:${d.port}`;
const upgradeHead = (path, extra = '') => `GET ${path} HTTP/1.1\r\nHost: ${host()}\r\n` +
  `Origin: http://${host()}\r\nCookie: other=1; dext_x=y\r\nConnection: Upgrade\r\nUpgrade: echo\r\n` +
  `X-Dext-Secret: ${d.secret}\r\nSec-WebSocket-Protocol: vite-hmr\r\n${extra}\r\n`;

test('the upgrade reaches the dev server as its own, and bytes go both ways', async () => {
  const c = await connect(upgradeHead('/hmr?token=abc&dext-secret=' + d.secret) + 'early');
  const head = await c.until(/echo:early/);
  assert.match(head, /^HTTP\/1\.1 101 Switching Protocols\r\n/);
  c.socket.write('second');
  await c.until(/echo:second/);
  const u = upgrades.at(-1);
  assert.equal(u.url, '/hmr?token=abc', 'the path and query, without dext\'s secret');
  assert.equal(u.headers.host, `127.0.0.1:${devPort}`);
  assert.equal(u.headers.origin, `http://127.0.0.1:${devPort}`);
  assert.equal(u.headers.cookie, undefined, 'the page\'s cookies stay with dext');
  assert.equal(u.headers['x-dext-secret'], undefined);
  assert.equal(u.headers['sec-websocket-protocol'], 'vite-hmr');
  // The dev server ends it: so does dext.
  c.socket.write('close');
  await waitFor(() => c.closed(), { what: 'the page side closed' });
});

test('a page that leaves closes the dev server\'s side', async () => {
  const before = sockets.size;
  const c = await connect(upgradeHead('/hmr'));
  await c.until(/101 Switching/);
  await waitFor(() => sockets.size === before + 1, { what: 'the dev server socket' });
  c.socket.destroy();
  await waitFor(() => sockets.size === before, { what: 'the dev server socket closed' });
});

test('a large stream in both directions arrives whole', async () => {
  const c = await connect(upgradeHead('/hmr'));
  await c.until(/101 Switching/);
  const size = 3 * 1024 * 1024;
  c.socket.write('x'.repeat(size));
  const xs = () => { let n = 0; for (const b of c.bytes()) if (b === 0x78) n++; return n; };
  await waitFor(() => xs() >= size, { timeoutMs: 20000, intervalMs: 200, what: `${size} bytes echoed` });
  assert.equal(xs(), size);
  c.socket.destroy();
});

test('without the secret the upgrade is refused and never reaches the dev server', async () => {
  const n = upgrades.length;
  const c = await connect(`GET /hmr HTTP/1.1\r\nHost: ${host()}\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n`);
  const r = await c.until(/\r\n\r\n/);
  assert.match(r, /^HTTP\/1\.1 401/);
  assert.equal(upgrades.length, n);
});

test('from another origin it is refused', async () => {
  const n = upgrades.length;
  const c = await connect(upgradeHead('/hmr').replace(`Origin: http://${host()}`, 'Origin: http://evil.example'));
  const r = await c.until(/\r\n\r\n/);
  assert.match(r, /^HTTP\/1\.1 403/);
  assert.equal(upgrades.length, n);
});

test('an upgrade to dext\'s API is refused', async () => {
  const c = await connect(upgradeHead('/__dext/events'));
  const r = await c.until(/\r\n\r\n/);
  assert.match(r, /^HTTP\/1\.1 400/);
  assert.match(await c.until(/upgrade is not supported/), /protocol upgrade is not supported here/);
});

test('a dev server that is down: 502 naming it', async () => {
  const spare = net.createServer();
  await new Promise((r) => spare.listen(0, '127.0.0.1', r));
  const port = spare.address().port;
  await new Promise((r) => spare.close(r));
  assert.equal((await runDext(['dev', 'ui-source', 'tunneled', `http://127.0.0.1:${port}`], { env: st.env })).code, 0);
  await new Promise((res) => setTimeout(res, 400));
  const c = await connect(upgradeHead('/hmr'));
  const r = await c.until(/\}$/);
  assert.match(r, /^HTTP\/1\.1 502/);
  assert.match(r, /the dev server is not answering: connection refused/);
  await waitFor(() => c.closed(), { what: 'closed after the 502' });
});

test('back on the files, no upgrade is carried', async () => {
  assert.equal((await runDext(['dev', 'reset', 'tunneled'], { env: st.env })).code, 0);
  await new Promise((res) => setTimeout(res, 400));
  const c = await connect(upgradeHead('/hmr'));
  const r = await c.until(/\r\n\r\n/);
  assert.match(r, /^HTTP\/1\.1 400/);
});
