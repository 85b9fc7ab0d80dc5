"""Our sequential Wanda pass against the reference's pattern on a real model, block by block.

Run by hand (not part of the tests), one core:

    PYTHONPATH=src .venv/bin/python bench/sequential_reference.py \
        --model-dir results/models/smollm2 \
        --tokens results/calibration/smollm2/seed0/tokens.safetensors \
        --ppl-tokens results/eval/smollm2/ppl_tokens.safetensors

Three passes over the same dense model and calibration sequences, uniform sparsity:

* ours: ``pruning.sequential.prune_model`` (batched forwards, recorded block arguments, the
  project's statistic ``sqrt(sum x^2 / n_tokens)``);
* reference: ``pruning.reference.reference_wanda`` (locuslab/wanda's structure: catcher on block
  0, batch-one forwards, the running-mean statistic);
* reference-forward + our statistic: the reference's forwards with the project's statistic, which
  separates the forwards' rounding from the statistic's.

For each pair it prints, per block, how far the block inputs are apart (max abs, max relative,
in float32 ulps, share of entries not bit-equal) and how many mask entries differ, then the test
perplexity of each pruned model (the workflow's protocol: ``--seqlen``, ``--max-windows``).

With ``--seeds FIRST STOP --corpus results/corpus`` instead of ``--tokens``, it draws the
calibration sets of seeds FIRST..STOP-1 itself (the workflow's draw: ``data.tokens``, 8 x 128
tokens of the built-in corpus's train split) and prints, per seed, the test perplexity of ours,
ours at batch 1 and the reference pattern: the spread of the two float-level variants over seeds.
"""

from __future__ import annotations

import argparse
import copy
import time

import pandas as pd
import torch

from absorbprune.calibration.hooks import SquareSum
from absorbprune.core.io import read_tensors
from absorbprune.evaluation.perplexity import window_ppl
from absorbprune.models.adapter import Adapter
from absorbprune.models.loading import load_model, load_tokenizer
from absorbprune.pruning.reference import PassTrace, compare_traces, reference_wanda, trace_prune_model
from absorbprune.pruning.sequential import PruneSpec, prune_model

SPEC = {"source": "gguf", "family": "llama", "dtype": "float32", "device": "cpu", "trust_remote_code": False}


def first_difference(table: pd.DataFrame) -> str:
    inputs = table[table["input_frac_differ"] > 0]
    masks = table[table["mask_differ"] > 0]
    where = f"block {int(inputs['block'].iloc[0])}" if len(inputs) else "none"
    mask_at = f"block {int(masks['block'].iloc[0])}" if len(masks) else "none"
    return f"first input difference: {where}; first mask difference: {mask_at}"


@torch.no_grad()
def project_norms(dense: Adapter, block: int, inputs: torch.Tensor, batch: int) -> dict[str, torch.Tensor]:
    """The norms our pass computed at ``block``: its statistic on the dense block and its inputs."""
    linears = dense.linears(block)
    stats = {n: SquareSum(lin.in_features, torch.device("cpu")) for n, lin in linears.items()}
    handles = [lin.register_forward_pre_hook(stats[n]) for n, lin in linears.items()]
    for h in inputs.split(batch):
        dense.run_block(block, h)
    for handle in handles:
        handle.remove()
    return {n: torch.sqrt(s.sq_sum / s.n_tokens) for n, s in stats.items()}


def near_ties(dense: Adapter, ours: PassTrace, ref: PassTrace, batch: int) -> None:
    """At the first block whose masks differ: the swapped weights' scores under both statistics,
    and how far the two statistics are apart (in float32 ulps at 1, after the sqrt(T) scale)."""
    block = min(k[0] for k in ours.masks if not torch.equal(ours.masks[k], ref.masks[k]))
    norms = project_norms(dense, block, ours.inputs[block], batch)
    seqlen = ours.inputs[block].shape[1]
    eps = torch.finfo(torch.float32).eps
    print(
        f"\nfirst mask difference, block {block}; its inputs equal in both passes: "
        f"{torch.equal(ours.inputs[block], ref.inputs[block])}"
    )
    for key in sorted(k for k in ours.masks if k[0] == block):
        ratio = ref.norms[key].double() / seqlen**0.5 / norms[key[1]].double()
        print(
            f"  {key[1]:18s} norms: reference / ours - 1 up to {float((ratio - 1).abs().max()) / eps:.1f} "
            f"ulps (median {float((ratio - 1).abs().median()) / eps:.2f})"
        )
        differ = ours.masks[key] != ref.masks[key]
        w = dense.linears(block)[key[1]].weight.abs()
        for row in torch.nonzero(differ.any(dim=1)).flatten().tolist():
            cols = torch.nonzero(differ[row]).flatten().tolist()
            mine = [c for c in cols if ours.masks[key][row, c]]
            theirs = [c for c in cols if ref.masks[key][row, c]]
            s_ours = (w[row] * norms[key[1]]).tolist()
            s_ref = (w[row] * ref.norms[key]).tolist()
            for a, b in zip(mine, theirs, strict=False):
                gap = abs(s_ours[a] - s_ours[b]) / max(s_ours[a], s_ours[b])
                print(
                    f"    row {row}: ours prunes column {a}, the reference {b}; |W| {float(w[row, a]):.6g} "
                    f"vs {float(w[row, b]):.6g}; relative score gap {gap:.2e} ({gap / eps:.2f} ulps); "
                    f"ours {s_ours[a]:.9g} <= {s_ours[b]:.9g}, reference {s_ref[b]:.9g} <= {s_ref[a]:.9g}"
                )


def seed_sweep(dense: Adapter, args: argparse.Namespace) -> None:
    """Per calibration seed: ours, ours at batch 1 and the reference pattern, test perplexity."""
    from absorbprune.data.sources import load_split
    from absorbprune.data.tokens import calibration_tokens

    tokenizer = load_tokenizer("smollm2", SPEC, args.model_dir)
    train = load_split("local", "train", {}, args.corpus)
    test = read_tensors(args.ppl_tokens, ("input_ids",))["input_ids"].flatten()
    sparsity = [args.sparsity] * dense.n_blocks
    rows = []
    for seed in range(*args.seeds):
        ids = calibration_tokens("local", train, tokenizer, args.samples, args.seqlen, seed)
        row: dict[str, float] = {"seed": seed}
        for name in ("ours", "ours_batch1", "reference"):
            adapter = copy.deepcopy(dense)
            if name == "reference":
                reference_wanda(adapter, ids, sparsity, keep_inputs=False)
            else:
                batch = 1 if name == "ours_batch1" else args.batch
                prune_model(adapter, ids, sparsity, PruneSpec("wanda", None, batch), torch.device("cpu"))
            row[name] = window_ppl(adapter.model, test, args.seqlen, args.max_windows or None)
        row["reference_vs_ours"] = row["reference"] / row["ours"] - 1
        row["batch1_vs_ours"] = row["ours_batch1"] / row["ours"] - 1
        print(
            f"seed {seed}: ours {row['ours']:.4f}, batch 1 {row['ours_batch1']:.4f}, reference "
            f"{row['reference']:.4f} ({row['reference_vs_ours']:+.4f}; batch 1 {row['batch1_vs_ours']:+.4f})"
        )
        rows.append(row)
    table = pd.DataFrame(rows)
    for col in ("reference_vs_ours", "batch1_vs_ours"):
        x = table[col]
        print(
            f"{col}: mean {x.mean():+.4f}, sd {x.std(ddof=0):.4f}, median |.| {x.abs().median():.4f}, "
            f"max |.| {x.abs().max():.4f}; {(x > 0).sum()} up, {(x < 0).sum()} down, {(x == 0).sum()} equal"
        )
    ours = table["ours"]
    print(f"ours over seeds: {ours.min():.1f} to {ours.max():.1f}, sd / mean {ours.std() / ours.mean():.3f}")
    if args.out:
        table.to_csv(args.out, index=False)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, help="a converted model directory (rule convert_gguf)")
    ap.add_argument("--tokens", help="calibration tokens (rule calibration_tokens)")
    ap.add_argument("--seeds", type=int, nargs=2, metavar=("FIRST", "STOP"), help="draw these sets instead")
    ap.add_argument("--corpus", help="with --seeds: the built-in corpus directory (rule corpus)")
    ap.add_argument("--samples", type=int, default=8, help="with --seeds: sequences per set")
    ap.add_argument("--ppl-tokens", help="test tokens (rule ppl_tokens); omitted: no perplexity")
    ap.add_argument("--sparsity", type=float, default=0.7)
    ap.add_argument("--batch", type=int, default=8, help="our pass's calibration batch size")
    ap.add_argument("--seqlen", type=int, default=128)
    ap.add_argument("--max-windows", type=int, default=8, help="0: every window")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", help="write the per-block comparison here (csv)")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    pd.set_option("display.width", 200, "display.max_columns", 20, "display.max_rows", 100)

    dense = load_model("smollm2", SPEC, args.model_dir, device="cpu")
    if args.seeds:
        if not (args.corpus and args.ppl_tokens):
            ap.error("--seeds needs --corpus and --ppl-tokens")
        seed_sweep(dense, args)
        return
    if not args.tokens:
        ap.error("give --tokens (or --seeds)")
    ids = read_tensors(args.tokens, ("input_ids",))["input_ids"]
    sparsity = [args.sparsity] * dense.n_blocks
    print(f"calibration {tuple(ids.shape)}, {dense.n_blocks} blocks, uniform {args.sparsity}")

    passes: dict[str, tuple[PassTrace, torch.nn.Module]] = {}
    for name in ("ours", "reference", "reference-forward + our statistic"):
        adapter = copy.deepcopy(dense)
        t0 = time.perf_counter()
        if name == "ours":
            spec = PruneSpec("wanda", None, args.batch)
            trace = trace_prune_model(adapter, ids, sparsity, spec, torch.device("cpu"))
        else:
            stat = "reference" if name == "reference" else "project"
            trace = reference_wanda(adapter, ids, sparsity, statistic=stat)
        print(f"{name}: pruned in {time.perf_counter() - t0:.1f} s")
        passes[name] = (trace, adapter.model)

    tables = []
    for other in ("reference", "reference-forward + our statistic"):
        table = compare_traces(passes["ours"][0], passes[other][0])
        print(f"\n== ours vs {other}: {first_difference(table)}")
        print(table.to_string(index=False, float_format=lambda v: f"{v:.3g}"))
        total = table["mask_differ"].sum()
        entries = sum(m.numel() for m in passes["ours"][0].masks.values())
        print(f"mask entries that differ: {total} of {entries} ({total / entries:.3%})")
        tables.append(table.assign(against=other))
    if args.out:
        pd.concat(tables).to_csv(args.out, index=False)
    near_ties(dense, passes["ours"][0], passes["reference"][0], args.batch)

    if args.ppl_tokens:
        test = read_tensors(args.ppl_tokens, ("input_ids",))["input_ids"].flatten()
        windows = args.max_windows or None
        print(f"\ntest perplexity ({args.seqlen}-token windows, max_windows={windows}):")
        for name, (_, model) in {"dense": (None, dense.model), **passes}.items():
            print(f"  {name:36s} {window_ppl(model, test, args.seqlen, windows):.4f}")


if __name__ == "__main__":
    main()
