"""Benchmark: Wanda's per-row selection (``pruning.masks.lowest_per_row``) against the reference's
stable sort, side by side on one thread, on the linear shapes of the real models.

Run by hand (not part of the tests):  .venv/bin/python bench/masks.py [--repeats 5]

Prints, per shape and sparsity, the median time of each and their ratio, and checks the masks are
equal bit for bit (the scores are Q4-like: ties are common).
"""

from __future__ import annotations

import argparse
import math
import statistics
import time

import torch

from absorbprune.pruning.masks import lowest_per_row

SHAPES = {  # (C_out, C_in) of the real models' linears
    "smollm2 q/o": (576, 576),
    "smollm2 up/gate": (1536, 576),
    "smollm2 down": (576, 1536),
    "gemma3 up/gate": (2048, 640),
    "qwen2 up/gate": (4864, 896),
    "qwen2 down": (896, 4864),
}


def by_sort(scores: torch.Tensor, k: int) -> torch.Tensor:
    mask = torch.zeros_like(scores, dtype=torch.bool)
    return mask.scatter_(1, torch.sort(scores, dim=1, stable=True).indices[:, :k], True)


def timed(fn, *args, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn(*args)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gen = torch.Generator().manual_seed(0)
    print(f"{'shape':18} {'s':>4} {'sort ms':>9} {'select ms':>10} {'ratio':>6} equal")
    for name, (rows, cols) in SHAPES.items():
        levels = torch.randint(0, 16, (rows, cols), generator=gen).float() - 7.5
        scores = levels.abs() * (torch.rand(cols, generator=gen) + 0.5)
        for s in (0.5, 0.7):
            k = math.floor(cols * s)
            a = timed(by_sort, scores, k, repeats=args.repeats)
            b = timed(lowest_per_row, scores, k, repeats=args.repeats)
            same = torch.equal(by_sort(scores, k), lowest_per_row(scores, k))
            print(f"{name:18} {s:4.1f} {a * 1e3:9.1f} {b * 1e3:10.1f} {a / b:6.2f} {same}")


if __name__ == "__main__":
    main()
