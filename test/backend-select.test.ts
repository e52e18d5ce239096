import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { parseBackendChoice, parseThreads, BACKEND_CHOICES } from '../lib/backend/select';
import { runCli } from './helpers';

test('parseBackendChoice accepts the four values, case-insensitively, and defaults to auto', () => {
  for (const v of BACKEND_CHOICES) assert.equal(parseBackendChoice(v), v);
  assert.equal(parseBackendChoice('WASM'), 'wasm');
  assert.equal(parseBackendChoice(undefined), 'auto');
  assert.equal(parseBackendChoice(''), 'auto');
});

test('a wrong backend value is an error naming the variable and listing the valid values', () => {
  assert.throws(() => parseBackendChoice('gpu'), /XAI3D_BACKEND="gpu" is not a valid backend; use one of: auto, tensorflow, wasm, cpu/);
});

test('parseThreads validates XAI3D_THREADS', () => {
  assert.equal(parseThreads('1'), 1);
  assert.equal(parseThreads('2'), 2);
  assert.ok(parseThreads(undefined) >= 1);
  for (const bad of ['0', '-1', '1.5', 'two', '1000']) assert.throws(() => parseThreads(bad), /XAI3D_THREADS=/);
});

test('xai3d info prints valid JSON with backend, versions and data locations', () => {
  const r = runCli(['info'], { XAI3D_BACKEND: 'cpu', XAI3D_QUIET: '0' });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.equal(info.backend.name, 'cpu');
  assert.equal(info.backend.requested, 'cpu');
  assert.equal(info.versions.packages['@tensorflow/tfjs'], '4.22.0');
  assert.equal(info.versions.packages['@tensorflow/tfjs-backend-wasm'], '4.22.0');
  assert.equal(typeof info.paths.data, 'string');
  assert.equal(typeof info.paths.results, 'string');
  assert.ok('mnistDigits' in info.dataSources);
  // The backend is logged once, on stderr (stdout stays pure JSON).
  assert.equal(r.stderr.match(/xai3d: backend cpu/g)?.length, 1, r.stderr);
});

test('auto picks wasm when tfjs-node-gpu is absent and records why', () => {
  const r = runCli(['info'], { XAI3D_BACKEND: 'auto' });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.ok(['tensorflow', 'wasm'].includes(info.backend.name), info.backend.name);
  if (info.backend.name === 'wasm') assert.match(info.backend.notes.join(' '), /tfjs-node-gpu/);
});

test('XAI3D_BACKEND=nonsense makes xai3d info fail with a clear message', () => {
  const r = runCli(['info'], { XAI3D_BACKEND: 'nonsense' });
  assert.equal(r.status, 1);
  assert.equal(r.stdout, '');
  assert.match(r.stderr, /XAI3D_BACKEND="nonsense" is not a valid backend; use one of: auto, tensorflow, wasm, cpu/);
  assert.doesNotMatch(r.stderr, /    at /, 'no stack trace');
});

test('XAI3D_BACKEND=tensorflow without tfjs-node-gpu fails and says how to get it', () => {
  const r = runCli(['info'], { XAI3D_BACKEND: 'tensorflow' });
  if (r.status === 0) return; // a machine with tfjs-node-gpu installed
  assert.equal(r.status, 1);
  assert.match(r.stderr, /tfjs-node-gpu/);
  assert.match(r.stderr, /XAI3D_BACKEND=wasm/);
});

test('xai3d --help lists the commands; an unknown command exits 2', () => {
  const h = runCli(['--help']);
  assert.equal(h.status, 0);
  assert.match(h.stdout, /info/);
  const u = runCli(['frobnicate']);
  assert.equal(u.status, 2);
  assert.match(u.stderr, /unknown command "frobnicate"/);
});
