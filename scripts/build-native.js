#!/usr/bin/env node
// Build xai3d's native convolution kernels (native/kernels.cc -> build/Release/xai3d_native.node) with node-gyp.
// Run by `npm ci` / `npm install` (the package's install script) and by `npm run build:native`. A failed build is
// not an install failure: xai3d then runs its wasm SIMD kernels, says so on the backend line, and
// `npm run build:native` shows the compiler's output. `--strict` (CI, tests) makes a failure an error.
'use strict';
const { spawnSync } = require('child_process');
const fs = require('fs');
const path = require('path');

const root = path.join(__dirname, '..');
const strict = process.argv.includes('--strict');
if (process.arch !== 'x64') {
  console.log(`xai3d: native kernels are for x86-64 (AVX2 + FMA); this is ${process.arch}: the wasm kernels will run`);
  process.exit(0);
}
// node-gyp ships with npm; the headers come from the nodedir npm is configured with, else /usr/include/node.
const candidates = [
  process.env.npm_config_node_gyp,
  path.join(path.dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  '/usr/lib/node_modules/npm/node_modules/node-gyp/bin/node-gyp.js',
].filter(Boolean);
const gyp = candidates.find((p) => fs.existsSync(p));
if (!gyp) {
  const msg = 'xai3d: node-gyp not found (it ships with npm): native kernels not built, the wasm kernels will run';
  if (strict) { console.error(msg); process.exit(1); }
  console.log(msg);
  process.exit(0);
}
const args = [gyp, 'rebuild'];
const nodedir = process.env.npm_config_nodedir || (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined);
if (nodedir) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8' });
const built = path.join(root, 'build', 'Release', 'xai3d_native.node');
if (r.status === 0 && fs.existsSync(built)) {
  console.log(`xai3d: native kernels built (${path.relative(root, built)})`);
  process.exit(0);
}
const tail = `${r.stdout || ''}${r.stderr || ''}`.trim().split('\n').slice(-15).join('\n');
const msg = `xai3d: building the native kernels failed (exit ${r.status}); the wasm kernels will run.\n${tail}`;
if (strict) { console.error(msg); process.exit(1); }
console.log(msg);
