// SPDX-License-Identifier: MIT
// What the Electron hosts do for a blocking exec: child_process.execFile, N in a row.
//
//   node bench/node-execfile.mjs [-n N] [--warmup N] [--file PROGRAM]
//
// Prints one JSON line: iterations, mean_ms, p50_ms, p99_ms, max_ms.
import { execFile } from 'node:child_process';
import { argv, exit, hrtime } from 'node:process';

let n = 2000;
let warmup = 100;
let file = '/bin/true';
for (let i = 2; i < argv.length; i++) {
  const v = argv[i + 1];
  if (argv[i] === '-n' && v) n = Number(argv[++i]);
  else if (argv[i] === '--warmup' && v) warmup = Number(argv[++i]);
  else if (argv[i] === '--file' && v) file = argv[++i];
  else {
    console.error('Usage: node-execfile.mjs [-n N] [--warmup N] [--file PROGRAM]');
    exit(2);
  }
}
if (!(n > 0) || !(warmup >= 0)) {
  console.error('node-execfile: N must be a positive number');
  exit(2);
}

function once() {
  return new Promise((resolve, reject) => {
    const t0 = hrtime.bigint();
    execFile(file, [], (err) => {
      if (err) reject(err);
      else resolve(Number(hrtime.bigint() - t0) / 1e6);
    });
  });
}

const ms = [];
for (let i = 0; i < warmup + n; i++) {
  const t = await once();
  if (i >= warmup) ms.push(t);
}
ms.sort((a, b) => a - b);
const rank = (p) => ms[Math.min(ms.length, Math.max(1, Math.ceil((p / 100) * ms.length))) - 1];
const mean = ms.reduce((a, b) => a + b, 0) / ms.length;
console.log(JSON.stringify({
  iterations: n,
  mean_ms: +mean.toFixed(4),
  p50_ms: +rank(50).toFixed(4),
  p99_ms: +rank(99).toFixed(4),
  max_ms: +ms[ms.length - 1].toFixed(4),
}));
