// `dext install` of an image the engine does not have: pulled from a registry on
// loopback (registry.mjs) with progress on a terminal, then installed; a pulled image
// that dext refuses is removed again, so a failed install leaves nothing behind.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  BASE_TAG, buildBaseImage, buildExtensionImage, buildImage, docker, engineTmp,
  engineUnavailable, run, startEngine,
} from './engine.mjs';
import { startRegistry } from './registry.mjs';
import { DEXT, runDext, tmpState } from '../integration/lib.mjs';

const skip = engineUnavailable();

describe('install pulls a missing image', { skip: skip || false, timeout: 600000 }, () => {
  let engine;
  let registry;
  let st;
  let env;

  before(async () => {
    engine = await startEngine();
    await buildBaseImage(engine);
    await buildExtensionImage(engine, { tag: 'dext-test/engine-ext:1' });
    const ctx = engineTmp(engine, 'too-new');
    fs.writeFileSync(path.join(ctx, 'Dockerfile'),
      'FROM dext-test/engine-ext:1\nLABEL com.docker.desktop.extension.api.version=">= 7.0"\n');
    await buildImage(engine, ctx, 'dext-test/too-new:1');
    registry = await startRegistry(engine, {
      'dext/pulled:1.0.0': 'dext-test/engine-ext:1',
      'dext/too-new:1': 'dext-test/too-new:1',
      'dext/checked:1': 'dext-test/engine-ext:1',
    });
    // Nothing of it stays on the engine: the install must download every layer.
    await docker(engine, ['rmi', 'dext-test/engine-ext:1', 'dext-test/too-new:1', BASE_TAG]);
    st = tmpState();
    env = { ...st.env, DOCKER_HOST: engine.dockerHost, DOCKER_CONFIG: engine.env.DOCKER_CONFIG };
  });
  after(async () => {
    await registry?.stop();
    if (engine) await engine.stop();
  });

  test('on a terminal, the pull shows layers and bytes; then the install completes', async () => {
    const ref = `${registry.host}/dext/pulled:1.0.0`;
    // script(1) gives dext a terminal; its output is the terminal's.
    const cmd = `${DEXT} install ${ref}`;
    const r = await run('script', ['-qfec', cmd, '/dev/null'], { env, check: false, timeoutMs: 300000 });
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`Pulling ${ref.replace(/[.]/g, '\\.')}: \\d+/\\d+ layers, [\\d.]+/[\\d.]+ MB`));
    const last = r.stdout.split('\r').filter((l) => l.includes('layers')).pop();
    const [, done, total] = /: (\d+)\/(\d+) layers/.exec(last);
    assert.equal(done, total, 'every layer pulled');
    assert.ok(Number(total) >= 2);
    assert.match(r.stdout, /Installed extension/);
    assert.ok(registry.requests.some((q) => q.startsWith('GET /v2/dext/pulled/blobs/sha256:')), 'layers came from the registry');
    const name = `${registry.host.replace(':', '_')}_dext_pulled`;
    const ls = JSON.parse((await runDext(['ls', '--json'], { env })).stdout);
    assert.deepEqual(ls.map((e) => [e.name, e.version, e.vm.state]), [[name, '1.0.0', 'running']]);
    assert.equal((await runDext(['rm', name], { env, timeoutMs: 60000 })).code, 0);
  });

  test('without a terminal, no progress lines; a refused pulled image is removed again', async () => {
    const ref = `${registry.host}/dext/too-new:1`;
    const r = await runDext(['install', ref], { env, timeoutMs: 300000 });
    assert.equal(r.code, 1);
    assert.doesNotMatch(r.stderr, /Pulling/);
    assert.match(r.stderr, />= 7\.0.*0\.4\.2/);
    const images = await docker(engine, ['images', '-q', `${registry.host}/dext/too-new`]);
    assert.equal(images.stdout.trim(), '', 'the image this install pulled is gone');
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')), []);
  });

  test('a tag the registry does not have: the registry\'s answer, nothing left', async () => {
    const r = await runDext(['install', `${registry.host}/dext/pulled:9.9.9`], { env, timeoutMs: 120000 });
    assert.equal(r.code, 1);
    assert.match(r.stderr, /manifest|not found|unknown/i);
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')), []);
  });

  test('validate IMAGE pulls it, checks it, installs nothing and removes it again', async () => {
    const before = JSON.parse((await runDext(['ls', '--json'], { env })).stdout);
    const ref = `${registry.host}/dext/checked:1`;
    const r = await runDext(['validate', ref], { env, timeoutMs: 300000 });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `The extension image "${ref}" is valid\n`);
    assert.equal((await docker(engine, ['images', '-q', `${registry.host}/dext/checked`])).stdout.trim(), '');
    assert.deepEqual(JSON.parse((await runDext(['ls', '--json'], { env })).stdout), before);
    assert.deepEqual(fs.readdirSync(path.join(st.data, 'dext/extensions')).filter((f) => f.startsWith('.')), []);
    const tooNew = await runDext(['validate', `${registry.host}/dext/too-new:1`], { env, timeoutMs: 300000 });
    assert.equal(tooNew.code, 1);
    assert.match(tooNew.stderr, />= 7\.0.*0\.4\.2/);
    assert.equal((await docker(engine, ['images', '-q', `${registry.host}/dext/too-new`])).stdout.trim(), '');
  });
});
