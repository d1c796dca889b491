// dext as an ordinary user (in a group that may use the engine socket) against a
// backend that runs as root in its container and leaves its socket as bind() made
// it: the socket directory's default ACL lets dext in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBaseImage, buildExtensionImage, buildImage, docker, engineTmp, engineUnavailable, startEngine } from './engine.mjs';
import { request, runDext, startDext, tmpState, waitFor } from '../integration/lib.mjs';

const skip = engineUnavailable() || (process.getuid() !== 0 && 'needs root to switch users');
const UID = 65534;
const GID = 4247; // the engine socket's group for this test
const TAG = 'dext-test/root-backend:1';
const NAME = 'dext-test_root-backend';

describe('an unprivileged dext and a root backend', { skip: skip || false, timeout: 600000 }, () => {
  let engine;
  let st;
  let env;
  const wrap = ['setpriv', `--reuid=${UID}`, `--regid=${UID}`, `--groups=${GID}`, '--'];

  before(async () => {
    engine = await startEngine();
    await buildBaseImage(engine);
    await buildExtensionImage(engine, { tag: 'dext-test/engine-ext:1' });
    const ctx = engineTmp(engine, 'rootbe');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'), 'FROM dext-test/engine-ext:1\nENV BACKEND_KEEP_MODE=1\nUSER 0\n');
    await buildImage(engine, ctx, TAG);
    fs.chownSync(engine.socket, 0, GID);
    fs.chmodSync(engine.socket, 0o660);
    st = tmpState();
    for (const p of [st.dir, st.data, st.run]) fs.chownSync(p, UID, UID);
    env = { ...st.env, HOME: st.dir, DOCKER_HOST: engine.dockerHost, PATH: '/usr/local/bin:/usr/bin:/bin' };
  });
  after(async () => {
    if (engine) await engine.stop();
  });

  test('install, serve and call the backend without root', async () => {
    const inst = await runDext(['install', TAG], { env, timeoutMs: 120000, wrap });
    assert.equal(inst.code, 0, inst.stderr);
    const guest = path.join(st.run, 'dext/ext', NAME);
    await waitFor(() => fs.existsSync(path.join(guest, 'backend.sock')), { what: 'backend socket' });
    const s = fs.statSync(path.join(guest, 'backend.sock'));
    assert.equal(s.uid, 0, 'the socket belongs to root');
    assert.equal(s.mode & 0o002, 0, 'and others may not write to it');
    const d = await startDext([TAG], { env, wrap, timeoutMs: 60000 });
    try {
      const r = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(JSON.parse(r.text), { message: 'hello from the container' });
      const who = await request(d.port, { method: 'POST', path: '/__dext/exec', secret: d.secret, body: JSON.stringify({ scope: 'vm', cmd: 'id', args: ['-u'] }) });
      assert.equal(JSON.parse(who.text).stdout.trim(), '0', 'vm exec runs as the container user');
      assert.equal(fs.statSync(`/proc/${d.pid}`).uid, UID);
    } finally {
      await d.stop();
    }
    const rm = await runDext(['rm', NAME], { env, timeoutMs: 60000, wrap });
    assert.equal(rm.code, 0, rm.stderr);
    const left = await docker(engine, ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${NAME}-desktop-extension`]);
    assert.equal(left.stdout.trim(), '');
  });
});
