// vm.composefile backends on a real dockerd: the author's compose file through the
// compose CLI that is present, with every service labelled, the socket directory
// mounted, restart "always", DESKTOP_PLUGIN_IMAGE interpolated and
// /var/run/docker.sock.raw mapped to the engine's socket; vm.cli.exec reaches the
// service running the extension image; update keeps named volumes, rm removes them.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BASE_TAG, buildBaseImage, buildExtensionImage, buildImage, docker, engineTmp,
  engineUnavailable, startEngine,
} from './engine.mjs';
import { request, runDext, startDext, tmpState, waitFor } from '../integration/lib.mjs';

const skip = engineUnavailable();
const TAG1 = 'dext-test/compose-ext:1';
const TAG2 = 'dext-test/compose-ext:2';
const NAME = 'dext-test_compose-ext';
const PROJECT = `${NAME}-desktop-extension`;

const metadata = {
  icon: 'docker.svg',
  ui: { 'dashboard-tab': { title: 'Compose test', root: '/ui', src: 'index.html' } },
  vm: { composefile: 'docker-compose.yaml', exposes: { socket: 'backend.sock' } },
};

const compose = `version: "3.7"
services:
  backend:
    image: \${DESKTOP_PLUGIN_IMAGE}
    volumes:
      - data:/data
      - /var/run/docker.sock.raw:/var/run/docker.sock
  helper:
    image: ${BASE_TAG}
    command: ["sleep", "3600"]
volumes:
  data:
`;

async function composeImage(engine, tag, base) {
  const ctx = engineTmp(engine, 'compose');
  fs.writeFileSync(path.join(ctx, 'metadata.json'), JSON.stringify(metadata));
  fs.writeFileSync(path.join(ctx, 'docker-compose.yaml'), compose);
  fs.writeFileSync(path.join(ctx, 'Dockerfile'),
    `FROM ${base}\nLABEL org.opencontainers.image.title="Compose test"\n` +
    'COPY metadata.json docker-compose.yaml /\n');
  await buildImage(engine, ctx, tag);
}

async function containers(engine) {
  const r = await docker(engine, ['ps', '-a', '--format', '{{.Names}}', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
  return r.stdout.split('\n').filter(Boolean).sort();
}

async function inspect(engine, what) {
  return JSON.parse((await docker(engine, ['inspect', what])).stdout)[0];
}

async function vmExec(d, cmd, args = []) {
  const r = await request(d.port, {
    method: 'POST', path: '/__dext/exec', secret: d.secret,
    body: JSON.stringify({ scope: 'vm', cmd, args }),
  });
  assert.equal(r.status, 200, r.text);
  return JSON.parse(r.text);
}

describe('compose-file backends', { skip: skip || false, timeout: 900000 }, () => {
  let engine;
  let st;
  let env;
  const dext = (args) => runDext(args, { env, timeoutMs: 180000 });

  before(async () => {
    engine = await startEngine();
    await buildBaseImage(engine);
    await buildExtensionImage(engine, { tag: 'dext-test/engine-ext:1' });
    await composeImage(engine, TAG1, 'dext-test/engine-ext:1');
    await composeImage(engine, TAG2, TAG1);
    st = tmpState();
    env = { ...st.env, DOCKER_HOST: engine.dockerHost, DOCKER_CONFIG: engine.env.DOCKER_CONFIG };
  });
  after(async () => {
    if (engine) await engine.stop();
  });

  test('install runs every service, labelled and mounted as Docker Desktop does', async () => {
    const r = await dext(['install', TAG1]);
    assert.equal(r.code, 0, r.stderr);
    const names = await containers(engine);
    assert.equal(names.length, 2, names.join(','));
    const guest = path.join(st.run, 'dext/ext', NAME);
    for (const n of names) {
      const c = await inspect(engine, n);
      assert.equal(c.Config.Labels['com.docker.desktop.extension'], 'true', n);
      assert.equal(c.Config.Labels['com.docker.desktop.extension.name'], 'Compose test', n);
      assert.equal(c.HostConfig.RestartPolicy.Name, 'always', n);
      assert.ok(c.Mounts.some((m) => m.Destination === '/run/guest-services' && m.Source === guest), n);
      assert.equal(c.State.Running, true, n);
    }
    const backend = await inspect(engine, names.find((n) => n.includes('backend')));
    assert.equal(backend.Config.Image, TAG1, 'DESKTOP_PLUGIN_IMAGE interpolated');
    const sock = backend.Mounts.find((m) => m.Destination === '/var/run/docker.sock');
    assert.equal(sock.Source, engine.socket, 'docker.sock.raw is the engine socket');
    await waitFor(() => fs.existsSync(path.join(guest, 'backend.sock')), { what: 'backend socket' });
    const ls = JSON.parse((await dext(['ls', '--json'])).stdout).find((e) => e.name === NAME);
    assert.deepEqual(ls.vm, { state: 'running', running: 2 });
  });

  test('the UI reaches the backend; vm.cli.exec runs in the extension image service', async () => {
    const d = await startDext([TAG1], { env, timeoutMs: 60000 });
    try {
      const r = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret });
      assert.equal(r.status, 200, r.text);
      const hasBackend = await vmExec(d, 'ls', ['/backend']);
      assert.equal(hasBackend.code, 0, 'the service running the extension image');
      const sock = await vmExec(d, 'ls', ['-l', '/var/run/docker.sock']);
      assert.match(sock.stdout, /^s/, 'the engine socket inside the backend');
      const w = await vmExec(d, 'sh', ['-c', '"echo kept > /data/state"']);
      assert.equal(w.code, 0);
    } finally {
      await d.stop();
    }
  });

  test('update keeps the named volume', async () => {
    const r = await dext(['update', TAG2]);
    assert.equal(r.code, 0, r.stderr);
    const backend = await inspect(engine, (await containers(engine)).find((n) => n.includes('backend')));
    assert.equal(backend.Config.Image, TAG2);
    const d = await startDext([TAG2], { env, timeoutMs: 60000 });
    try {
      const kept = await vmExec(d, 'cat', ['/data/state']);
      assert.equal(kept.stdout, 'kept\n');
    } finally {
      await d.stop();
    }
  });

  test('rm removes the services, the network and the volume', async () => {
    const r = await dext(['rm', NAME]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await containers(engine), []);
    const vols = await docker(engine, ['volume', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
    assert.equal(vols.stdout.trim(), '');
    const nets = await docker(engine, ['network', 'ls', '-q', '--filter', `label=com.docker.compose.project=${PROJECT}`]);
    assert.equal(nets.stdout.trim(), '');
  });
});
