/**
 * `npm run build:wasm`: compile lib/backend/simd/kernels.wat into lib/backend/simd/kernels.wasm (committed, so that
 * installs need no toolchain; test/simd.test.ts checks that the binary is what this source compiles to).
 */
import * as fs from 'fs';
import * as path from 'path';
import { writeFileAtomic } from '../lib/io/atomic';

export const WAT_FILE = path.join(__dirname, '..', 'lib', 'backend', 'simd', 'kernels.wat');
export const WASM_FILE = path.join(__dirname, '..', 'lib', 'backend', 'simd', 'kernels.wasm');

/** Compile WebAssembly text (SIMD and threads enabled) to a binary; V8 validates it when it is instantiated. */
export async function compileWat(text: string, file = WAT_FILE): Promise<Uint8Array> {
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const wabt = await (require('wabt') as () => Promise<{
    parseWat(name: string, text: string, features: Record<string, boolean>): {
      toBinary(opts: Record<string, boolean>): { buffer: Uint8Array };
      destroy(): void;
    };
  }>)();
  const mod = wabt.parseWat(path.basename(file), text, { simd: true, threads: true });
  try {
    const bytes = mod.toBinary({ log: false, write_debug_names: false }).buffer;
    new WebAssembly.Module(bytes); // throws with the reason if the module is invalid
    return bytes;
  } finally {
    mod.destroy();
  }
}

async function main(): Promise<void> {
  const bytes = await compileWat(fs.readFileSync(WAT_FILE, 'utf8'));
  writeFileAtomic(WASM_FILE, bytes);
  process.stdout.write(`wrote ${path.relative(process.cwd(), WASM_FILE)} (${bytes.length} bytes)\n`);
}

if (require.main === module) {
  main().catch((err) => {
    process.stderr.write(`build-wasm: ${(err as Error).message}\n`);
    process.exit(1);
  });
}
