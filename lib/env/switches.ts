/** On/off environment variables (XAI3D_SIMD, XAI3D_QUIET, XAI3D_SAVE_FIGURES), validated like flags. */

const ON = ['1', 'true', 'on', 'yes'];
const OFF = ['0', 'false', 'off', 'no'];

/** The value of an on/off variable: unset or empty gives `fallback`; anything but 1/0/true/false/on/off/yes/no is an error naming it. */
export function envSwitch(name: string, fallback: boolean): boolean {
  const raw = process.env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  const v = raw.trim().toLowerCase();
  if (ON.includes(v)) return true;
  if (OFF.includes(v)) return false;
  throw new Error(`${name}="${raw}" is not valid; use 1 or 0 (also true/false, on/off, yes/no)`);
}
