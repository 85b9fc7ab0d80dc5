"""Benchmark: the sweep engine against the naive implementation, side by side in one run.

Run by hand (not part of the tests):  .venv/bin/python bench/sweep.py [--blocks 16 ...]

Both compute the same drift rows for the same ``gaussian`` perturbations (every injection block x
eps x seed) on a random-init Llama-style model on the CPU:

* naive:  one full forward from the embeddings per perturbation, block k's output replaced by a
  hook (``absorption.sweeps.naive_drift``), one perturbation at a time;
* engine: the clean trajectory once, then per injection block only blocks k+1..L-1 and the final
  norm, every eps and seed of that block batched together.

Printed: the speed-up (naive / engine) against the target (L + 1) / 2, and the engine's
efficiency = engine time / (block forwards it performs x one block forward at the same batch
size) against the target 1.3. Clean-trajectory time is reported separately and excluded from
both (each side needs it once).
"""

from __future__ import annotations

import argparse
import time

import torch

from absorbprune.absorption.sweeps import (
    SweepEngine,
    clean_trajectory,
    gaussian_directions,
    naive_drift,
    rescale,
)
from absorbprune.models.adapter import Adapter
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.plan.perturbations import eps_grid


def sync(device: torch.device) -> None:
    """Wait for queued GPU work, so a timer reads finished work (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def time_block_forward(adapter: Adapter, batch: int, seqlen: int, repeats: int) -> float:
    """Mean seconds of one block forward at (batch, seqlen), over every block, after a warm-up."""
    device = next(adapter.model.parameters()).device
    x = torch.randn(batch, seqlen, adapter.model.config.hidden_size, device=device)
    adapter.run_block(0, x)
    sync(device)
    start = time.perf_counter()
    for _ in range(repeats):
        for j in range(adapter.n_blocks):
            adapter.run_block(j, x)
    sync(device)
    return (time.perf_counter() - start) / (repeats * adapter.n_blocks)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=16)
    # defaults: the shape of the default tiny models and sweep set, with 16 blocks
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--intermediate", type=int, default=352)
    ap.add_argument("--heads", type=int, default=4, help="attention heads (SmolLM2-135M: 9)")
    ap.add_argument("--kv-heads", type=int, default=2, help="key/value heads (SmolLM2-135M: 3)")
    ap.add_argument("--sequences", type=int, default=8, help="sweep-set size N")
    ap.add_argument("--seqlen", type=int, default=128)
    ap.add_argument("--eps-points", type=int, default=9)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--max-tokens", type=int, default=4096, help="engine's tokens-per-forward cap (0: none)")
    ap.add_argument("--device", default="cpu", help="cpu or cuda (prints peak GPU memory)")
    ap.add_argument("--budget-gb", type=float, default=16.0, help="the engine's memory budget")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    device = torch.device(args.device)

    spec = ArchSpec(
        "llama",
        512,
        args.hidden,
        args.intermediate,
        args.blocks,
        args.heads,
        args.kv_heads,
        max(64, args.seqlen),
    )
    adapter = Adapter(random_model(spec, seed=0).to(device), "llama")
    ids = torch.randint(0, 512, (args.sequences, args.seqlen), generator=torch.Generator().manual_seed(0))
    ids = ids.to(device)
    eps, seeds = eps_grid(1e-4, 1.0, args.eps_points), list(range(args.seeds))
    n_pert = len(eps) * len(seeds)

    t0 = time.perf_counter()
    traj = clean_trajectory(adapter, ids)
    sync(device)
    t_clean = time.perf_counter() - t0

    budget = int(args.budget_gb * 2**30)
    engine = SweepEngine(adapter, traj, "bench", budget_bytes=budget, max_tokens=args.max_tokens or None)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    # Interleaved per injection block, so minute-to-minute CPU speed swings hit both sides alike.
    t_engine = t_naive = 0.0
    engine_rows = naive_rows = naive_forwards = 0
    for k in range(adapter.n_blocks):
        t0 = time.perf_counter()
        engine_rows += len(engine.gaussian(k, eps, seeds))
        sync(device)
        t_engine += time.perf_counter() - t0
        t0 = time.perf_counter()
        for s in seeds:
            u = gaussian_directions(tuple(traj.state(k).shape), s, k)
            for e in eps:
                naive_rows += len(naive_drift(adapter, ids, traj, k, rescale(traj.state(k), u, [e])[0]))
                naive_forwards += adapter.n_blocks
        sync(device)
        t_naive += time.perf_counter() - t0
    assert naive_rows == engine_rows, (naive_rows, engine_rows)

    batch = min(engine.chunk, n_pert) * args.sequences
    t_block = time_block_forward(adapter, batch, args.seqlen, repeats=3)
    efficiency = t_engine / (engine.block_forwards * t_block)
    speedup = t_naive / t_engine
    target = (args.blocks + 1) / 2

    print(
        f"model: llama, {args.blocks} blocks, hidden {args.hidden}, "
        f"sweep set {args.sequences} x {args.seqlen} tokens"
    )
    print(
        f"perturbations: {args.blocks} blocks x {len(eps)} eps x {len(seeds)} seeds = {args.blocks * n_pert}"
    )
    print(f"device: {device}; clean trajectory (both need it once): {t_clean:.3f} s")
    print(f"engine seconds per injection block: {t_engine / args.blocks:.3f} s")
    if device.type == "cuda":
        print(
            f"peak GPU memory (engine and naive): {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB"
        )
    print(f"naive  (full forward per perturbation): {t_naive:.3f} s")
    print(
        f"engine (restart at h_k, batched):       {t_engine:.3f} s, {engine.block_forwards} block forwards "
        f"at batch {batch}"
    )
    print(f"one block forward at batch {batch}: {t_block * 1e3:.3f} ms")
    tokens = args.sequences * args.seqlen
    print(
        f"work ratio (naive / engine block-forward tokens): "
        f"{naive_forwards * tokens / (engine.block_forwards * batch * args.seqlen):.2f}"
    )
    print(
        f"per token and block: naive {t_naive / (naive_forwards * tokens) * 1e6:.2f} us, "
        f"engine {t_engine / (engine.block_forwards * batch * args.seqlen) * 1e6:.2f} us"
    )
    verdict = "met" if speedup >= target else "NOT met"
    print(f"speed-up: {speedup:.1f}x (target >= (L+1)/2 = {target:.1f}): {verdict}")
    print(f"efficiency: {efficiency:.2f} (target <= 1.3): {'met' if efficiency <= 1.3 else 'NOT met'}")


if __name__ == "__main__":
    main()
