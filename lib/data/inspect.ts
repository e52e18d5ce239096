/** `xai3d data inspect PATH`: what a data file or folder is, as JSON, without loading it all. */
import * as fs from 'fs';
import * as path from 'path';
import { checkNiftiBody, readNiftiHeader } from '../io/nifti';
import { readNpy } from '../io/npy';
import { h5wasm } from './mnist3d/h5';
import { labelOf, readDemographics, type LabelRule } from './oasis2/demographics';
import { findDemographics, findSessions } from './oasis2/loader';

function counts(labels: ArrayLike<number>, names?: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < labels.length; i++) {
    const k = names ? names[labels[i]] : String(labels[i]);
    out[k] = (out[k] ?? 0) + 1;
  }
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true })));
}

export async function inspectPath(p: string, opts: { labelRule?: LabelRule } = {}): Promise<Record<string, unknown>> {
  if (!fs.existsSync(p)) throw new Error(`${p}: no such file or folder`);
  const lower = p.toLowerCase();
  if (fs.statSync(p).isDirectory()) {
    const sessions = findSessions(p);
    if (sessions.length === 0) throw new Error(`${p}: not an OASIS-2 root (no OAS2_xxxx_MRn session folders in it or in OAS2_RAW_PART*/)`);
    const table = findDemographics(p);
    const rows = table ? await readDemographics(table) : [];
    const byId = new Map(rows.map((r) => [r.mriId, r]));
    const withScan = sessions.filter((s) => Object.keys(s.scans).length > 0);
    const first = withScan[0] ? readNiftiHeader(Object.values(withScan[0].scans)[0]) : undefined;
    // Every scan's body, not only the first header: a missing or truncated .img is named here, not mid-training.
    const bad: string[] = [];
    for (const sess of withScan) {
      for (const scan of Object.values(sess.scans)) {
        try {
          checkNiftiBody(scan);
        } catch (err) {
          bad.push((err as Error).message);
        }
      }
    }
    if (bad.length > 0) throw new Error(`${p}: ${bad.length} damaged scan(s):\n  ${bad.join('\n  ')}`);
    const rule = opts.labelRule ?? 'cdr';
    const labelled = sessions.map((s) => byId.get(s.mriId)).filter((r): r is NonNullable<typeof r> => !!r);
    return {
      path: path.resolve(p),
      format: 'oasis2-release',
      demographics: table ?? null,
      sessions: sessions.length,
      subjects: new Set(sessions.map((s) => s.mriId.slice(0, 9))).size,
      scans: sessions.reduce((n, s) => n + Object.keys(s.scans).length, 0),
      sessionsWithoutTableRow: sessions.filter((s) => !byId.has(s.mriId)).map((s) => s.mriId),
      volumeShape: first ? first.dims : null,
      pixdim: first ? first.pixdim : null,
      labelRule: rule,
      labelCounts: counts(labelled.map((r) => labelOf(r, rule)), ['NC', 'AD']),
      groupCounts: counts(labelled.map((r) => ['Nondemented', 'Demented', 'Converted'].indexOf(r.group)), ['Nondemented', 'Demented', 'Converted']),
      groundTruth: fs.existsSync(path.join(p, 'ground_truth')),
    };
  }
  if (/\.(nii|nii\.gz|hdr|img|hdr\.gz|img\.gz)$/.test(lower)) {
    const { header: h, bytes } = checkNiftiBody(p);
    return {
      path: path.resolve(p),
      format: h.format,
      dims: h.dims,
      pixdim: h.pixdim,
      datatype: h.datatypeName,
      datatypeCode: h.datatype,
      byteOrder: h.byteOrder,
      sclSlope: h.sclSlope,
      sclInter: h.sclInter,
      qformCode: h.qformCode,
      sformCode: h.sformCode,
      affine: h.affine,
      description: h.description,
      voxOffset: h.voxOffset,
      imageBytes: bytes,
    };
  }
  if (lower.endsWith('.npy')) {
    const a = readNpy(p);
    return { path: path.resolve(p), format: 'npy', shape: a.shape, dtype: a.dtype };
  }
  if (lower.endsWith('.h5') || lower.endsWith('.hdf5')) {
    const lib = await h5wasm();
    const f = new lib.File(path.resolve(p), 'r');
    try {
      const keys = f.keys();
      if (keys.includes('X_train')) {
        const out: Record<string, unknown> = { path: path.resolve(p), format: '3dmnist-full_dataset_vectors' };
        let total = 0;
        const labels: number[] = [];
        for (const part of ['train', 'test']) {
          const X = f.get(`X_${part}`);
          const y = f.get(`y_${part}`);
          if (!X || !y) throw new Error(`${p}: missing X_${part} or y_${part}`);
          total += X.shape[0];
          out[`X_${part}`] = { shape: X.shape, dtype: X.dtype };
          labels.push(...Array.from(y.value as ArrayLike<number | bigint>, Number));
        }
        return { ...out, samples: total, volumeShape: [16, 16, 16], labelCounts: counts(labels) };
      }
      const groups = keys.filter((k) => /^\d+$/.test(k));
      if (groups.length > 0) {
        const labels = groups.map((k) => Number(f.get(k)?.attrs['label']?.value ?? NaN));
        return { path: path.resolve(p), format: '3dmnist-point_clouds', samples: groups.length, volumeShape: 'point clouds (voxelised to 32^3 by default)', labelCounts: counts(labels) };
      }
      throw new Error(`${p}: an HDF5 file, but not a 3D MNIST file (keys: ${keys.slice(0, 10).join(', ')})`);
    } finally {
      f.close();
    }
  }
  throw new Error(`${p}: unknown kind of file (inspect reads NIfTI/Analyze, .npy, 3D MNIST .h5 and OASIS-2 folders)`);
}
