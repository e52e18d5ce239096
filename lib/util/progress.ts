/**
 * Progress for long work (volumes, epochs, folds): a line in the terminal (stderr, at most every `intervalMs`, plus
 * the last) and, inside a notebook, one output line updated in place. Silent when XAI3D_QUIET=1.
 */
import { envSwitch } from '../env/switches';
import { updatableDisplay } from '../viz/notebook';

export interface Progress {
  /** Advance by `n` units (default 1), with an optional note shown after the counts. */
  tick(n?: number, note?: string): void;
  /** Set an absolute position. */
  set(done: number, note?: string): void;
  /** Finish (prints the final line with the elapsed time). */
  done(note?: string): void;
}

function fmtSeconds(s: number): string {
  if (!Number.isFinite(s)) return '?';
  if (s < 90) return `${s.toFixed(0)} s`;
  if (s < 5400) return `${(s / 60).toFixed(1)} min`;
  return `${(s / 3600).toFixed(1)} h`;
}

export function progress(label: string, total: number, opts: { unit?: string; intervalMs?: number } = {}): Progress {
  const quiet = envSwitch('XAI3D_QUIET', false);
  const unit = opts.unit ?? '';
  const interval = opts.intervalMs ?? 2000;
  const started = Date.now();
  const display = quiet ? null : updatableDisplay();
  let count = 0;
  let lastPrint = 0;
  const line = (note?: string, final = false) => {
    const elapsed = (Date.now() - started) / 1000;
    const rate = count > 0 ? elapsed / count : NaN;
    const left = total > count && count > 0 ? ` · ${fmtSeconds(rate * (total - count))} left` : '';
    const pct = total > 0 ? ` (${Math.round((100 * count) / total)}%)` : '';
    const head = `${label}: ${count}/${total}${unit ? ' ' + unit : ''}${pct}`;
    return final ? `${head} · done in ${fmtSeconds(elapsed)}${note ? ' · ' + note : ''}` : `${head} · ${fmtSeconds(elapsed)}${left}${note ? ' · ' + note : ''}`;
  };
  const emit = (text: string, force: boolean) => {
    if (quiet) return;
    const now = Date.now();
    if (!force && now - lastPrint < interval) return;
    lastPrint = now;
    if (display) display.text(text);
    else process.stderr.write(text + '\n');
  };
  return {
    tick(n = 1, note?: string) {
      count += n;
      emit(line(note), false);
    },
    set(d: number, note?: string) {
      count = d;
      emit(line(note), false);
    },
    done(note?: string) {
      count = Math.max(count, total);
      emit(line(note, true), true);
    },
  };
}
