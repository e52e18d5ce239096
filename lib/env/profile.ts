/**
 * Run profiles: how big a workflow runs.
 *   tiny    seconds per notebook: for the end-to-end test of the pipeline in CI.
 *   quick   minutes on a laptop CPU: the default, for teaching and for reviewers.
 *   thesis  the thesis's sizes (32^3 3D MNIST with 5000 + 1000 volumes, 128^3 OASIS-2, 5- and 10-fold).
 * Chosen by XAI3D_PROFILE (the notebook runner's --profile sets it).
 */
export const PROFILE_NAMES = ['tiny', 'quick', 'thesis'] as const;
export type ProfileName = (typeof PROFILE_NAMES)[number];

export function parseProfile(value: string | undefined, source = 'XAI3D_PROFILE'): ProfileName {
  if (value === undefined || value.trim() === '') return 'quick';
  const v = value.trim().toLowerCase();
  if ((PROFILE_NAMES as readonly string[]).includes(v)) return v as ProfileName;
  throw new Error(`${source}="${value}" is not a profile; use one of: ${PROFILE_NAMES.join(', ')}`);
}

/** The active profile (XAI3D_PROFILE, default quick). */
export function profileName(): ProfileName {
  return parseProfile(process.env.XAI3D_PROFILE);
}
