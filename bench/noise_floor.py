"""The noise floor of one cell (``evaluation.noise``): SmolLM2, uniform Wanda, on the CPU.

Run by hand (not part of the tests):

    PYTHONPATH=src .venv/bin/python bench/noise_floor.py \
        --model-dir results/models/smollm2 \
        --tokens results/calibration/smollm2/seed0/tokens.safetensors \
        --ppl-tokens results/eval/smollm2/ppl_tokens.safetensors

It prunes the cell unperturbed and under each float-level perturbation, measures the test
perplexity of each (the default config's protocol: 128-token windows, 8 of them spread over the
text; ``--max-windows 0`` for all), and prints the table and the noise floor. With
``--reference`` it also prunes the cell with the reference-pattern pass
(``pruning.reference.reference_wanda``) and prints its deviation beside the floor.
"""

from __future__ import annotations

import argparse
import copy
import logging
import time

import pandas as pd
import torch

from absorbprune.core.io import read_tensors
from absorbprune.evaluation.cell import PerplexitySpec
from absorbprune.evaluation.noise import DEFAULT_PERTURBATIONS, PERTURBATIONS, noise_floor, noise_table
from absorbprune.evaluation.perplexity import ppl_row
from absorbprune.models.loading import load_model
from absorbprune.pruning.reference import reference_wanda
from absorbprune.pruning.sequential import PruneSpec

SPEC = {"source": "gguf", "family": "llama", "dtype": "float32", "device": "cpu", "trust_remote_code": False}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model-dir", required=True, help="a converted model directory (rule convert_gguf)")
    ap.add_argument("--tokens", required=True, help="calibration tokens (rule calibration_tokens)")
    ap.add_argument("--ppl-tokens", required=True, help="test tokens (rule ppl_tokens)")
    ap.add_argument("--sparsity", type=float, default=0.7)
    ap.add_argument("--pruner", default="wanda")
    ap.add_argument("--batch", type=int, default=8, help="the cell's calibration batch size")
    ap.add_argument("--seqlen", type=int, default=128)
    ap.add_argument("--max-windows", type=int, default=8, help="0: every window")
    ap.add_argument(
        "--perturbations", nargs="+", default=list(DEFAULT_PERTURBATIONS), choices=sorted(PERTURBATIONS)
    )
    ap.add_argument("--reference", action="store_true", help="also the reference-pattern pass (wanda)")
    ap.add_argument("--out", help="write the table here (csv)")
    args = ap.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    torch.set_num_threads(1)
    pd.set_option("display.width", 200, "display.max_columns", 20)

    adapter = load_model("smollm2", SPEC, args.model_dir, device="cpu")
    ids = read_tensors(args.tokens, ("input_ids",))["input_ids"]
    test = read_tensors(args.ppl_tokens, ("input_ids",))["input_ids"]
    sparsity = [args.sparsity] * adapter.n_blocks
    spec = PruneSpec(args.pruner, None, args.batch, {"blocksize": 128, "percdamp": 0.01})
    protocol = PerplexitySpec("test", args.seqlen, 8, args.max_windows or None)
    cpu = torch.device("cpu")

    t0 = time.perf_counter()
    table = noise_table(adapter, ids, sparsity, spec, test, protocol, cpu, args.perturbations, "smollm2")
    took = time.perf_counter() - t0
    print(f"\n{args.pruner} uniform {args.sparsity}, calibration {tuple(ids.shape)} ({took:.0f} s)")
    print(table.to_string(index=False, float_format=lambda v: f"{v:.6g}"))
    floor = noise_floor(table)
    print(f"noise floor (max |rel_deviation| over {len(table) - 1} perturbations): {floor:.4f}")
    if args.out:
        table.to_csv(args.out, index=False)
    if args.reference:
        ref = copy.deepcopy(adapter)  # noise_table left it dense
        reference_wanda(ref, ids, sparsity, keep_inputs=False)
        row = ppl_row(ref.model, test, protocol.seqlen, 8, {}, "test", protocol.max_windows)
        ppl = float(row["ppl"].iloc[0])
        dev = ppl / float(table["ppl"].iloc[0]) - 1
        print(
            f"reference-pattern pass: ppl {ppl:.4f}, deviation from ours {dev:+.4f} "
            f"({abs(dev) / floor:.1f}x the noise floor)"
        )


if __name__ == "__main__":
    main()
