/** The results cache with concurrent writers: one computes, the others wait and reuse; a killed holder is taken over. */
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { spawn } from 'child_process';
import * as fs from 'fs';
import * as path from 'path';
import { withLock } from '../lib/cache/lock';
import { PROJECT_ROOT } from '../lib/env/paths';
import { tempDir } from './helpers';

const WORKER = path.join(PROJECT_ROOT, 'test', 'fixtures', 'lock-worker.ts');

function worker(results: string, log: string, sleepMs: number) {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER, log, String(sleepMs)], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, XAI3D_RESULTS: results, XAI3D_BACKEND: 'cpu', XAI3D_QUIET: '1' },
  });
  let out = '';
  child.stdout.on('data', (d) => (out += d));
  const done = new Promise<{ code: number | null; out: string }>((resolve) => child.on('close', (code) => resolve({ code, out })));
  return { child, done };
}

test('four processes asking for one key: exactly one computes, all four get its result', { timeout: 120_000 }, async () => {
  const results = tempDir();
  const log = path.join(results, 'computed.log');
  const runs = [0, 1, 2, 3].map(() => worker(results, log, 2000));
  const outs = await Promise.all(runs.map((r) => r.done));
  for (const o of outs) assert.equal(o.code, 0, o.out);
  const computed = fs.readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(computed.length, 1, `computed by ${computed.join(', ')}`);
  const by = outs.map((o) => JSON.parse(o.out.trim().split('\n').pop()!).by);
  assert.deepEqual(new Set(by), new Set([Number(computed[0])]));
});

test('a lock holder killed with kill -9 is taken over: the next process computes and publishes', { timeout: 120_000 }, async () => {
  const results = tempDir();
  const log = path.join(results, 'computed.log');
  const holder = worker(results, log, 60_000);
  // Wait until the holder is computing (it logs its pid inside the lock).
  for (let i = 0; i < 200 && !(fs.existsSync(log) && fs.readFileSync(log, 'utf8').trim()); i++) await new Promise((r) => setTimeout(r, 100));
  assert.ok(fs.existsSync(log), 'the holder started computing');
  holder.child.kill('SIGKILL');
  await holder.done;
  const next = await worker(results, log, 10).done;
  assert.equal(next.code, 0, next.out);
  const computed = fs.readFileSync(log, 'utf8').trim().split('\n');
  assert.equal(computed.length, 2);
  assert.equal(JSON.parse(next.out.trim()).by, Number(computed[1]));
  // No lock and no temporary folder is left behind.
  const left = fs.readdirSync(path.join(results, 'locktest'));
  assert.deepEqual(left.filter((f) => f.endsWith('.lock') || f.startsWith('.tmp-')), []);
});

test('a lock of another host whose heartbeat stopped is stale after the limit; a live heartbeat is respected', async () => {
  const dir = tempDir();
  const lock = path.join(dir, 'k.lock');
  fs.writeFileSync(lock, JSON.stringify({ host: 'some-other-node', pid: 1, startedAt: '', heartbeatMs: 0 }));
  const old = new Date(Date.now() - 10_000);
  fs.utimesSync(lock, old, old);
  let ran = false;
  const r = await withLock(lock, () => false, async () => {
    ran = true;
    // While we hold it, the heartbeat thread keeps the lock fresh even though this thread is blocked.
    const t0 = Date.now();
    while (Date.now() - t0 < 400) {
      /* busy: no event loop turns */
    }
    return 7;
  }, { staleMs: 300, heartbeatMs: 100, pollMs: 20 });
  assert.ok(ran && r.computed && r.value === 7);
  assert.ok(!fs.existsSync(lock), 'released');
  // A fresh lock of another host is waited for (here until the timeout).
  fs.writeFileSync(lock, JSON.stringify({ host: 'some-other-node', pid: 1, startedAt: '', heartbeatMs: Date.now() }));
  const beat = setInterval(() => fs.utimesSync(lock, new Date(), new Date()), 50);
  try {
    await assert.rejects(withLock(lock, () => false, async () => 1, { staleMs: 300, heartbeatMs: 100, pollMs: 20, timeoutMs: 600 }), /timed out .* some-other-node pid 1/);
  } finally {
    clearInterval(beat);
  }
});
