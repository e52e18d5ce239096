/** Stable hashing of configuration objects (key order does not matter; undefined fields are dropped). */
import { createHash } from 'crypto';

/** JSON with object keys sorted at every level, so equal configs give equal text. */
export function stableStringify(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) {
      throw new Error(`cannot hash a non-finite number (${value}) in a configuration`);
    }
    if (typeof value === 'bigint') return value.toString();
    return value;
  }
  if (Array.isArray(value)) return value.map(sortKeys);
  if (ArrayBuffer.isView(value)) return Array.from(value as unknown as ArrayLike<number>);
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(value).sort()) {
    const v = (value as Record<string, unknown>)[key];
    if (v === undefined || typeof v === 'function') continue;
    out[key] = sortKeys(v);
  }
  return out;
}

/** Hex SHA-256 of a string or bytes. */
export function sha256(data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Short (12 hex digits) hash of a configuration object, used to name result folders. */
export function configHash(config: unknown): string {
  return sha256(stableStringify(config)).slice(0, 12);
}
