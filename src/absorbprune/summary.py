"""Terminal summary of a finished run (what `make run` prints), read from the Parquet outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

__all__ = ["summarize"]


def summarize(results: Path) -> str:
    """A short text summary: tiny-model training and per-block calibration statistics."""
    lines = [f"results in {results.resolve()}"]
    summaries = sorted(results.glob("training/*/summary.parquet"))
    if summaries:
        table = pd.concat(pd.read_parquet(p) for p in summaries)
        cols = ["model", "family", "n_blocks", "n_params", "steps", "valid_ppl_before", "valid_ppl_after"]
        lines += [
            "",
            "built-in models (validation perplexity before/after training):",
            table[cols].to_string(index=False, float_format="%.2f"),
        ]
    for path in sorted(results.glob("calibration/*/layer_stats.parquet")):
        stats = pd.read_parquet(path)
        block_cols = [c for c in stats.columns if c.startswith("block_") and c != "block_params"]
        per_block = stats.groupby("block")[block_cols].first()
        lines += ["", f"calibration statistics per block: {path}", per_block.to_string(float_format="%.4g")]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "results")))
