// The engine runtime on Podman's Docker-compatible API (a private `podman system
// service`): install, ls, serve, service calls, vm.cli.exec, rm.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { buildBaseImage, buildExtensionImage } from './engine.mjs';
import { podmanUnavailable, startPodman } from './podman.mjs';
import { request, runDext, startDext, tmpState, waitFor } from '../integration/lib.mjs';

const skip = podmanUnavailable();
const IMAGE = 'dext-test/engine-ext:1';
const NAME = 'dext-test_engine-ext';

describe('engine runtime on Podman', { skip: skip || false, timeout: 600000 }, () => {
  let pm;
  let st;
  let env;
  const dext = (args) => runDext(args, { env, timeoutMs: 120000 });

  before(async () => {
    pm = await startPodman();
    await buildBaseImage(pm);
    await buildExtensionImage(pm, { tag: IMAGE });
    st = tmpState();
    env = { ...st.env, DOCKER_HOST: pm.dockerHost };
  });
  after(async () => { await pm?.stop(); });

  test('install makes the backend container with the extension labels', async () => {
    const r = await dext(['install', IMAGE]);
    assert.equal(r.code, 0, r.stderr);
    const ps = pm.podman(['ps', '--format', '{{.Names}} {{.Labels}}']);
    assert.match(ps.stdout, new RegExp(`${NAME}-desktop-extension-service .*com.docker.desktop.extension:true`));
    const guest = path.join(st.run, 'dext/ext', NAME);
    await waitFor(() => fs.existsSync(path.join(guest, 'backend.sock')), { what: 'backend socket' });
    const ls = JSON.parse((await dext(['ls', '--json'])).stdout);
    assert.deepEqual(ls.map((e) => [e.name, e.vm.state]), [[NAME, 'running']]);
  });

  test('run serves it: vm.service and vm.cli.exec reach the Podman container', async () => {
    const d = await startDext([IMAGE], { env, timeoutMs: 60000 });
    try {
      const s = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret });
      assert.equal(s.status, 200, s.text);
      assert.deepEqual(JSON.parse(s.text), { message: 'hello from the container' });
      const x = await request(d.port, {
        method: 'POST', path: '/__dext/exec', secret: d.secret,
        body: JSON.stringify({ scope: 'vm', cmd: 'sh', args: ['-c', '"ls /run/guest-services; echo e >&2; exit 4"'] }),
      });
      assert.equal(x.status, 200, x.text);
      const res = JSON.parse(x.text);
      assert.deepEqual([res.stdout, res.stderr, res.code], ['backend.sock\n', 'e\n', 4]);
    } finally {
      await d.stop();
    }
  });

  test('rm removes the container and the files', async () => {
    const r = await dext(['rm', NAME]);
    assert.equal(r.code, 0, r.stderr);
    const ps = pm.podman(['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${NAME}-desktop-extension`]);
    assert.equal(ps.stdout.trim(), '');
    assert.ok(!fs.existsSync(path.join(st.data, 'dext/extensions', NAME)));
  });
});
