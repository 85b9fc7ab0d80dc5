"""Figures, drawn only from the Parquet tables (never recomputed). PNG via matplotlib's Agg backend."""

from __future__ import annotations

import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from .provenance import atomic_file

__all__ = [
    "absorption_figure",
    "allocation_figure",
    "drift_depth_figure",
    "grid_figure",
    "local_gains_figure",
    "transition_figure",
]


def _save(fig: plt.Figure, path: str | os.PathLike[str]) -> None:
    fig.tight_layout()
    with atomic_file(path) as tmp:
        fig.savefig(tmp, format="png", dpi=130)
    plt.close(fig)


def _block_colors(n: int) -> list:
    return [plt.get_cmap("viridis")(i / max(1, n - 1)) for i in range(n)]


def drift_depth_figure(drift: pd.DataFrame, n_blocks: int, model: str, sparsity: float, path: str) -> None:
    """Relative L2 drift (and cosine) against depth, one curve per injection block, prune kind at S."""
    d = drift[(drift["kind"] == "prune") & np.isclose(drift["magnitude"], sparsity)]
    fig, (ax, ax_cos) = plt.subplots(1, 2, figsize=(11, 4.2))
    colors = _block_colors(n_blocks)
    for k, part in d.groupby("inject_block"):
        part = part.sort_values("depth")
        ax.plot(part["depth"], part["rel_l2"], marker="o", ms=3, color=colors[int(k)], label=f"block {k}")
        ax_cos.plot(part["depth"], part["cos"], marker="o", ms=3, color=colors[int(k)])
    ticks = list(range(n_blocks + 1))
    for a in (ax, ax_cos):
        a.set_xticks(ticks, [str(t) for t in ticks[:-1]] + ["final"])
        a.set_xlabel("depth j (block index; final = after the final norm)")
        a.grid(alpha=0.3)
    ax.set_yscale("log")
    ax.set_ylabel("relative L2 drift  d_j")
    ax.set_title(f"{model}: drift after pruning one block at s={sparsity:g}")
    ax_cos.set_ylabel("cosine to clean state  c_j")
    ax_cos.set_title("direction realignment")
    ax.legend(title="injected at", fontsize=7, ncol=2)
    _save(fig, path)


def transition_figure(transition_drift: pd.DataFrame, n_blocks: int, model: str, path: str) -> None:
    """``d_final / d_k`` against magnitude per block, one panel per magnitude kind."""
    d = transition_drift
    kinds = [k for k in ("gaussian", "prune_dir") if k in set(d["kind"])]
    fig, axes = plt.subplots(1, max(1, len(kinds)), figsize=(5.5 * max(1, len(kinds)), 4.2), squeeze=False)
    colors = _block_colors(n_blocks)
    for ax, kind in zip(axes[0], kinds, strict=False):
        part = d[d["kind"] == kind]
        inject = (
            part[part["depth"] == part["inject_block"]]
            .groupby(["inject_block", "magnitude"])["rel_l2"]
            .mean()
        )
        final = part[part["depth"] == n_blocks].groupby(["inject_block", "magnitude"])["rel_l2"].mean()
        ratio = (final / inject).rename("ratio").reset_index()
        for k, rows in ratio.groupby("inject_block"):
            ax.plot(
                rows["magnitude"], rows["ratio"], marker="o", ms=3, color=colors[int(k)], label=f"block {k}"
            )
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("relative perturbation size eps")
        ax.set_ylabel("d_final / d_k  (> 1 amplified, < 1 absorbed)")
        ax.set_title(f"{model}: {kind}")
        ax.grid(alpha=0.3)
    axes[0][0].legend(title="injected at", fontsize=7, ncol=2)
    _save(fig, path)


def absorption_figure(coefficients: pd.DataFrame, model: str, path: str) -> None:
    """Absorption coefficient A_k per block, one line per sparsity."""
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    sparsities = sorted(coefficients["sparsity"].unique())
    cmap = plt.get_cmap("plasma")
    for i, s in enumerate(sparsities):
        part = coefficients[coefficients["sparsity"] == s].sort_values("block")
        ax.plot(
            part["block"],
            part["coefficient"],
            marker="o",
            color=cmap(i / max(1, len(sparsities))),
            label=f"s={s:g}",
        )
    ax.axhline(0.0, color="black", lw=0.8, ls="--")
    ax.set_xlabel("pruned block k")
    ax.set_ylabel("A_k = ln(d_k / d_final)  (> 0 absorbs)")
    ax.set_title(f"{model}: absorption coefficients")
    ax.legend(title="sparsity", fontsize=8)
    ax.grid(alpha=0.3)
    _save(fig, path)


def local_gains_figure(gains: pd.DataFrame, model: str, path: str) -> None:
    """Mean local gain g_j per block (over upstream prune injections and calibration seeds), with
    its standard error over seeds; blocks above 1 amplify what reaches them."""
    d = gains.sort_values("block")
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    err = d["local_gain_se"].fillna(0.0)
    colors = ["tab:red" if a else "tab:blue" for a in d["amplifies"]]
    ax.bar(d["block"], d["local_gain"] - 1.0, bottom=1.0, yerr=err, color=colors, capsize=2)
    ax.axhline(1.0, color="black", lw=0.8, ls="--")
    ax.set_xlabel("block j (last bar: the final norm)")
    ax.set_ylabel("local gain g_j = d_j / d_(j-1)")
    s = float(d["sparsity"].iloc[0]) if len(d) else float("nan")
    ax.set_title(f"{model}: local gains at pruning scale (s={s:g}); red amplifies")
    ax.grid(alpha=0.3, axis="y")
    _save(fig, path)


def _variant_styles(names: list[str]) -> dict[str, str]:
    return {name: plt.get_cmap("tab10")(i % 10) for i, name in enumerate(sorted(names))}


def allocation_figure(allocations: pd.DataFrame, model: str, path: str) -> None:
    """Block sparsity against block index, one panel per target sparsity: every base allocation
    (solid) with its corrected variants (dashed)."""
    d = allocations[allocations["model"] == model]
    # one calibration seed and pruner: the others draw the same shapes
    d = d[(d["seed"] == d["seed"].min()) & (d["pruner"] == sorted(d["pruner"])[0])]
    sparsities = sorted(set(d["sparsity"]))
    fig, axes = plt.subplots(1, len(sparsities), figsize=(5.2 * len(sparsities), 4.2), squeeze=False)
    colors = _variant_styles(list(set(d["allocation"])))
    for ax, s in zip(axes[0], sparsities, strict=True):
        at_s = d[np.isclose(d["sparsity"], s)]
        for (alloc, variant, corr), part in at_s.groupby(
            ["allocation", "allocation_variant", "correction_variant"]
        ):
            part = part.sort_values("block")
            style = "-" if corr == "none" else "--"
            label = variant if corr == "none" else f"{variant} + {corr}"
            color = colors[alloc]
            ax.plot(part["block"], part["block_sparsity"], style, marker="o", ms=3, color=color, label=label)
        ax.axhline(s, color="grey", lw=0.8, alpha=0.6)
        ax.set_xlabel("block")
        ax.set_ylabel("block sparsity")
        ax.set_title(f"{model}: allocations at S={s:g}")
        ax.grid(alpha=0.3)
    axes[0][-1].legend(fontsize=7, ncol=2)
    _save(fig, path)


def grid_figure(grid: pd.DataFrame, model: str, path: str) -> None:
    """Perplexity and mean zero-shot accuracy (means over calibration seeds) against target
    sparsity, per pruner x allocation; solid = uncorrected, dashed = corrected; the dense model
    as a horizontal line."""
    d = grid[grid["model"] == model]
    dense = d[d["pruner"] == "dense"]
    cells = d[(d["pruner"] != "dense") & (d["structure"] == "unstructured")]
    keys = ["pruner", "allocation", "correction_variant", "sparsity"]
    cells = cells.groupby(keys, as_index=False)[
        ["ppl", "zeroshot_mean", "zeroshot_tasks"]
    ].mean()  # over seeds
    has_zs = bool(cells["zeroshot_tasks"].gt(0).any())
    panels = [("ppl", "perplexity (log)"), ("zeroshot_mean", "mean zero-shot accuracy")][: 2 if has_zs else 1]
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    colors = _variant_styles(list(set(cells["allocation"])))
    markers = dict(zip(sorted(set(cells["pruner"])), "os^", strict=False))
    for ax, (col, label) in zip(axes[0], panels, strict=True):
        for (pruner, alloc, corr), part in cells.groupby(["pruner", "allocation", "correction_variant"]):
            part = part.sort_values("sparsity")
            name = f"{pruner} {alloc}" + ("" if corr == "none" else f" + {corr}")
            ax.plot(
                part["sparsity"],
                part[col],
                "-" if corr == "none" else "--",
                marker=markers[pruner],
                ms=4,
                color=colors[alloc],
                label=name,
            )
        if len(dense):
            ax.axhline(float(dense[col].iloc[0]), color="black", lw=0.8, ls=":", label="dense")
        if col == "ppl":
            ax.set_yscale("log")
        ax.set_xlabel("target sparsity")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0][0].set_title(f"{model}: the grid")
    axes[0][-1].legend(fontsize=6, ncol=2)
    _save(fig, path)
