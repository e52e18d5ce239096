#!/usr/bin/env node
'use strict';
// The xai3d command line. lib/ is TypeScript, run through tsx's CommonJS loader (no build step).
require('tsx/cjs');
// A closed pipe (xai3d plan | head) ends the command quietly.
process.stdout.on('error', (e) => { if (e && e.code === 'EPIPE') process.exit(0); throw e; });
const { main } = require('../lib/cli/main.ts');
const { shutdown } = require('../lib/backend/shutdown.ts');

main(process.argv.slice(2)).then(
  (code) => shutdown(code),
  (err) => {
    process.stderr.write(`xai3d: ${process.env.XAI3D_DEBUG && err && err.stack ? err.stack : (err && err.message) || err}\n`);
    shutdown(1);
  },
);
