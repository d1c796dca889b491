// The engine runtime end to end on a real dockerd: `dext install IMAGE` (archive copy,
// label check, backend container made the way Docker Desktop makes it), `dext run
// IMAGE` (service calls, vm.cli.exec through the Engine exec API), a backend that
// dies, `dext ls`, `dext update` and `dext rm`, and the failures that must leave
// nothing behind.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BASE_TAG, buildBaseImage, buildExtensionImage, buildImage, docker, engineTmp,
  engineUnavailable, startEngine,
} from './engine.mjs';
import { openEventSession, request, runDext, startDext, tmpState, waitFor } from '../integration/lib.mjs';

const skip = engineUnavailable();
const IMAGE = 'dext-test/engine-ext:1';
const NAME = 'dext-test_engine-ext';
const PROJECT = `${NAME}-desktop-extension`;

/** Builds a derived image from a Dockerfile text (and extra files) in a fresh context. */
async function derive(engine, tag, dockerfile, files = {}) {
  const ctx = engineTmp(engine, 'derive');
  fs.writeFileSync(path.join(ctx, 'Dockerfile'), dockerfile);
  for (const [name, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(ctx, name)), { recursive: true });
    fs.writeFileSync(path.join(ctx, name), text);
  }
  await buildImage(engine, ctx, tag);
  return tag;
}

async function inspect(engine, what) {
  const r = await docker(engine, ['inspect', what]);
  return JSON.parse(r.stdout)[0];
}

async function projectContainers(engine, project = PROJECT) {
  const r = await docker(engine, ['ps', '-a', '-q', '--filter', `label=com.docker.compose.project=${project}`]);
  return r.stdout.split('\n').filter(Boolean);
}

async function exec(d, body) {
  const r = await request(d.port, { method: 'POST', path: '/__dext/exec', secret: d.secret, body: JSON.stringify(body) });
  return { status: r.status, json: r.status === 200 ? JSON.parse(r.text) : null, text: r.text };
}

describe('engine runtime: install, run, update, rm', { skip: skip || false, timeout: 900000 }, () => {
  let engine;
  let st;
  let env;
  const dext = (args, opts = {}) => runDext(args, { env, timeoutMs: 120000, ...opts });

  before(async () => {
    engine = await startEngine();
    await buildBaseImage(engine);
    await buildExtensionImage(engine, { tag: IMAGE });
    st = tmpState();
    env = { ...st.env, DOCKER_HOST: engine.dockerHost, DOCKER_CONFIG: engine.env.DOCKER_CONFIG };
  });
  after(async () => {
    if (engine) await engine.stop();
  });

  test('install copies what metadata.json names, in one container, and starts the backend', async () => {
    const r = await dext(['install', IMAGE]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Installed extension ${NAME} from ${IMAGE}`));
    const root = path.join(st.data, 'dext/extensions', NAME, 'root');
    for (const f of ['metadata.json', 'docker.svg', 'ui/index.html', 'host/linux/engine-test-host']) {
      assert.ok(fs.existsSync(path.join(root, f)), `${f} copied`);
    }
    // Modes kept; nothing the extension does not name (the backend, busybox).
    assert.equal(fs.statSync(path.join(root, 'host/linux/engine-test-host')).mode & 0o777, 0o755);
    assert.ok(!fs.existsSync(path.join(root, 'backend')));
    assert.ok(!fs.existsSync(path.join(root, 'bin')));
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')).filter((n) => n.startsWith('.')), []);
    // The copy container is gone; the backend container is made as Docker Desktop does.
    const copies = await docker(engine, ['ps', '-a', '-q', '--filter', 'label=io.dext.copy']);
    assert.equal(copies.stdout.trim(), '');
    const ids = await projectContainers(engine);
    assert.equal(ids.length, 1);
    const c = await inspect(engine, ids[0]);
    assert.equal(c.Name, `/${PROJECT}-service`);
    assert.equal(c.State.Running, true);
    assert.equal(c.Config.Labels['com.docker.desktop.extension'], 'true');
    assert.equal(c.Config.Labels['com.docker.desktop.extension.name'], 'Engine test');
    assert.equal(c.Config.Labels['org.opencontainers.image.vendor'], 'dext tests', 'image labels inherited');
    assert.equal(c.HostConfig.RestartPolicy.Name, 'always');
    const mount = c.Mounts.find((m) => m.Destination === '/run/guest-services');
    assert.equal(mount.Source, path.join(st.run, 'dext/ext', NAME));
    assert.ok(c.Config.Env.includes(`DESKTOP_PLUGIN_IMAGE=${IMAGE}`));
    await waitFor(() => fs.existsSync(path.join(mount.Source, 'backend.sock')), { what: 'backend socket' });
  });

  test('logs prints the backend container\'s output', async () => {
    await waitFor(async () => /listening on \/run\/guest-services\/backend\.sock/.test((await dext(['logs', NAME])).stdout),
      { timeoutMs: 15000, what: 'the backend log line' });
  });

  test('installing it again is refused and changes nothing', async () => {
    const r = await dext(['install', IMAGE]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /already installed.*dext update/);
    assert.equal((await projectContainers(engine)).length, 1);
  });

  test('ls shows the UI tab, the running backend and the host binary', async () => {
    const r = await dext(['ls']);
    assert.equal(r.code, 0, r.stderr);
    const line = r.stdout.split('\n').find((l) => l.startsWith(NAME));
    assert.ok(line, r.stdout);
    assert.match(line, /1 tab\(Engine test\)/);
    assert.match(line, /Running\(1\)/);
    assert.match(line, /1 binarie\(s\)/);
    assert.match(line, /dext tests/, 'PROVIDER is the image vendor');
    const js = JSON.parse((await dext(['ls', '--json'])).stdout).find((e) => e.name === NAME);
    assert.deepEqual(js.vm, { state: 'running', running: 1 });
    assert.equal(js.kind, 'image');
    assert.equal(js.provider, 'dext tests');
  });

  describe('dext run IMAGE', () => {
    let d;
    before(async () => { d = await startDext([IMAGE], { env, timeoutMs: 60000 }); });
    after(async () => { await d?.stop(); });

    test('serves the copied UI and relays vm.service to the container', async () => {
      const page = await request(d.port, { path: d.entry, secret: d.secret });
      assert.equal(page.status, 200);
      assert.match(page.text, /Engine test/);
      assert.match(page.text, /window\.ddClient|__dext/);
      const r = await request(d.port, { path: '/__dext/vm/service/hello', secret: d.secret });
      assert.equal(r.status, 200, r.text);
      assert.deepEqual(JSON.parse(r.text), { message: 'hello from the container' });
    });

    test('vm.cli.exec runs in the backend container: output, exit code, cwd, env', async () => {
      const ls = await exec(d, { scope: 'vm', cmd: 'ls', args: ['/run/guest-services'] });
      assert.equal(ls.status, 200, ls.text);
      assert.equal(ls.json.stdout.trim(), 'backend.sock');
      assert.equal(ls.json.code, 0);
      const sh = await exec(d, { scope: 'vm', cmd: 'sh', args: ['-c', '"echo out; echo err >&2; exit 3"'] });
      assert.equal(sh.json.stdout, 'out\n');
      assert.equal(sh.json.stderr, 'err\n');
      assert.equal(sh.json.code, 3);
      const pwd = await exec(d, { scope: 'vm', cmd: 'pwd', cwd: '/tmp' });
      assert.equal(pwd.json.stdout.trim(), '/tmp');
      const e = await exec(d, { scope: 'vm', cmd: 'sh', args: ['-c', '"echo $GREETING:$DESKTOP_PLUGIN_IMAGE"'], env: { GREETING: 'hi' } });
      assert.equal(e.json.stdout.trim(), `hi:${IMAGE}`);
      // The container's hostname, not the host's: it really ran in there.
      const host = await exec(d, { scope: 'vm', cmd: 'cat', args: ['/etc/hostname'] });
      const c = await inspect(engine, `${PROJECT}-service`);
      assert.equal(host.json.stdout.trim(), c.Config.Hostname);
    });

    test('a command missing in the container is a clear error', async () => {
      const r = await exec(d, { scope: 'vm', cmd: 'no-such-tool' });
      assert.equal(r.status, 200, r.text);
      assert.notEqual(r.json.code, 0);
      assert.match(r.json.stdout + r.json.stderr, /no-such-tool/);
    });

    test('a streamed vm command: frames as they come, close() ends it in the container', async () => {
      const s = await openEventSession(d);
      const post = (p, body) => request(d.port, { method: 'POST', path: p, secret: d.secret, body: JSON.stringify({ session: s.id, ...body }) });
      const r = await post('/__dext/exec/stream', { id: 1, scope: 'vm', cmd: 'sh', args: ['-c', 'echo started; echo warm >&2; exec sleep 300'] });
      assert.equal(r.status, 200, r.text);
      await waitFor(() => s.stream(1).outText === 'started\n' && s.stream(1).errText === 'warm\n', { what: 'the first frames' });
      const running = await exec(d, { scope: 'vm', cmd: 'ps' });
      assert.match(running.json.stdout, /sleep 300/);
      assert.equal((await post('/__dext/exec/close', { id: 1 })).status, 200);
      await waitFor(() => s.stream(1).exit, { timeoutMs: 15000, what: 'the exit frame' });
      assert.equal(s.stream(1).exit.signal, 'SIGTERM');
      const after = await exec(d, { scope: 'vm', cmd: 'ps' });
      assert.doesNotMatch(after.json.stdout, /sleep 300/);
      s.close();
    });

    test('docker.cli.exec runs the host\'s docker CLI against the same engine, blocking and streamed', async () => {
      const r = await exec(d, { scope: 'docker', cmd: 'ps', args: ['--format', '"{{.Names}}"'] });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.code, 0, r.json.stderr);
      assert.match(r.json.stdout, new RegExp(`^${PROJECT}-service$`, 'm'));
      const s = await openEventSession(d);
      const st = await request(d.port, { method: 'POST', path: '/__dext/exec/stream', secret: d.secret,
        body: JSON.stringify({ session: s.id, id: 3, scope: 'docker', cmd: 'inspect', args: ['--format', '{{.State.Status}}', `${PROJECT}-service`] }) });
      assert.equal(st.status, 200, st.text);
      await waitFor(() => s.stream(3).exit, { timeoutMs: 30000, what: 'docker inspect to end' });
      assert.equal(s.stream(3).outText, 'running\n');
      assert.deepEqual(s.stream(3).exit, { code: 0, signal: null });
      s.close();
    });

    test('host.cli.exec runs the host binary copied out of the image', async () => {
      const r = await exec(d, { scope: 'host', cmd: 'engine-test-host', args: ['a', 'b'] });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.json.code, 0);
      assert.ok(r.json.stdout.length > 0);
    });

    test('a backend container that dies is restarted, and calls reach the new one', async () => {
      const bye = await request(d.port, { method: 'POST', path: '/__dext/vm/service/exit', secret: d.secret });
      assert.equal(bye.status, 200);
      await waitFor(async () => (await inspect(engine, `${PROJECT}-service`)).RestartCount >= 1,
        { timeoutMs: 30000, what: 'the engine restarting the backend' });
      const r = await request(d.port, { path: '/__dext/vm/service/ping', secret: d.secret });
      assert.equal(r.status, 200, r.text);
      assert.equal(r.text, 'pong');
    });

    test('a stopped backend container: a clear error at once, then recovery', async () => {
      await docker(engine, ['stop', '-t', '1', `${PROJECT}-service`]);
      const t0 = Date.now();
      let r;
      await waitFor(async () => {
        r = await request(d.port, { path: '/__dext/vm/service/ping', secret: d.secret });
        return r.status === 503;
      }, { timeoutMs: 15000, what: 'a 503 while the backend is stopped' });
      assert.match(JSON.parse(r.text).error, /backend not running \(the backend container exited with status \d+\)/);
      assert.ok(Date.now() - t0 < 12000);
      await docker(engine, ['start', `${PROJECT}-service`]);
      await waitFor(async () => {
        const x = await request(d.port, { path: '/__dext/vm/service/ping', secret: d.secret });
        return x.status === 200;
      }, { timeoutMs: 30000, what: 'recovery after start' });
      const ls = await exec(d, { scope: 'vm', cmd: 'true' });
      assert.equal(ls.json.code, 0, 'vm exec finds the restarted container');
    });
  });

  test('dext serve lists the image extension and serves it on the engine', async () => {
    const d = await startDext([], { env, verb: 'serve', timeoutMs: 60000 });
    try {
      const list = JSON.parse((await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', secret: d.secret, body: '{}' })).text);
      const e = list.find((x) => x.name === NAME);
      assert.ok(e && e.url, JSON.stringify(list));
      const u = new URL(e.url);
      const port = Number(u.port);
      const secret = u.searchParams.get('dext-secret');
      const r = await request(port, { path: '/__dext/vm/service/hello', secret });
      assert.equal(r.status, 200, r.text);
      const x = await request(port, { method: 'POST', path: '/__dext/exec', secret, body: JSON.stringify({ scope: 'vm', cmd: 'cat', args: ['/etc/hostname'] }) });
      const c = await inspect(engine, `${PROJECT}-service`);
      assert.equal(JSON.parse(x.text).stdout.trim(), c.Config.Hostname, 'vm exec in the backend container');
    } finally {
      await d.stop();
    }
    const c = await inspect(engine, `${PROJECT}-service`);
    assert.equal(c.State.Running, true, 'the backend outlives dext serve');
    await waitFor(() => fs.existsSync(path.join(st.run, 'dext/ext', NAME, 'backend.sock')), { timeoutMs: 2000, what: 'the socket kept' });
  });

  test('update re-installs from a new image and keeps the project volumes', async () => {
    await docker(engine, ['volume', 'create', '--label', `com.docker.compose.project=${PROJECT}`, `${PROJECT}_data`]);
    await derive(engine, 'dext-test/engine-ext:2',
      `FROM ${IMAGE}\nCOPY index.html /ui/index.html\n`,
      { 'index.html': '<!doctype html><html><head><title>Engine test v2</title></head><body>v2</body></html>' });
    // A dext serve that runs across the update keeps serving the extension, on the new
    // container (Docker Desktop needs a restart for that: extensions-sdk#224).
    const d = await startDext([], { env, verb: 'serve', timeoutMs: 60000 });
    let r;
    try {
      const list = JSON.parse((await request(d.port, { method: 'POST', path: '/__dext/hub/extensions', secret: d.secret, body: '{}' })).text);
      const u = new URL(list.find((x) => x.name === NAME).url);
      const call = () => request(Number(u.port), { path: '/__dext/vm/service/hello', secret: u.searchParams.get('dext-secret') });
      const vmHostname = async () => {
        const x = await request(Number(u.port), { method: 'POST', path: '/__dext/exec', secret: u.searchParams.get('dext-secret'), body: JSON.stringify({ scope: 'vm', cmd: 'cat', args: ['/etc/hostname'] }) });
        return x.status === 200 ? JSON.parse(x.text).stdout.trim() : null;
      };
      assert.equal((await call()).status, 200);
      const before = await vmHostname();
      assert.ok(before, 'vm exec before the update');
      r = await dext(['update', '--force', 'dext-test/engine-ext:2']);
      assert.equal(r.code, 0, r.stderr);
      const after = await waitFor(async () => { const h = await vmHostname(); return h !== before && h; },
        { timeoutMs: 20000, what: 'vm exec in the new container' });
      assert.equal(after, (await inspect(engine, `${PROJECT}-service`)).Config.Hostname);
      const res = await waitFor(async () => { const x = await call(); return x.status === 200 && x; },
        { timeoutMs: 20000, what: 'a service call to the new backend' });
      assert.equal(res.status, 200);
      const page = await request(Number(u.port), { path: '/index.html', secret: u.searchParams.get('dext-secret') });
      assert.match(page.text, /Engine test v2/, 'the new UI is served');
    } finally {
      await d.stop();
    }
    const root = path.join(st.data, 'dext/extensions', NAME, 'root');
    assert.match(fs.readFileSync(path.join(root, 'ui/index.html'), 'utf8'), /v2/);
    const ids = await projectContainers(engine);
    assert.equal(ids.length, 1);
    const c = await inspect(engine, ids[0]);
    assert.equal(c.Config.Image, 'dext-test/engine-ext:2');
    assert.equal(c.State.Running, true);
    const vols = await docker(engine, ['volume', 'ls', '-q']);
    assert.match(vols.stdout, new RegExp(`${PROJECT}_data`));
    const ls = JSON.parse((await dext(['ls', '--json'])).stdout).find((e) => e.name === NAME);
    assert.equal(ls.version, '2');
  });

  test('rm takes down the project with its volumes and removes the files', async () => {
    const r = await dext(['rm', NAME]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await projectContainers(engine), []);
    const vols = await docker(engine, ['volume', 'ls', '-q']);
    assert.doesNotMatch(vols.stdout, new RegExp(`${PROJECT}_data`));
    assert.ok(!fs.existsSync(path.join(st.data, 'dext/extensions', NAME)));
    assert.equal(JSON.parse((await dext(['ls', '--json'])).stdout).length, 0);
  });

  test('as the docker CLI plugin: docker extension install | ls | update | rm IMAGE', async () => {
    const r = await dext(['cli-plugin']);
    assert.equal(r.code, 0, r.stderr);
    const cli = (args) => docker(engine, ['extension', ...args], { check: false, env: st.env });
    const inst = await cli(['install', '--force', IMAGE]);
    assert.equal(inst.code, 0, inst.stderr);
    let ls = await cli(['ls']);
    assert.match(ls.stdout, /^ID\s+PROVIDER\s+VERSION\s+UI\s+VM\s+HOST/m);
    const line = ls.stdout.split('\n').find((l) => l.startsWith(NAME));
    assert.match(line || '', /dext tests\s+1\s+1 tab\(Engine test\)\s+Running\(1\)/, ls.stdout);
    const up = await cli(['update', 'dext-test/engine-ext:2']);
    assert.equal(up.code, 0, up.stderr);
    assert.match(up.stdout, /Updated extension/);
    ls = JSON.parse((await cli(['ls', '--json'])).stdout).find((e) => e.name === NAME);
    assert.equal(ls.version, '2');
    assert.equal((await inspect(engine, (await projectContainers(engine))[0])).Config.Image, 'dext-test/engine-ext:2');
    const rm = await cli(['rm', '-f', NAME]);
    assert.equal(rm.code, 0, rm.stderr);
    assert.deepEqual(await projectContainers(engine), []);
    assert.deepEqual(JSON.parse((await cli(['ls', '--json'])).stdout), []);
  });

  test('validate IMAGE: every problem of its metadata.json by field path; nothing installed', async () => {
    await derive(engine, 'dext-test/bad-meta:1',
      `FROM ${IMAGE}\nCOPY metadata.json /metadata.json\n`,
      { 'metadata.json': JSON.stringify({ icon: 5, ui: { 'dashboard-tab': { title: 'Bad', root: '/ui', src: 7 } } }) });
    const bad = await dext(['validate', 'dext-test/bad-meta:1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /dext-test\/bad-meta:1: .*ui\.dashboard-tab\.src: expected a string/);
    assert.match(bad.stderr, /icon/);
    const good = await dext(['validate', IMAGE]);
    assert.equal(good.code, 0, good.stderr);
    assert.equal(good.stdout, `The extension image "${IMAGE}" is valid\n`);
    assert.deepEqual(JSON.parse((await dext(['ls', '--json'])).stdout), []);
    assert.equal((await docker(engine, ['ps', '-aq'])).stdout.trim(), '', 'no container is left');
    assert.equal((await docker(engine, ['images', '-q', 'dext-test/bad-meta:1'])).stdout.trim() !== '', true, 'a local image stays');
    const v = await dext(['version']);
    assert.equal(v.stdout, `Client Version: v${(await dext(['--version'])).stdout.split(' ')[1]}\nServer API Version: 0.4.2\n`);
  });

  test('rm takes the image reference too, as docker extension rm does', async () => {
    assert.equal((await dext(['install', IMAGE])).code, 0);
    const r = await dext(['uninstall', IMAGE]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`Removed extension ${NAME}`));
    assert.deepEqual(await projectContainers(engine), []);
    assert.equal((await dext(['rm', IMAGE])).code, 1, 'not installed any more');
  });

  test('a UI-only image (FROM scratch, no CMD, no vm): installed and served with no container', async () => {
    const ctx = engineTmp(engine, 'uionly');
    fs.mkdirSync(path.join(ctx, 'ui'));
    fs.writeFileSync(path.join(ctx, 'ui/index.html'), '<!doctype html><html><head><title>UI only</title></head><body>ui only</body></html>');
    fs.writeFileSync(path.join(ctx, 'metadata.json'), JSON.stringify({
      ui: { 'dashboard-tab': { title: 'UI only', root: '/ui', src: 'index.html' } },
      host: { binaries: [{ linux: [{ path: '/tools/' }], darwin: [{ path: '/tools/' }] }] },
    }));
    fs.mkdirSync(path.join(ctx, 'tools/lib'), { recursive: true });
    fs.writeFileSync(path.join(ctx, 'tools/run.sh'), '#!/bin/sh\necho run\n', { mode: 0o755 });
    fs.writeFileSync(path.join(ctx, 'tools/lib/app.properties'), 'a=1\n', { mode: 0o640 });
    fs.writeFileSync(path.join(ctx, 'Dockerfile'),
      'FROM scratch\nLABEL com.docker.desktop.extension.api.version=">= 0.3.3"\nCOPY metadata.json /\nCOPY ui /ui\nCOPY tools /tools\n');
    await buildImage(engine, ctx, 'dext-test/ui-only:0.1.0');
    const r = await dext(['install', 'dext-test/ui-only:0.1.0']);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(await projectContainers(engine, 'dext-test_ui-only-desktop-extension'), []);
    // A host binary directory comes whole, modes kept.
    const tools = path.join(st.data, 'dext/extensions/dext-test_ui-only/root/tools');
    assert.equal(fs.statSync(path.join(tools, 'run.sh')).mode & 0o777, 0o755);
    assert.equal(fs.statSync(path.join(tools, 'lib/app.properties')).mode & 0o777, 0o640);
    const row = JSON.parse((await dext(['ls', '--json'])).stdout).find((e) => e.name === 'dext-test_ui-only');
    assert.equal(row.vm, null);
    const d = await startDext(['dext-test/ui-only:0.1.0'], { env, timeoutMs: 60000 });
    try {
      const page = await request(d.port, { path: d.entry, secret: d.secret });
      assert.match(page.text, /ui only/);
    } finally {
      await d.stop();
    }
    assert.equal((await dext(['rm', 'dext-test_ui-only'])).code, 0);
  });

  test('an image without metadata.json: refused, nothing left', async () => {
    await derive(engine, 'dext-test/not-an-ext:1',
      `FROM ${BASE_TAG}\nLABEL com.docker.desktop.extension.api.version=">= 0.3.0"\n`);
    const r = await dext(['install', 'dext-test/not-an-ext:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /no \/metadata\.json/);
    assert.equal(JSON.parse((await dext(['ls', '--json'])).stdout).length, 0);
    assert.deepEqual(await projectContainers(engine, 'dext-test_not-an-ext-desktop-extension'), []);
    const all = await docker(engine, ['ps', '-a', '-q', '--filter', 'label=io.dext.copy']);
    assert.equal(all.stdout.trim(), '');
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')), []);
  });

  test('an image whose api.version dext does not satisfy: refused with both versions', async () => {
    await derive(engine, 'dext-test/too-new:1',
      `FROM ${IMAGE}\nLABEL com.docker.desktop.extension.api.version=">= 9.1.0"\n`);
    const r = await dext(['install', 'dext-test/too-new:1']);
    assert.equal(r.code, 1);
    assert.match(r.stderr, />= 9\.1\.0/);
    assert.match(r.stderr, /0\.4\.2/);
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')), []);
  });

  test('an image that is nowhere: the pull error, nothing left', async () => {
    const r = await dext(['install', '127.0.0.1:9/dext-test/missing:1'], { timeoutMs: 120000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /dext: .*(127\.0\.0\.1:9|missing)/);
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')), []);
  });

  test('no engine: the error names the endpoint tried', async () => {
    const r = await dext(['install', IMAGE], { env: { ...env, DOCKER_HOST: `unix://${engine.dir}/none.sock` } });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`${engine.dir}/none\\.sock`));
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')), []);
  });
});
