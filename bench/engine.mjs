// Benchmarks the engine runtime on a private dockerd (the engine suite's harness):
// vm.cli.exec round trips through dext (Engine exec API) against the `docker exec`
// CLI on the same engine and container, in one run, taking turns; and the time to
// install the test extension image, with the containers the install created.
//
//   node bench/engine.mjs [BUILD_DIR]      (default: build; needs root for dockerd)
//
// Environment: BENCH_ENGINE_N (round trips per contender and round, 40),
// BENCH_ROUNDS (5), BENCH_INSTALLS (3), DEXT_BIN, DEXT_DOCKER_CLI. Prints a markdown
// table and writes it to bench/out/engine-results.md.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  buildBaseImage, buildExtensionImage, docker, engineUnavailable, startEngine,
} from '../tests/engine/engine.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.dirname(here);
const build = path.resolve(root, process.argv[2] || 'build');
process.env.DEXT_BIN ||= path.join(build, 'dext');
const { request, runDext, startDext, tmpState } = await import('../tests/integration/lib.mjs');

const N = Number(process.env.BENCH_ENGINE_N || 40);
const ROUNDS = Number(process.env.BENCH_ROUNDS || 5);
const INSTALLS = Number(process.env.BENCH_INSTALLS || 3);
const IMAGE = 'dext-test/engine-ext:1';
const NAME = 'dext-test_engine-ext';
const CONTAINER = `${NAME}-desktop-extension-service`;

const why = engineUnavailable();
if (why) {
  console.error(`bench/engine.mjs: ${why}`);
  process.exit(1);
}

const median = (a) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]; };
const now = () => Number(process.hrtime.bigint()) / 1e6;

function spawnWait(cmd, args, env) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { env, stdio: 'ignore' });
    p.on('error', reject);
    p.on('close', (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} ${args.join(' ')}: ${code}`))));
  });
}

const engine = await startEngine();
const rows = [];
try {
  await buildBaseImage(engine);
  await buildExtensionImage(engine, { tag: IMAGE });
  const st = tmpState();
  const env = { ...st.env, DOCKER_HOST: engine.dockerHost, DOCKER_CONFIG: engine.env.DOCKER_CONFIG };

  // Install: wall time, and every container the engine created meanwhile.
  const installs = [];
  let created = 0;
  for (let i = 0; i < INSTALLS; i++) {
    const since = Math.floor(Date.now() / 1000) - 1;
    const t0 = now();
    const r = await runDext(['install', IMAGE], { env, timeoutMs: 300000 });
    installs.push(now() - t0);
    if (r.code !== 0) throw new Error(`install failed: ${r.stderr}`);
    const until = Math.ceil(Date.now() / 1000) + 1;
    const ev = await docker(engine, ['events', '--since', String(since), '--until', String(until),
      '--filter', 'type=container', '--filter', 'event=create', '--format', '{{.ID}}']);
    created = ev.stdout.split('\n').filter(Boolean).length;
    if (i < INSTALLS - 1) await runDext(['rm', NAME], { env, timeoutMs: 120000 });
  }

  const d = await startDext([IMAGE], { env, timeoutMs: 60000 });
  const body = JSON.stringify({ scope: 'vm', cmd: 'true' });
  const viaDext = async () => {
    const r = await request(d.port, { method: 'POST', path: '/__dext/exec', secret: d.secret, body });
    if (r.status !== 200 || JSON.parse(r.text).code !== 0) throw new Error(`exec: ${r.status} ${r.text}`);
  };
  const cliEnv = { ...process.env, ...engine.env, DOCKER_CLI_HINTS: 'false' };
  const viaCli = () => spawnWait(engine.dockerCli, ['exec', CONTAINER, 'true'], cliEnv);
  for (let i = 0; i < 5; i++) { await viaDext(); await viaCli(); }
  const dextRounds = [];
  const cliRounds = [];
  for (let round = 0; round < ROUNDS; round++) {
    for (const [fn, out] of [[viaDext, dextRounds], [viaCli, cliRounds]]) {
      const times = [];
      for (let i = 0; i < N; i++) {
        const t0 = now();
        await fn();
        times.push(now() - t0);
      }
      out.push(median(times));
    }
  }
  await d.stop();
  const dx = median(dextRounds);
  const cli = median(cliRounds);
  rows.push(['vm.cli.exec `true` through dext (Engine exec API)', `${dx.toFixed(1)} ms`, `${(dx / cli).toFixed(2)}×`]);
  rows.push([`\`docker exec\` CLI (${path.basename(engine.dockerCli)} ${(await docker(engine, ['version', '--format', '{{.Client.Version}}'])).stdout.trim()})`, `${cli.toFixed(1)} ms`, '1.00×']);
  rows.push([`dext install ${IMAGE} (median of ${INSTALLS})`, `${median(installs).toFixed(0)} ms`,
    `${created} containers created`]);
  const table = [
    `Engine benchmark, ${new Date().toISOString()}, ${os.cpus().length} CPUs, dockerd with vfs storage.`,
    `Median over ${ROUNDS} rounds of the per-round median of ${N} sequential round trips; contenders take turns.`,
    '',
    '| what | time | ratio / note |',
    '|---|---|---|',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    `Per-round medians, dext: ${dextRounds.map((x) => x.toFixed(1)).join(', ')} ms; CLI: ${cliRounds.map((x) => x.toFixed(1)).join(', ')} ms.`,
  ].join('\n');
  console.log(table);
  fs.mkdirSync(path.join(here, 'out'), { recursive: true });
  fs.writeFileSync(path.join(here, 'out/engine-results.md'), `${table}\n`);
} finally {
  await engine.stop();
}
