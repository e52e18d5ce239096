/**
 * Volumes as figures: three orthogonal slices (tri-planar) of an anatomy with an optional overlay, as Plotly figures
 * that show inline in notebooks and save as standalone offline HTML.
 *
 * Conventions: volumes are C-order [D, H, W] arrays (x = W fastest). The three views are the planes through a chosen
 * voxel: (H, W) at depth d, (D, W) at row h and (D, H) at column w. Overlays are either masks (labels drawn in a
 * qualitative colour scale) or relevance (a symmetric diverging scale, red positive / blue negative, clipped at a
 * percentile of |values| and transparent near zero). Display choices never change the stored numbers.
 */
import type { Figure, Trace } from './plotly';

export type Shape3 = [number, number, number];

export interface SliceIndex {
  d: number;
  h: number;
  w: number;
}

/** One plane of a volume as rows of values (for a Plotly heatmap, rows bottom-up). */
export function slicePlane(vol: ArrayLike<number>, shape: Shape3, axis: 0 | 1 | 2, index: number): number[][] {
  const [D, H, W] = shape;
  const rows: number[][] = [];
  if (axis === 0) {
    for (let h = 0; h < H; h++) {
      const r: number[] = [];
      for (let w = 0; w < W; w++) r.push(vol[(index * H + h) * W + w]);
      rows.push(r);
    }
  } else if (axis === 1) {
    for (let d = 0; d < D; d++) {
      const r: number[] = [];
      for (let w = 0; w < W; w++) r.push(vol[(d * H + index) * W + w]);
      rows.push(r);
    }
  } else {
    for (let d = 0; d < D; d++) {
      const r: number[] = [];
      for (let h = 0; h < H; h++) r.push(vol[(d * H + h) * W + index]);
      rows.push(r);
    }
  }
  return rows;
}

/** The p-th percentile of |values| (0 for an all-zero array). */
export function absPercentile(values: ArrayLike<number>, p: number): number {
  const a = Float32Array.from(values, Math.abs).sort();
  if (a.length === 0) return 0;
  return a[Math.min(a.length - 1, Math.floor((p / 100) * (a.length - 1)))];
}

/** Red-positive / blue-negative diverging colour scale, transparent around zero. */
export const RELEVANCE_COLORSCALE: [number, string][] = [
  [0, 'rgba(5,48,97,1)'],
  [0.25, 'rgba(67,147,195,0.85)'],
  [0.45, 'rgba(209,229,240,0.0)'],
  [0.5, 'rgba(255,255,255,0.0)'],
  [0.55, 'rgba(253,219,199,0.0)'],
  [0.75, 'rgba(214,96,77,0.85)'],
  [1, 'rgba(103,0,31,1)'],
];

const MASK_COLORS = ['#e41a1c', '#377eb8', '#4daf4a', '#984ea3', '#ff7f00', '#ffff33', '#a65628', '#f781bf'];

export interface TriplanarOptions {
  title?: string;
  /** Slices to show (default: the centre, or the overlay's strongest voxel for relevance). */
  slices?: Partial<SliceIndex>;
  /** Overlay on the anatomy. */
  overlay?: ArrayLike<number>;
  overlayKind?: 'relevance' | 'mask';
  /** Percentile of |relevance| mapped to the ends of the colour scale (default 99.5). */
  clipPercentile?: number;
  /** Names of mask labels (1..K) for the legend. */
  maskNames?: Record<number, string>;
  /** Height in pixels (default 320). */
  heightPx?: number;
  /** Anatomy display range (default: 0.5th..99.5th percentile). */
  anatomyRange?: [number, number];
  /** Axis titles of the three views. */
  viewNames?: [string, string, string];
  /**
   * Voxel -> world (RAS+, mm) affine of the volume, as NIfTI (column 0: the W axis, 1: H, 2: D). With it the views are
   * named sagittal / coronal / axial, shown superior up (axial: anterior up), in the neurological convention (the
   * subject's right on the right; sagittal: anterior on the left), with the edges lettered L/R, A/P, S/I.
   */
  affine?: number[][];
}

/** For each volume axis (0: D, 1: H, 2: W): its world axis (0: x R/L, 1: y A/P, 2: z S/I) and sign, from a NIfTI affine. */
export function worldAxes(affine: number[][]): { world: 0 | 1 | 2; sign: 1 | -1 }[] {
  const column = [2, 1, 0]; // D -> k, H -> j, W -> i
  const out = column.map((c) => {
    let r = 0;
    for (let k = 1; k < 3; k++) if (Math.abs(affine[k][c]) > Math.abs(affine[r][c])) r = k;
    return { world: r as 0 | 1 | 2, sign: (affine[r][c] >= 0 ? 1 : -1) as 1 | -1 };
  });
  if (new Set(out.map((o) => o.world)).size !== 3) throw new Error('triplanarFigure: the affine is oblique beyond 45 degrees (two volume axes map to one world axis)');
  return out;
}

const LETTERS: [string, string][] = [['L', 'R'], ['P', 'A'], ['I', 'S']];
const PLANE_NAMES = ['sagittal', 'coronal', 'axial'];

function transpose(m: (number | null)[][]): (number | null)[][] {
  return m[0].map((_, c) => m.map((r) => r[c]));
}

/** The centroid (rounded voxel) of the voxels whose label is in `labels` (default: any > 0); null for an empty mask. */
export function maskCentroid(mask: ArrayLike<number>, shape: Shape3, labels?: number[]): SliceIndex | null {
  const [, H, W] = shape;
  let n = 0;
  const s = [0, 0, 0];
  for (let i = 0; i < mask.length; i++) {
    const v = mask[i];
    if (labels ? labels.includes(v) : v > 0) {
      n++;
      s[0] += Math.floor(i / (H * W));
      s[1] += Math.floor(i / W) % H;
      s[2] += i % W;
    }
  }
  return n > 0 ? { d: Math.round(s[0] / n), h: Math.round(s[1] / n), w: Math.round(s[2] / n) } : null;
}

function argmaxAbs(v: ArrayLike<number>): number {
  let best = 0;
  let bi = 0;
  for (let i = 0; i < v.length; i++) {
    const a = Math.abs(v[i]);
    if (a > best) {
      best = a;
      bi = i;
    }
  }
  return bi;
}

function percentileOf(v: ArrayLike<number>, p: number): number {
  const a = Float32Array.from(v).sort();
  return a[Math.min(a.length - 1, Math.floor((p / 100) * (a.length - 1)))];
}

/** A tri-planar figure of `anatomy` (and an overlay). */
export function triplanarFigure(anatomy: ArrayLike<number>, shape: Shape3, opts: TriplanarOptions = {}): Figure {
  const [D, H, W] = shape;
  let centre: SliceIndex = { d: Math.floor(D / 2), h: Math.floor(H / 2), w: Math.floor(W / 2) };
  if (opts.overlay && opts.overlayKind !== 'mask' && !opts.slices) {
    const i = argmaxAbs(opts.overlay);
    centre = { d: Math.floor(i / (H * W)), h: Math.floor(i / W) % H, w: i % W };
  }
  if (opts.overlay && opts.overlayKind === 'mask' && !opts.slices) {
    // Centre of mass of the mask.
    let n = 0;
    const s = [0, 0, 0];
    for (let i = 0; i < opts.overlay.length; i++) {
      if (opts.overlay[i] > 0) {
        n++;
        s[0] += Math.floor(i / (H * W));
        s[1] += Math.floor(i / W) % H;
        s[2] += i % W;
      }
    }
    if (n > 0) centre = { d: Math.round(s[0] / n), h: Math.round(s[1] / n), w: Math.round(s[2] / n) };
  }
  const idx: SliceIndex = { ...centre, ...opts.slices };
  const [lo, hi] = opts.anatomyRange ?? [percentileOf(anatomy, 0.5), percentileOf(anatomy, 99.5)];
  const names = opts.viewNames ?? [`D = ${idx.d}`, `H = ${idx.h}`, `W = ${idx.w}`];
  const views: [0 | 1 | 2, number][] = [[0, idx.d], [1, idx.h], [2, idx.w]];
  // Anatomical orientation of each view from the affine: which plane, whether to transpose, flips, edge letters.
  const axes = opts.affine ? worldAxes(opts.affine) : null;
  const orient = views.map(([axis, index]) => {
    if (!axes) return { transpose: false, yReversed: true, xReversed: false, title: names[axis] };
    const inPlane = ([0, 1, 2] as const).filter((a) => a !== axis); // [row axis, column axis] of slicePlane
    const plane = axes[axis].world;
    const wantVertical = plane === 2 ? 1 : 2; // axial: A/P vertical; else S/I
    const tr = axes[inPlane[0]].world !== wantVertical;
    const rowAxis = tr ? inPlane[1] : inPlane[0];
    const colAxis = tr ? inPlane[0] : inPlane[1];
    // Row index grows toward the positive letter when sign > 0; the positive letter (S or A) goes on top.
    const yReversed = axes[rowAxis].sign < 0;
    // Columns: the subject's right on the right (coronal, axial); sagittal: anterior on the left.
    const colPositiveRight = plane !== 0;
    const xReversed = colPositiveRight ? axes[colAxis].sign < 0 : axes[colAxis].sign > 0;
    const [neg, pos] = LETTERS[axes[colAxis].world];
    const [vneg, vpos] = LETTERS[axes[rowAxis].world];
    const w = opts.affine!;
    const v = [idx.w, idx.h, idx.d];
    const mm = w[plane][0] * v[0] + w[plane][1] * v[1] + w[plane][2] * v[2] + w[plane][3];
    const left = colPositiveRight ? neg : pos;
    const right = colPositiveRight ? pos : neg;
    void vneg;
    return { transpose: tr, yReversed, xReversed, title: `${PLANE_NAMES[plane]} ${'xyz'[plane]} = ${mm.toFixed(0)} mm (slice ${index}) · ${left} ◀ ▶ ${right} · top ${vpos}` };
  });
  const planeOf = (vol: ArrayLike<number>, axis: 0 | 1 | 2, index: number, v: number) => {
    const p = slicePlane(vol, shape, axis, index);
    return orient[v].transpose ? (transpose(p) as number[][]) : p;
  };
  const data: Trace[] = [];
  const clip = opts.overlay && opts.overlayKind !== 'mask' ? absPercentile(opts.overlay, opts.clipPercentile ?? 99.5) || 1 : 1;
  let maxLabel = 1;
  if (opts.overlay && opts.overlayKind === 'mask') for (let i = 0; i < opts.overlay.length; i++) if (opts.overlay[i] > maxLabel) maxLabel = opts.overlay[i];
  views.forEach(([axis, index], v) => {
    const xa = v === 0 ? 'x' : `x${v + 1}`;
    const ya = v === 0 ? 'y' : `y${v + 1}`;
    data.push({ type: 'heatmap', z: planeOf(anatomy, axis, index, v), colorscale: [[0, 'rgb(0,0,0)'], [1, 'rgb(255,255,255)']], zmin: lo, zmax: hi, showscale: false, xaxis: xa, yaxis: ya, hoverinfo: 'z', name: 'anatomy' });
    if (opts.overlay) {
      const plane = planeOf(opts.overlay, axis, index, v);
      if (opts.overlayKind === 'mask') {
        const z = plane.map((r) => r.map((x) => (x > 0 ? x : null)));
        const scale: [number, string][] = [];
        for (let l = 1; l <= maxLabel; l++) {
          const c = MASK_COLORS[(l - 1) % MASK_COLORS.length];
          scale.push([(l - 1) / maxLabel, c], [l / maxLabel, c]);
        }
        data.push({ type: 'heatmap', z, zmin: 0.5, zmax: maxLabel + 0.5, colorscale: scale, opacity: 0.45, showscale: v === 2, xaxis: xa, yaxis: ya, name: 'mask', hoverinfo: 'z', colorbar: opts.maskNames ? { tickvals: Object.keys(opts.maskNames).map(Number), ticktext: Object.values(opts.maskNames), len: 0.9 } : undefined });
      } else {
        data.push({ type: 'heatmap', z: plane, zmin: -clip, zmax: clip, colorscale: RELEVANCE_COLORSCALE, showscale: v === 2, xaxis: xa, yaxis: ya, name: 'relevance', hoverinfo: 'z', colorbar: { title: { text: 'relevance' }, len: 0.9 } });
      }
    }
  });
  const axis = (anchor: string, domain: [number, number], title: string) => ({ domain, anchor, showticklabels: false, ticks: '', title: { text: title, font: { size: 11 } } });
  const layout: Record<string, unknown> = {
    title: opts.title ? { text: opts.title, font: { size: 14 } } : undefined,
    height: opts.heightPx ?? 320,
    margin: { l: 10, r: 10, t: opts.title ? 40 : 10, b: 30 },
    // Image convention without an affine: row 0 at the top.
    xaxis: { ...axis('y', [0, 0.3], orient[0].title), autorange: orient[0].xReversed ? 'reversed' : true },
    yaxis: { anchor: 'x', scaleanchor: 'x', showticklabels: false, ticks: '', autorange: orient[0].yReversed ? 'reversed' : true },
    xaxis2: { ...axis('y2', [0.34, 0.64], orient[1].title), autorange: orient[1].xReversed ? 'reversed' : true },
    yaxis2: { anchor: 'x2', scaleanchor: 'x2', showticklabels: false, ticks: '', autorange: orient[1].yReversed ? 'reversed' : true },
    xaxis3: { ...axis('y3', [0.68, 0.98], orient[2].title), autorange: orient[2].xReversed ? 'reversed' : true },
    yaxis3: { anchor: 'x3', scaleanchor: 'x3', showticklabels: false, ticks: '', autorange: orient[2].yReversed ? 'reversed' : true },
    plot_bgcolor: 'black',
  };
  return { data, layout, config: { displaylogo: false, toImageButtonOptions: { format: 'png', scale: 2 } } };
}

/** A 3D scatter of the voxels above `threshold` (3D MNIST digits), coloured by value or by an overlay. */
export function voxelScatterFigure(vol: ArrayLike<number>, shape: Shape3, opts: { threshold?: number; color?: ArrayLike<number>; title?: string; heightPx?: number } = {}): Figure {
  const [, H, W] = shape;
  const x: number[] = [];
  const y: number[] = [];
  const z: number[] = [];
  const c: number[] = [];
  const thr = opts.threshold ?? 0;
  for (let i = 0; i < vol.length; i++) {
    if (vol[i] > thr) {
      z.push(Math.floor(i / (H * W)));
      y.push(Math.floor(i / W) % H);
      x.push(i % W);
      c.push(opts.color ? opts.color[i] : vol[i]);
    }
  }
  const relevance = opts.color !== undefined;
  const clip = relevance ? absPercentile(c, 99) || 1 : 1;
  return {
    data: [
      {
        type: 'scatter3d',
        mode: 'markers',
        x,
        y,
        z,
        marker: relevance
          ? { size: 3, color: c, colorscale: RELEVANCE_COLORSCALE, cmin: -clip, cmax: clip, colorbar: { title: { text: 'relevance (red +, blue -)' } } }
          : { size: 3, color: c, colorscale: 'Viridis', cmin: 0, cmax: 1 },
      },
    ],
    layout: {
      title: opts.title ? { text: opts.title } : undefined,
      height: opts.heightPx ?? 360,
      margin: { l: 0, r: 0, t: opts.title ? 40 : 0, b: 0 },
      scene: { xaxis: { title: { text: 'W' } }, yaxis: { title: { text: 'H' } }, zaxis: { title: { text: 'D' } }, aspectmode: 'cube' },
    },
  };
}

/**
 * One view of a volume with a slider over its slices (anatomy in grey, an optional relevance overlay). `axis` picks
 * the sliced axis (0: D, 1: H, 2: W); `every` keeps one slice in `every` (large volumes).
 */
export function sliceSliderFigure(anatomy: ArrayLike<number>, shape: Shape3, opts: { overlay?: ArrayLike<number>; axis?: 0 | 1 | 2; every?: number; title?: string; clipPercentile?: number; heightPx?: number } = {}): Figure {
  const axis = opts.axis ?? 0;
  const every = Math.max(1, opts.every ?? 1);
  const indices = Array.from({ length: Math.ceil(shape[axis] / every) }, (_, i) => i * every);
  const lo = percentileOf(anatomy, 0.5);
  const hi = percentileOf(anatomy, 99.5);
  const clip = opts.overlay ? absPercentile(opts.overlay, opts.clipPercentile ?? 99.5) || 1 : 1;
  const start = indices[Math.floor(indices.length / 2)];
  const data: Trace[] = [{ type: 'heatmap', z: slicePlane(anatomy, shape, axis, start), colorscale: [[0, 'rgb(0,0,0)'], [1, 'rgb(255,255,255)']], zmin: lo, zmax: hi, showscale: false, hoverinfo: 'z' }];
  if (opts.overlay) data.push({ type: 'heatmap', z: slicePlane(opts.overlay, shape, axis, start), zmin: -clip, zmax: clip, colorscale: RELEVANCE_COLORSCALE, colorbar: { title: { text: 'relevance' } }, hoverinfo: 'z' });
  const steps = indices.map((i) => ({
    label: String(i),
    method: 'restyle',
    args: [{ z: opts.overlay ? [slicePlane(anatomy, shape, axis, i), slicePlane(opts.overlay, shape, axis, i)] : [slicePlane(anatomy, shape, axis, i)] }],
  }));
  return {
    data,
    layout: {
      title: opts.title ? { text: opts.title } : undefined,
      height: opts.heightPx ?? 480,
      xaxis: { showticklabels: false, ticks: '' },
      yaxis: { showticklabels: false, ticks: '', scaleanchor: 'x', autorange: 'reversed' },
      sliders: [{ active: indices.indexOf(start), currentvalue: { prefix: `${['D', 'H', 'W'][axis]} = ` }, steps, pad: { t: 30 } }],
      margin: { t: opts.title ? 50 : 20, b: 20 },
    },
  };
}
