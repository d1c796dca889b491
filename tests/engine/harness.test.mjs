// The engine harness end to end: a private dockerd, registry-free images, an extension
// container whose backend answers on a bind-mounted socket, and a stop that leaves
// nothing behind.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BASE_TAG, buildBaseImage, buildExtensionImage, docker, engineTmp, engineUnavailable, startEngine,
} from './engine.mjs';

const EXT_TAG = 'dext-test/engine-ext:1';
const NAME = 'dext-engine-harness';

/** GET over a unix socket: {status, headers, text}. */
function get(socketPath, p, { agent = false, timeoutMs = 5000 } = {}) {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, path: p, agent }, (res) => {
      let text = '';
      res.on('data', (d) => { text += d; });
      res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text }));
      res.on('error', reject);
    });
    req.setTimeout(timeoutMs, () => req.destroy(new Error(`GET ${p} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

async function waitFor(fn, { timeoutMs = 20000, what }) {
  const end = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const skip = engineUnavailable();

describe('engine harness', { skip: skip || false, timeout: 600000 }, () => {
  let engine;
  let pidsWhileUp = [];
  let stopped = false;
  const t0 = Date.now();
  const times = {};
  const mark = (what) => { times[what] = Date.now() - t0; };

  before(async () => {
    engine = await startEngine();
    mark('engine up');
  });

  after(async () => {
    if (engine && !stopped) await engine.stop();
    console.log(`# engine harness timings (ms since start): ${JSON.stringify(times)}`);
  });

  test('dockerd answers on its private socket', async () => {
    assert.ok(engine.socket.length < 60, engine.socket);
    const r = await get(engine.socket, '/_ping');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'OK');
    const info = JSON.parse((await docker(engine, ['info', '--format', '{{json .}}'])).stdout);
    assert.equal(info.Driver, 'vfs');
    assert.equal(info.DockerRootDir, engine.dataRoot);
    pidsWhileUp = engine.pids();
    assert.ok(pidsWhileUp.includes(engine.pid), 'dockerd is among the engine pids');
    assert.ok(pidsWhileUp.length >= 2, `dockerd and containerd run: ${pidsWhileUp}`);
  });

  test('the base image is imported with no registry', async () => {
    await buildBaseImage(engine, BASE_TAG);
    mark('base image');
    const r = await docker(engine, ['run', '--rm', BASE_TAG, 'sh', '-c', 'echo hi; ls /bin/sleep; cat /etc/passwd']);
    assert.match(r.stdout, /^hi\n\/bin\/sleep\nroot:x:0:0:/);
  });

  test('the test extension image builds FROM it', async () => {
    await buildExtensionImage(engine, { tag: EXT_TAG, base: BASE_TAG });
    mark('extension image');
    const inspect = JSON.parse((await docker(engine, ['image', 'inspect', EXT_TAG])).stdout)[0];
    const labels = inspect.Config.Labels;
    assert.equal(labels['org.opencontainers.image.title'], 'Engine test');
    assert.equal(labels['org.opencontainers.image.vendor'], 'dext tests');
    assert.ok(labels['org.opencontainers.image.description']);
    assert.equal(labels['com.docker.desktop.extension.api.version'], '>= 0.3.0');
    assert.deepEqual(inspect.Config.Cmd, ['/backend', '/run/guest-services/backend.sock']);
    const meta = JSON.parse((await docker(engine, ['run', '--rm', EXT_TAG, 'cat', '/metadata.json'])).stdout);
    assert.equal(meta.vm.image, '${DESKTOP_PLUGIN_IMAGE}');
    assert.equal(meta.vm.exposes.socket, 'backend.sock');
    const host = await docker(engine, ['run', '--rm', EXT_TAG, '/host/linux/engine-test-host', 'x']);
    assert.equal(host.stdout, 'hello from the host binary\nx\n');
    const ls = await docker(engine, ['run', '--rm', EXT_TAG, 'ls', '/ui']);
    assert.equal(ls.stdout, 'index.html\n');
  });

  test('the backend answers GET /hello on the bind-mounted socket', async () => {
    const gs = engineTmp(engine, 'gs');
    const sock = path.join(gs, 'backend.sock');
    await docker(engine, ['run', '-d', '--name', NAME, '-v', `${gs}:/run/guest-services`, EXT_TAG]);
    try {
      mark('container started');
      await waitFor(() => fs.existsSync(sock), { what: `${sock} to appear` });
      const r = await waitFor(() => get(sock, '/hello'), { what: 'GET /hello' });
      mark('first /hello');
      assert.equal(r.status, 200);
      assert.match(r.headers['content-type'], /^application\/json/);
      assert.deepEqual(JSON.parse(r.text), { message: 'hello from the container' });
      // Keep-alive: several requests on one connection.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      const connection = new Set();
      for (let i = 0; i < 3; i++) {
        const k = await get(sock, '/hello', { agent });
        assert.equal(k.status, 200);
        connection.add(k.headers.connection);
      }
      agent.destroy();
      assert.deepEqual([...connection], ['keep-alive']);
      assert.equal((await get(sock, '/nope')).status, 404);
      const logs = await docker(engine, ['logs', NAME]);
      assert.match(logs.stdout, /listening on \/run\/guest-services\/backend\.sock/);
    } finally {
      await docker(engine, ['rm', '-f', NAME]);
    }
    const ps = await docker(engine, ['ps', '-aq']);
    assert.equal(ps.stdout, '');
  });

  test('stop leaves no process, mount or directory behind', async () => {
    const pids = engine.pids();
    assert.ok(pids.includes(engine.pid));
    const dir = engine.dir;
    stopped = true;
    await engine.stop();
    mark('engine stopped');
    const all = [...new Set([...pidsWhileUp, ...pids])];
    const alive = all.filter((pid) => {
      try {
        return !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
      } catch { return false; }
    });
    // A pid recycled by an unrelated process would be a false alarm; engine.pids()
    // checks start times, so prefer it and only report the raw list for context.
    assert.deepEqual(engine.pids(), [], `still alive: ${alive}`);
    assert.equal(fs.existsSync(dir), false);
    assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false);
  });
});

describe('engine stop after dockerd was killed', { skip: skip || false, timeout: 300000 }, () => {
  test('the shim and its container are killed, and nothing is left', async () => {
    const engine = await startEngine();
    let stopped = false;
    try {
      await buildBaseImage(engine, BASE_TAG);
      const id = (await docker(engine, ['run', '-d', BASE_TAG, 'sleep', '1000'])).stdout.trim();
      const top = await docker(engine, ['top', id, '-o', 'pid']);
      const sleepPid = Number(top.stdout.trim().split('\n')[1]);
      assert.ok(sleepPid > 0, top.stdout);
      const pids = engine.pids();
      assert.ok(pids.includes(sleepPid), `the container's process is the engine's: ${pids}`);
      const shims = pids.filter((pid) => {
        try { return fs.readFileSync(`/proc/${pid}/cmdline`, 'utf8').startsWith('/usr/bin/containerd-shim'); } catch { return false; }
      });
      assert.equal(shims.length, 1, `one shim: ${pids}`);
      const cg = fs.readFileSync(`/proc/${sleepPid}/cgroup`, 'utf8');
      assert.ok(cg.includes(`${engine.cgroupParent}/${id}`), cg);
      // No graceful shutdown: dockerd is gone, its shim and container are not.
      process.kill(engine.pid, 'SIGKILL');
      const dir = engine.dir;
      stopped = true;
      await engine.stop();
      assert.deepEqual(engine.pids(), []);
      assert.equal(fs.existsSync(`/proc/${sleepPid}`) &&
        !/^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${sleepPid}/stat`, 'utf8')), false);
      assert.equal(fs.existsSync(dir), false);
      assert.equal(fs.readFileSync('/proc/self/mountinfo', 'utf8').includes(dir), false);
    } finally {
      if (!stopped) await engine.stop();
    }
  });
});
