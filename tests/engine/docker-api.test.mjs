// ddClient.docker.listContainers / listImages through dext against a real dockerd:
// the Engine API's JSON passed through, options mapped to query parameters.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { BASE_TAG, buildBaseImage, docker, engineUnavailable, startEngine } from './engine.mjs';
import { tmpState, makeExt, serviceMeta, startDext, request, runDext } from '../integration/lib.mjs';

const skip = engineUnavailable();

describe('docker list calls on a real engine', { skip: skip || false, timeout: 300000 }, () => {
  let engine;
  let d;
  let st;
  before(async () => {
    engine = await startEngine();
    await buildBaseImage(engine);
    await docker(engine, ['run', '-d', '--name', 'dext-list-running', '--label', 'dext.test=1', BASE_TAG, 'sleep', '300']);
    await docker(engine, ['run', '--name', 'dext-list-exited', '--label', 'dext.test=1', BASE_TAG, 'true']);
    st = tmpState();
    const dir = makeExt(st.dir, 'lister', serviceMeta());
    d = await startDext([dir], { env: { ...st.env, DOCKER_HOST: engine.dockerHost } });
  });
  after(async () => {
    await d?.stop();
    if (engine) {
      await docker(engine, ['rm', '-f', 'dext-list-running', 'dext-list-exited', 'dext-made-run', 'dext-made-create'], { check: false });
      await engine.stop();
    }
  });

  const list = async (what, options) => {
    const r = await request(d.port, { method: 'POST', path: `/__dext/docker/${what}`, secret: d.secret, body: JSON.stringify(options) });
    return { status: r.status, json: JSON.parse(r.text) };
  };

  test('listContainers: running only by default, all with {all: true}, Engine fields as is', async () => {
    const running = await list('containers', {});
    assert.equal(running.status, 200);
    assert.deepEqual(running.json.map((c) => c.Names[0]), ['/dext-list-running']);
    const c = running.json[0];
    assert.equal(c.State, 'running');
    assert.equal(c.Labels['dext.test'], '1');
    assert.equal(typeof c.Created, 'number');
    const all = await list('containers', { all: true });
    assert.deepEqual(all.json.map((x) => x.Names[0]).sort(), ['/dext-list-exited', '/dext-list-running']);
  });

  test('filters as a JSON string (as the docs show) or an object; limit', async () => {
    const exited = await list('containers', { all: true, filters: JSON.stringify({ status: ['exited'] }) });
    assert.deepEqual(exited.json.map((x) => x.Names[0]), ['/dext-list-exited']);
    const byLabel = await list('containers', { all: true, filters: { label: ['dext.test=1'] } });
    assert.equal(byLabel.json.length, 2);
    const one = await list('containers', { all: true, limit: 1 });
    assert.equal(one.json.length, 1);
  });

  test('listImages passes the Engine JSON through', async () => {
    const r = await list('images', {});
    assert.equal(r.status, 200);
    const base = r.json.find((i) => (i.RepoTags || []).includes(BASE_TAG));
    assert.ok(base, 'the base image is listed');
    assert.match(base.Id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(typeof base.Size, 'number');
  });

  test('v0 execInContainer runs through the Engine exec API in the named container', async () => {
    const exec = (body) => request(d.port, { method: 'POST', path: '/__dext/exec', secret: d.secret, body: JSON.stringify({ scope: 'container', ...body }) });
    const r = await exec({ container: 'dext-list-running', cmd: 'cat /etc/hostname', args: [] });
    assert.equal(r.status, 200, r.text);
    const hostname = JSON.parse((await docker(engine, ['inspect', 'dext-list-running'])).stdout)[0].Config.Hostname;
    const res = JSON.parse(r.text);
    assert.equal(res.stdout.trim(), hostname);
    assert.equal(res.code, 0);
    const quoted = JSON.parse((await exec({ container: 'dext-list-running', cmd: 'sh -c "echo a b; exit 5"', args: [] })).text);
    assert.equal(quoted.stdout, 'a b\n');
    assert.equal(quoted.code, 5);
    const missing = await exec({ container: 'no-such-container', cmd: 'true', args: [] });
    assert.equal(missing.status, 404);
    assert.match(JSON.parse(missing.text).error, /no-such-container/);
  });

  test('an engine that does not answer gives a clear error naming the endpoint', async () => {
    const st = tmpState();
    const dir = makeExt(st.dir, 'noengine', serviceMeta());
    const x = await startDext([dir], { env: { ...st.env, DOCKER_HOST: `unix://${st.dir}/nothing.sock` } });
    try {
      const r = await request(x.port, { method: 'POST', path: '/__dext/docker/containers', secret: x.secret, body: '{}' });
      assert.equal(r.status, 502);
      assert.equal(r.headers['x-dext-error'], '1');
      assert.match(JSON.parse(r.text).error, new RegExp(`cannot reach the Docker engine at unix://${st.dir}/nothing\\.sock`));
    } finally { await x.stop(); }
  });
  // Last: it removes the extension.
  test('containers made with docker.cli.exec run|create carry the extension\'s label; dext rm removes them, only them', async () => {
    const exec = async (cmd, args) => {
      const r = await request(d.port, { method: 'POST', path: '/__dext/exec', secret: d.secret, body: JSON.stringify({ scope: 'docker', cmd, args }) });
      assert.equal(r.status, 200, r.text);
      const res = JSON.parse(r.text);
      assert.equal(res.code, 0, res.stderr);
      return res;
    };
    await exec('run', ['-d', '--name', 'dext-made-run', BASE_TAG, 'sleep', '300']);
    await exec('container', ['create', '--name', 'dext-made-create', '--label', 'own=1', BASE_TAG, 'true']);
    const labels = async (name) => JSON.parse((await docker(engine, ['inspect', name])).stdout)[0].Config.Labels;
    assert.equal((await labels('dext-made-run'))['io.dext.extension'], 'lister');
    const own = await labels('dext-made-create');
    assert.equal(own['io.dext.extension'], 'lister');
    assert.equal(own.own, '1', 'the extension\'s own labels stay');
    assert.equal((await labels('dext-list-running'))['io.dext.extension'], undefined);
    // Other commands are passed as they are.
    const ps = await exec('ps', ['-a', '--format', '{{.Names}}']);
    assert.match(ps.stdout, /dext-made-run/);
    await d.stop();
    d = null;
    const rm = await runDext(['rm', 'lister'], { env: { ...st.env, DOCKER_HOST: engine.dockerHost } });
    assert.equal(rm.code, 0, rm.stderr);
    const left = (await docker(engine, ['ps', '-a', '--format', '{{.Names}}'])).stdout.split('\n').filter(Boolean).sort();
    assert.deepEqual(left, ['dext-list-exited', 'dext-list-running']);
  });
});
