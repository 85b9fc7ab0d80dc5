"""Terminal summary of a finished run (what `make run` prints), read from the Parquet outputs."""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd

__all__ = ["summarize"]


def summarize(results: Path) -> str:
    """A short text summary: tiny-model training, GGUF conversion, per-block calibration statistics,
    the findings, the dense references and the headline."""
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
    conversions = sorted(results.glob("conversion/*/summary.parquet"))
    if conversions:
        table = pd.concat(pd.read_parquet(p) for p in conversions)
        cols = ["model", "family", "architecture", "file_type", "n_blocks", "n_params", "gguf_sha256"]
        lines += ["", "GGUF models (dequantized to float32):", table[cols].to_string(index=False)]
    for path in sorted(results.glob("calibration/*/seed*/layer_stats.parquet"))[:1]:  # one seed suffices
        stats = pd.read_parquet(path)
        block_cols = [c for c in stats.columns if c.startswith("block_") and c != "block_params"]
        per_block = stats.groupby("block")[block_cols].first()
        lines += ["", f"calibration statistics per block: {path}", per_block.to_string(float_format="%.4g")]
    findings = results / "summary" / "findings.parquet"
    if findings.is_file():
        cols = [
            "model",
            "sparsity",
            "share_absorbing",
            "first_absorbing_block",
            "drift_depth_spearman",
            "cos_depth_spearman",
            "small_eps_all_amplify",
            "share_blocks_with_transition",
            "amplifying_blocks_local",
            "max_local_gain",
        ]
        lines += [
            "",
            f"perturbation-absorption findings: {findings}",
            pd.read_parquet(findings)[cols].set_index("model").round(3).T.to_string(),
        ]
    grid = results / "summary" / "grid.parquet"
    if grid.is_file():
        table = pd.read_parquet(grid)
        cols = ["model", "pruner", "allocation", "correction", "sparsity", "achieved_sparsity", "ppl"]
        cols.append("zeroshot_mean")
        dense = table[table["pruner"] == "dense"]
        lines += ["", f"dense references: {grid}", dense[cols].to_string(index=False, float_format="%.4g")]
    headline = results / "summary" / "headline.parquet"
    claims = results / "summary" / "paper_claims.parquet"
    if headline.is_file():
        from .verdict import verdict_text

        lines += [
            "",
            f"headline: {headline}",
            verdict_text(
                pd.read_parquet(headline),
                pd.read_parquet(claims) if claims.is_file() else None,
                pd.read_parquet(grid) if grid.is_file() else None,
            ),
        ]
    exports = sorted(p.parent for p in results.glob("export/models/**/provenance.json"))
    if exports:
        lines += ["", "exported models (Hugging Face directories; docs/results.md, Exports):"]
        lines += [f"  {p}" for p in exports]
    figures = sorted(results.glob("figures/*/*.png"))
    if figures:
        lines += ["", "figures:", *(f"  {p}" for p in figures)]
    report = results / "report.html"
    if report.is_file():
        lines += ["", f"HTML report (self-contained): {report.resolve()}"]
    return "\n".join(lines)


if __name__ == "__main__":
    print(summarize(Path(sys.argv[1] if len(sys.argv) > 1 else "results")))
