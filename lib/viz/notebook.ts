/**
 * Talking to the notebook: rich outputs through tslab's display when running inside a tslab kernel, nothing
 * (or the terminal) otherwise. lib/ never imports tslab at module load, so the CLI and tests do not need a kernel.
 */

interface TslabDisplay {
  html(s: string): void;
  text(s: string): void;
  markdown(s: string): void;
}

interface TslabModule {
  display: TslabDisplay;
  newDisplay(): TslabDisplay;
}

let tslabModule: TslabModule | null | undefined;

function tslab(): TslabModule | null {
  if (tslabModule === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-var-requires
      tslabModule = require('tslab') as TslabModule;
    } catch {
      tslabModule = null;
    }
  }
  return tslabModule;
}

/** True inside a tslab kernel that can show rich output. */
export function inNotebook(): boolean {
  const t = tslab();
  if (t === null) return false;
  // tslab's display throws "Not ready" outside a running kernel; probe with a no-op-free check of its state.
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: unknown };
    const ready = jupyter.lastWriteDisplayData != null;
    if (ready) queueKernelSends();
    return ready;
  } catch {
    return false;
  }
}

let sendsQueued = false;

/**
 * tslab 1.0 sends every message on its iopub socket without awaiting zeromq's send. zeromq 6 allows one pending send
 * per socket and throws EBUSY on the next: after a large output (figures of several MB) the kernel's next status
 * message killed it ("Socket is busy writing"; seen when a cell showed seven figures and the next cell started).
 * Sends on tslab's Publisher sockets are chained here, one after the other, in order; a failed send is reported on
 * stderr instead of crashing the kernel.
 */
function queueKernelSends(): void {
  if (sendsQueued) return;
  sendsQueued = true;
  try {
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const path = require('path') as typeof import('path');
    // eslint-disable-next-line @typescript-eslint/no-var-requires
    const zmq = require(require.resolve('zeromq', { paths: [path.dirname(require.resolve('tslab/package.json'))] })) as { Publisher: { prototype: Record<string, unknown> } };
    const proto = zmq.Publisher.prototype;
    if (proto.__xai3dQueued) return;
    const send = proto.send as (this: unknown, msg: unknown) => Promise<void>;
    const queues = new WeakMap<object, Promise<void>>();
    proto.send = function (this: object, msg: unknown): Promise<void> {
      const next = (queues.get(this) ?? Promise.resolve()).then(() => send.call(this, msg));
      const settled = next.catch((err: Error) => void process.stderr.write(`xai3d: a kernel message was not sent: ${err.message}\n`));
      queues.set(this, settled);
      return settled;
    };
    proto.__xai3dQueued = true;
  } catch {
    // Another tslab or zeromq layout: leave the sockets as they are.
  }
}

/** Show HTML in the notebook; returns false (showing nothing) outside a kernel. */
export function displayHtml(html: string): boolean {
  if (!inNotebook()) return false;
  tslab()!.display.html(html);
  return true;
}

/**
 * Show one output with several representations (a Jupyter MIME bundle, e.g. a Plotly figure as
 * `application/vnd.plotly.v1+json`, which JupyterLab and VS Code render natively, beside a `text/html` fallback for
 * the classic notebook and nbconvert): the front end picks the richest it can render. Returns false outside a kernel.
 */
export function displayBundle(data: Record<string, unknown>): boolean {
  if (!inNotebook()) return false;
  // eslint-disable-next-line @typescript-eslint/no-var-requires
  const jupyter = require('tslab/dist/jupyter') as { lastWriteDisplayData: (content: { data: Record<string, unknown>; metadata: Record<string, unknown> }, update: boolean) => void };
  jupyter.lastWriteDisplayData({ data, metadata: {} }, false);
  return true;
}

/** Show Markdown in the notebook; returns false outside a kernel. */
export function displayMarkdown(md: string): boolean {
  if (!inNotebook()) return false;
  tslab()!.display.markdown(md);
  return true;
}

/** A display entry that can be overwritten in place (progress lines), or null outside a kernel. */
export function updatableDisplay(): TslabDisplay | null {
  if (!inNotebook()) return null;
  return tslab()!.newDisplay();
}
