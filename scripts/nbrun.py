#!/usr/bin/python3
"""Execute xai3d notebooks headless on the tslab kernel, save executed copies and offline HTML.

Called by scripts/run-notebooks.ts (npm run notebooks / npm run pipeline) with a JSON job on argv[1]:
  {"notebooks": [paths], "outDir": dir, "kernel": "tslab", "timeoutS": n, "jupyterPath": dir,
   "index": i, "total": n, "timings": true}  (the last three optional: numbering and timings.json when several run at once)
For each notebook, in order: clear outputs, execute every cell with the kernel's cwd set to the notebook's folder,
write <outDir>/<name>.ipynb (executed) and <outDir>/<name>.html (self-contained: no CDN scripts), echoing the
kernel's output to the terminal as it arrives. On the first failing cell it prints the notebook, the cell number,
its source and the kernel's error text, still saves the partial notebook and HTML, and exits 1.
"""
import json
import os
import re
import sys
import time

os.environ.setdefault("PYDEVD_DISABLE_FILE_VALIDATION", "1")

import nbformat  # noqa: E402
from nbclient import NotebookClient  # noqa: E402
from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError  # noqa: E402
from nbconvert import HTMLExporter  # noqa: E402

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
REMOTE_SCRIPT = re.compile(r"<script[^>]*\ssrc=\"(?:https?|file)://[^\"]*\"[^>]*>\s*</script>", re.I)
REMOTE_LINK = re.compile(r"<link[^>]*\shref=\"https?://[^\"]*\"[^>]*>", re.I)
MATHJAX_BLOCK = re.compile(r"<!-- Load mathjax -->.*?<!-- End of mathjax configuration -->", re.S)


def write_atomic(path, text):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def offline_html(nb):
    exporter = HTMLExporter(template_name="lab")
    body, _ = exporter.from_notebook_node(nb)
    body = MATHJAX_BLOCK.sub("", body)
    body = REMOTE_SCRIPT.sub("", body)
    body = REMOTE_LINK.sub("", body)
    return body


class EchoingClient(NotebookClient):
    """A NotebookClient that echoes stream output (progress, logs) to the terminal as it arrives."""

    def output(self, outs, msg, display_id, cell_index):
        mt = msg.get("msg_type")
        if mt in ("display_data", "update_display_data"):
            data = msg["content"].get("data", {})
            if list(data.keys()) == ["text/plain"]:
                # Progress lines (lib/util/progress.ts) are plain-text displays updated in place: echo them.
                print("    " + str(data["text/plain"]).strip(), file=sys.stderr, flush=True)
        if msg.get("msg_type") == "stream":
            stream = sys.stderr if msg["content"].get("name") == "stderr" else sys.stdout
            text = msg["content"].get("text", "")
            stream.write("".join("    " + line + "\n" for line in text.rstrip("\n").split("\n")) if text else "")
            stream.flush()
        return super().output(outs, msg, display_id, cell_index)


def cell_error_text(cell):
    parts = []
    for out in cell.get("outputs", []):
        if out.get("output_type") == "stream" and out.get("name") == "stderr":
            parts.append(out.get("text", ""))
        elif out.get("output_type") == "error":
            parts.append(f"{out.get('ename', '')}: {out.get('evalue', '')}")
            tb = "\n".join(out.get("traceback", []))
            if tb.strip():
                parts.append(tb)
    return ANSI.sub("", "\n".join(p for p in parts if p.strip()))


def run_one(path, job, index, total):
    name = os.path.splitext(os.path.basename(path))[0]
    out_dir = job["outDir"]
    nb = nbformat.read(path, as_version=4)
    _, nb = nbformat.validator.normalize(nb)
    nb = nbformat.from_dict(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    code_cells = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    print(f"[{index}/{total}] {name}: {len(code_cells)} code cells", flush=True)
    # The kernel inherits this: figures saved by the notebook are named after it (results/figures/<profile>/<name>/).
    os.environ["XAI3D_NOTEBOOK"] = name
    client = EchoingClient(
        nb,
        kernel_name=job.get("kernel", "tslab"),
        timeout=job.get("timeoutS", 3600),
        startup_timeout=120,
        allow_errors=False,
        record_timing=True,
        resources={"metadata": {"path": os.path.dirname(os.path.abspath(path))}},
    )
    started = time.time()

    def on_start(cell, cell_index, **_):
        if cell_index not in code_cells:
            return
        n = code_cells.index(cell_index) + 1
        first = next((ln for ln in cell.source.split("\n") if ln.strip()), "")
        print(f"  cell {n}/{len(code_cells)} (#{cell_index}): {first[:90]}", flush=True)

    client.on_cell_start = on_start
    failure = None
    try:
        client.execute()
    except CellExecutionError as err:
        failure = ("cell", err)
    except CellTimeoutError as err:
        failure = ("timeout", err)
    except DeadKernelError as err:
        failure = ("kernel died", err)
    except Exception as err:  # kernel failed to start, etc.
        failure = ("runner", err)
    elapsed = time.time() - started
    os.makedirs(out_dir, exist_ok=True)
    nb.metadata.setdefault("xai3d", {})["executed"] = {
        "ok": failure is None,
        "seconds": round(elapsed, 2),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    # Sign the executed copy (what `jupyter trust` does): its figures' scripts then run when it is opened in Jupyter
    # by this user, instead of showing blank "Not Trusted" outputs. Signing needs the user's signature database;
    # where it cannot be written the copy stays unsigned and a note says so.
    try:
        from nbformat.sign import NotebookNotary
        NotebookNotary().sign(nb)
    except Exception as exc:  # noqa: BLE001
        print(f"nbrun: could not sign {name}.ipynb ({exc}); open it and choose File > Trust Notebook", file=sys.stderr)
    write_atomic(os.path.join(out_dir, f"{name}.ipynb"), nbformat.writes(nb))
    try:
        write_atomic(os.path.join(out_dir, f"{name}.html"), offline_html(nb))
    except Exception as err:  # noqa: BLE001
        print(f"  warning: HTML export of {name} failed: {err}", file=sys.stderr)
        if failure is None:
            failure = ("html export", err)
    if job.get("timings", True):
        timings_file = os.path.join(out_dir, "timings.json")
        try:
            timings = json.load(open(timings_file)) if os.path.exists(timings_file) else {}
        except ValueError:
            timings = {}
        timings[name] = round(elapsed, 2)
        write_atomic(timings_file, json.dumps(timings, indent=2) + "\n")
    else:
        # The caller (several runners at once) collects the timings and writes timings.json itself.
        print(f"XAI3D_NB_SECONDS {name} {elapsed:.2f}", flush=True)
    if failure is None:
        print(f"[{index}/{total}] {name}: ok in {elapsed:.1f} s -> {os.path.join(out_dir, name + '.html')}", flush=True)
        return True
    kind, err = failure
    failed_index = None
    for i in code_cells:
        c = nb.cells[i]
        if any(o.get("output_type") == "error" for o in c.get("outputs", [])):
            failed_index = i
            break
    if failed_index is None:
        executed = [i for i in code_cells if nb.cells[i].get("execution_count") is not None]
        failed_index = executed[-1] if executed else (code_cells[0] if code_cells else None)
    bar = "=" * 78
    print(bar, file=sys.stderr)
    print(f"NOTEBOOK FAILED: {path}", file=sys.stderr)
    if failed_index is not None:
        cell = nb.cells[failed_index]
        n = code_cells.index(failed_index) + 1
        print(f"cell {n} of {len(code_cells)} (cell #{failed_index} counting markdown), {kind}:", file=sys.stderr)
        print("--- source ---", file=sys.stderr)
        print(cell.source, file=sys.stderr)
        print("--- error ---", file=sys.stderr)
        text = cell_error_text(cell)
        print(text if text.strip() else ANSI.sub("", str(err)), file=sys.stderr)
    else:
        print(f"{kind}: {ANSI.sub('', str(err))}", file=sys.stderr)
    print(f"partial output saved to {os.path.join(out_dir, name + '.ipynb')}", file=sys.stderr)
    print(bar, file=sys.stderr)
    return False


def main():
    job = json.loads(sys.argv[1])
    if job.get("jupyterPath"):
        os.environ["JUPYTER_PATH"] = job["jupyterPath"] + os.pathsep + os.environ.get("JUPYTER_PATH", "")
    notebooks = job["notebooks"]
    # "index"/"total": this runner's notebooks are numbered from index in a run of total (several runners at once).
    first = job.get("index", 1)
    total = job.get("total", len(notebooks))
    for i, path in enumerate(notebooks, first):
        if not run_one(path, job, i, total):
            sys.exit(1)
    print(f"{len(notebooks)} notebook(s) executed; outputs in {job['outDir']}", flush=True)


if __name__ == "__main__":
    main()
