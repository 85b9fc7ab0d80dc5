"""Benchmark: our sequential pruning pass against the reference repositories' pattern, side by side.

Run by hand (not part of the tests):  .venv/bin/python bench/prune.py [--blocks 8 --hidden 1024 ...]

On a random-init Llama-style model on the CPU, for Wanda and SparseGPT:

* ours:      ``pruning.sequential.prune_model``: calibration batched (``--batch`` sequences per forward),
             statistics from pre-hooks, one block's activations at a time;
* reference: the Wanda/SparseGPT repositories' driver: the whole model resident, a hook on every
             linear of the block, one calibration sequence per forward (their ``for j in
             range(nsamples): outs[j] = layer(inps[j].unsqueeze(0))``), masks from the same
             scores (SparseGPT uses the same reconstruction code, so only the driver differs).

Each variant runs in its own process, so its peak resident memory (``ru_maxrss`` of that
process) is measured separately. With a GPU (``--device cuda``) it also prints the peak GPU
memory of our streamed prune next to the model's size.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

import torch

from absorbprune.calibration.hooks import Hessian, SquareSum
from absorbprune.models.adapter import Adapter
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.pruning.sequential import PruneSpec, prune_model
from absorbprune.pruning.sparsegpt import sparsegpt_prune


def build(args) -> tuple[Adapter, torch.Tensor]:
    spec = ArchSpec(
        "llama",
        512,
        args.hidden,
        args.intermediate,
        args.blocks,
        args.heads or args.hidden // 64,
        args.kv_heads or args.heads or args.hidden // 64,
        max(128, args.seqlen),
    )
    adapter = Adapter(random_model(spec, seed=0), "llama")
    ids = torch.randint(0, 512, (args.samples, args.seqlen), generator=torch.Generator().manual_seed(0))
    return adapter, ids


@torch.no_grad()
def reference_prune(adapter: Adapter, ids: torch.Tensor, pruner: str, sparsity: float) -> None:
    """The reference repositories' driver, with the model resident and batch-one forwards."""
    inps = [adapter.embed(ids[j : j + 1]) for j in range(ids.shape[0])]
    for block in range(adapter.n_blocks):
        linears = adapter.linears(block)
        stats = {
            n: (Hessian if pruner == "sparsegpt" else SquareSum)(lin.in_features, torch.device("cpu"))
            for n, lin in linears.items()
        }
        handles = [lin.register_forward_pre_hook(stats[n]) for n, lin in linears.items()]
        for x in inps:
            adapter.run_block(block, x)
        for h in handles:
            h.remove()
        for name, lin in linears.items():
            if pruner == "wanda":
                metric = lin.weight.abs() * torch.sqrt(stats[name].sq_sum / stats[name].n_tokens)[None, :]
                idx = torch.sort(metric, dim=-1, stable=True)[1][:, : int(metric.shape[1] * sparsity)]
                lin.weight.masked_fill_(torch.zeros_like(metric, dtype=torch.bool).scatter_(1, idx, True), 0)
            else:
                lin.weight.copy_(sparsegpt_prune(lin.weight, stats[name].h, sparsity)[0])
        inps = [adapter.run_block(block, x) for x in inps]


def child(args) -> None:
    torch.set_num_threads(args.threads)
    adapter, ids = build(args)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    start = time.perf_counter()
    if args.child == "ours":
        prune_model(
            adapter, ids, [args.sparsity] * args.blocks, PruneSpec(args.pruner, None, args.batch), device
        )
    else:
        reference_prune(adapter, ids, args.pruner, args.sparsity)
    seconds = time.perf_counter() - start
    out = {"seconds_per_block": seconds / args.blocks}
    if device.type == "cuda":
        out["gpu_peak_gib"] = torch.cuda.max_memory_allocated() / 2**30
        out["model_gib"] = sum(p.numel() * p.element_size() for p in adapter.model.parameters()) / 2**30
    print(json.dumps(out))


def run_child(args, variant: str, pruner: str) -> dict:
    cmd = [sys.executable, __file__, "--child", variant, "--pruner", pruner]
    for key in (
        "blocks",
        "hidden",
        "intermediate",
        "samples",
        "seqlen",
        "batch",
        "threads",
        "sparsity",
        "device",
    ):
        cmd += [f"--{key}", str(getattr(args, key))]
    cmd += ["--heads", str(args.heads), "--kv-heads", str(args.kv_heads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    out = proc.stdout.read()
    if status != 0:
        raise RuntimeError(f"{variant} {pruner} failed")
    result = json.loads(out.strip().splitlines()[-1])
    result["peak_rss_gib"] = usage.ru_maxrss / 2**20  # KiB -> GiB
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--blocks", type=int, default=8)
    ap.add_argument("--hidden", type=int, default=1024)
    ap.add_argument("--intermediate", type=int, default=2752)
    ap.add_argument("--heads", type=int, default=0, help="attention heads (0: hidden / 64; SmolLM2-135M: 9)")
    ap.add_argument("--kv-heads", type=int, default=0, help="key/value heads (0: as heads; SmolLM2-135M: 3)")
    ap.add_argument("--samples", type=int, default=16, help="calibration sequences")
    ap.add_argument("--seqlen", type=int, default=128)
    ap.add_argument("--batch", type=int, default=8, help="our sequences per forward")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--sparsity", type=float, default=0.5)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--pruners", default="wanda,sparsegpt")
    ap.add_argument("--ours-only", action="store_true", help="skip the reference driver (it runs on the CPU)")
    ap.add_argument("--child", choices=["ours", "reference"], help=argparse.SUPPRESS)
    ap.add_argument("--pruner", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args)
        return
    heads = args.heads or args.hidden // 64
    kv = (args.kv_heads or heads) / heads  # k and v projections are this share of q's size under GQA
    params = args.blocks * ((2 + 2 * kv) * args.hidden**2 + 3 * args.hidden * args.intermediate)
    print(
        f"model: llama, {args.blocks} blocks, hidden {args.hidden}, {params / 1e6:.0f}M prunable parameters; "
        f"{args.samples} x {args.seqlen} calibration tokens; device {args.device}"
    )
    for pruner in args.pruners.split(","):
        ours = run_child(args, "ours", pruner)
        if args.ours_only:
            print(
                f"{pruner:9s} seconds/block: ours {ours['seconds_per_block']:.2f}; "
                f"peak RSS {ours['peak_rss_gib']:.2f} GiB"
            )
        else:
            ref = run_child(args, "reference", pruner)
            ratio = ref["seconds_per_block"] / ours["seconds_per_block"]
            print(
                f"{pruner:9s} seconds/block: ours {ours['seconds_per_block']:.2f}, reference "
                f"{ref['seconds_per_block']:.2f} ({ratio:.2f}x); peak RSS: ours "
                f"{ours['peak_rss_gib']:.2f} GiB, reference {ref['peak_rss_gib']:.2f} GiB"
            )
        if "gpu_peak_gib" in ours:
            print(
                f"{pruner:9s} streamed GPU peak {ours['gpu_peak_gib']:.2f} GiB for a "
                f"{ours['model_gib']:.2f} GiB model ({ours['gpu_peak_gib'] / ours['model_gib']:.2f}x)"
            )


if __name__ == "__main__":
    main()
