"""GPU smoke run: the micro grid plus the pruning and sweep benchmarks on a CUDA device.

Run by hand on a machine with a GPU (not part of the tests):

    .venv/bin/python bench/gpu_smoke.py [--cores 4] [--hidden 4096 --intermediate 11008 --blocks 4]

1. The micro grid (tests/configs/micro.yaml, ``device: auto``) in a throw-away copy of the
   workflow: wall time, and the device every ``prune_evaluate`` job recorded in its provenance
   (all must say ``cuda``: automatic device selection at work).
2. ``bench/prune.py --device cuda --ours-only``: Wanda and SparseGPT on a random-init model of
   LLaMA-7B's block shape (hidden 4096, intermediate 11008) by default, printing seconds per block
   and the peak GPU memory of the streamed prune next to the model's size.
3. ``bench/sweep.py --device cuda``: the sweep engine against the naive loop at the same shape,
   printing seconds per injection block and the peak GPU memory.

Without a visible GPU it stops at once (exit 2); ``--allow-cpu`` runs the same steps on the CPU at
small sizes, which checks the script itself.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import torch

BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from dag import copy_workflow  # noqa: E402  (the workflow copy bench/dag.py makes)

from absorbprune.core.provenance import read_parquet_provenance  # noqa: E402


def micro_grid(cores: int, device: str) -> None:
    """Run the micro grid in a copy; fail unless every evaluation job recorded ``device``."""
    wf = copy_workflow(Path(tempfile.mkdtemp(prefix="gpu-smoke-")) / "micro")
    cmd = [sys.executable, "-m", "snakemake", "--cores", str(cores), "--configfile", "micro.yaml"]
    start = time.perf_counter()
    out = subprocess.run(cmd, cwd=wf, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if out.returncode != 0:
        raise SystemExit(f"micro grid failed in {wf}:\n{out.stderr[-4000:]}")
    ppl_files = sorted((wf / "results" / "eval").rglob("ppl.parquet"))
    devices = pd.Series([read_parquet_provenance(f).get("device", "?") for f in ppl_files]).value_counts()
    grid = pd.read_parquet(wf / "results" / "summary" / "grid.parquet")
    print(f"micro grid: {seconds:.0f} s from a clean start in {wf}, {len(grid)} grid rows")
    print(f"  devices recorded by prune_evaluate / evaluate_dense: {devices.to_dict()}")
    wrong = {d: n for d, n in devices.items() if not str(d).startswith(device)}
    if wrong:
        raise SystemExit(f"expected every evaluation job on {device}, got {wrong}")


def bench(script: str, *args: str) -> None:
    cmd = [sys.executable, str(BENCH / script), *args]
    print(f"$ {' '.join(cmd[1:])}", flush=True)
    subprocess.run(cmd, check=True)


def main() -> None:
    raw = argparse.RawDescriptionHelpFormatter
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=raw)
    ap.add_argument("--cores", type=int, default=4, help="Snakemake cores for the micro grid")
    ap.add_argument("--hidden", type=int, default=4096)
    ap.add_argument("--intermediate", type=int, default=11008)
    ap.add_argument("--blocks", type=int, default=4)
    ap.add_argument("--samples", type=int, default=128, help="calibration sequences of the prune benchmark")
    ap.add_argument("--seqlen", type=int, default=2048)
    ap.add_argument(
        "--allow-cpu", action="store_true", help="run on the CPU at small sizes (checks the script)"
    )
    ap.add_argument("--skip-grid", action="store_true")
    args = ap.parse_args()

    if torch.cuda.is_available():
        device = "cuda"
        print(f"GPU: {torch.cuda.get_device_name(0)}, torch {torch.__version__}, CUDA {torch.version.cuda}")
    elif args.allow_cpu:
        device = "cpu"
        args.hidden, args.intermediate, args.blocks, args.samples, args.seqlen = 64, 128, 2, 4, 32
        print("no GPU: running on the CPU at small sizes (--allow-cpu)")
    else:
        print("no CUDA device is visible: this smoke run needs a GPU (or --allow-cpu)", file=sys.stderr)
        raise SystemExit(2)

    if not args.skip_grid:
        micro_grid(args.cores, device)
    shape = [
        "--blocks",
        str(args.blocks),
        "--hidden",
        str(args.hidden),
        "--intermediate",
        str(args.intermediate),
    ]
    bench(
        "prune.py",
        *shape,
        "--samples",
        str(args.samples),
        "--seqlen",
        str(args.seqlen),
        "--batch",
        "8",
        "--device",
        device,
        "--ours-only",
    )
    sweep_seqlen = str(min(args.seqlen, 512))
    bench(
        "sweep.py",
        *shape,
        "--sequences",
        "8",
        "--seqlen",
        sweep_seqlen,
        "--device",
        device,
        "--max-tokens",
        "0",
    )


if __name__ == "__main__":
    main()
