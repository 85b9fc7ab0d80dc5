"""Figures, drawn only from the Parquet tables (never recomputed). PNG via matplotlib's Agg backend."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Collection

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from ..core.io import atomic_file
from ..plan.cell import method_of

__all__ = [
    "absorption_figure",
    "allocation_figure",
    "drift_depth_figure",
    "grid_figure",
    "local_gains_figure",
    "readings_figure",
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


def transition_figure(
    transition_drift: pd.DataFrame,
    n_blocks: int,
    model: str,
    path: str,
    transitions: pd.DataFrame | None = None,
) -> None:
    """``d_final / d_k`` against magnitude per block, one panel per magnitude kind; each block's
    crossing of 1, ``eps*`` (``transitions``: rows of ``tables.TRANSITIONS``), marked with an X."""
    d = transition_drift
    kinds = [k for k in ("gaussian", "prune_dir") if k in set(d["kind"])]
    legend_width = 1.6 * (1 + n_blocks // 16)  # inches beside the last panel for the legend
    fig, axes = plt.subplots(
        1, max(1, len(kinds)), figsize=(5.5 * max(1, len(kinds)) + legend_width, 4.2), squeeze=False
    )
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
            if transitions is not None:
                star = transitions[(transitions["kind"] == kind) & (transitions["block"] == int(k))]
                if len(star) and np.isfinite(star["eps_star"].iloc[0]):
                    ax.plot(
                        float(star["eps_star"].iloc[0]), 1.0, marker="X", ms=9, mec="black", mew=0.8,
                        color=colors[int(k)], ls="none",
                    )  # fmt: skip
        ax.axhline(1.0, color="black", lw=0.8, ls="--")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("relative perturbation size eps")
        ax.set_ylabel("d_final / d_k  (> 1 amplified, < 1 absorbed)")
        ax.set_title(f"{model}: {kind}")
        ax.grid(alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    if transitions is not None:
        handles.append(plt.Line2D([], [], marker="X", ms=8, mec="black", color="white", ls="none"))
        labels.append("eps* (crosses 1)")
    # outside the axes: inside it hid the first blocks' curves
    axes[0][-1].legend(
        handles, labels, title="injected at", fontsize=7, ncol=1 + n_blocks // 16,
        loc="upper left", bbox_to_anchor=(1.01, 1.0),
    )  # fmt: skip
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


def readings_figure(readings: pd.DataFrame, model: str, path: str) -> None:
    """The paper's r_l by depth under every reading (pooled over calibration seeds), one line each,
    coloured by how it treats the first position; the default reading in black."""
    part = readings[(readings["model"] == model) & (readings["seed"] == -1)]
    fig, ax = plt.subplots(figsize=(7.0, 4.4))
    colors = {
        ("token", True): "tab:blue",
        ("token", False): "tab:cyan",
        ("frobenius", True): "tab:red",
        ("frobenius", False): "tab:orange",
    }
    seen = set()
    for _, one in part.groupby("reading", sort=True):
        one = one.sort_values("block")
        first = one.iloc[0]
        with_first = first["first_token"] == "perturbed" and first["measure"] == "all"
        key = (first["aggregation"], bool(with_first))
        label = f"{key[0]}, first token {'in' if key[1] else 'out'}"
        ax.plot(
            one["block"],
            one["r"],
            color=colors[key],
            lw=0.8,
            alpha=0.55,
            ls="-" if first["perturbation"] == "gaussian" else "--",
            label=None if label in seen else label,
        )
        seen.add(label)
    default = part[part["default"]].sort_values("block")
    if len(default):
        ax.plot(default["block"], default["r"], color="black", lw=2.2, label="default reading")
    ax.axhline(1.0, color="black", lw=0.8, ls=":")
    ax.set_yscale("log")
    ax.set_xlabel("injection block l")
    ax.set_ylabel("r_l = E[R_L / R_l]  (> 1 amplifies)")
    n = part["reading"].nunique()
    holds = part.drop_duplicates("reading")["paper_pattern"].sum()
    ax.set_title(f"{model}: r_l under {n} readings (dashed: prune_dir); paper's pattern in {holds}")
    ax.legend(fontsize=7)
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


# One colour per correction, the same in every figure; the base (none) is black. Controls are dotted,
# corrections dashed, the base solid and thicker: the legend's swatches (long handles) show it.
_CORRECTION_COLORS = {
    "none": "black",
    "paper": "tab:red",
    "absorption": "tab:blue",
    "depth": "tab:olive",
    "shuffled": "tab:purple",
    "flipped": "tab:brown",
}
_HANDLE = 3.5  # legend handle length, in font sizes: long enough to show a dash pattern


def _correction_style(correction: str, controls: Collection[str]) -> dict:
    """Line style of a correction (its registered name): colour, dash (``controls`` dotted), width."""
    color = _CORRECTION_COLORS.get(correction)
    if color is None:  # a correction registered later: a stable colour from its name
        color = plt.get_cmap("tab10")(int(hashlib.sha256(correction.encode()).hexdigest(), 16) % 10)
    if correction == "none":
        return {"color": color, "ls": "-", "lw": 2.0}
    return {"color": color, "ls": ":" if correction in controls else "--", "lw": 1.4}


def allocation_figure(
    allocations: pd.DataFrame, model: str, path: str, controls: Collection[str] = ()
) -> None:
    """Block sparsity against block index: one row of panels per allocation variant (a swept
    hyperparameter's values get their own rows), one column per target sparsity; in each panel the
    base (black, solid) and every correction variant (dashed; ``controls``, registered names, dotted)."""
    d = allocations[allocations["model"] == model]
    # one calibration seed and pruner: the others draw the same shapes
    d = d[(d["seed"] == d["seed"].min()) & (d["pruner"] == sorted(d["pruner"])[0])]
    variants, sparsities = sorted(set(d["allocation_variant"])), sorted(set(d["sparsity"]))
    fig, axes = plt.subplots(
        len(variants), len(sparsities), figsize=(6.4 * len(sparsities), 3.6 * len(variants)), squeeze=False
    )
    for row, variant in zip(axes, variants, strict=True):
        for ax, s in zip(row, sparsities, strict=True):
            at = d[(d["allocation_variant"] == variant) & np.isclose(d["sparsity"], s)]
            for corr, part in sorted(at.groupby("correction_variant"), key=lambda x: (x[0] != "none", x[0])):
                part = part.sort_values("block")
                label = "base" if corr == "none" else corr
                ax.plot(
                    part["block"],
                    part["block_sparsity"],
                    marker="o",
                    ms=2.5,
                    label=label,
                    **_correction_style(method_of(corr), controls),
                )
            ax.axhline(s, color="grey", lw=0.8, alpha=0.6)
            ax.set_xlabel("block")
            ax.set_ylabel("block sparsity")
            ax.set_title(f"{model}: {variant} at S={s:g}")
            ax.grid(alpha=0.3)
        row[-1].legend(fontsize=7, handlelength=_HANDLE, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)


def _chance_line(ax: plt.Axes, chance: float | None) -> None:
    if chance is not None:
        ax.axhline(100 * chance, color="grey", lw=1.0, ls="-.", label=f"chance ({100 * chance:.0f})")


def grid_figure(
    grid: pd.DataFrame,
    model: str,
    path: str,
    chance: float | None = None,
    controls: Collection[str] = (),
) -> None:
    """Test perplexity (log axis) and mean zero-shot accuracy (points) of every unstructured cell,
    means over calibration seeds with their standard error: one row per pruner x allocation variant;
    against the target sparsity when the grid has several, else one point per correction variant.
    The dense model as a horizontal line, the zero-shot chance level (``chance``, a fraction) too."""
    d = grid[grid["model"] == model]
    dense = d[d["pruner"] == "dense"]
    cells = d[(d["pruner"] != "dense") & (d["structure"] == "unstructured")].copy()
    cells["zeroshot_pts"] = 100 * cells["zeroshot_mean"]
    keys = ["pruner", "allocation_variant", "correction_variant", "sparsity"]
    stats = cells.groupby(keys)[["ppl", "zeroshot_pts"]].agg(["mean", "sem"])
    stats.columns = [f"{c}_{a}" for c, a in stats.columns]
    stats = stats.reset_index()
    has_zs = bool(cells["zeroshot_tasks"].gt(0).any())
    panels = [("ppl", "test perplexity (log)"), ("zeroshot_pts", "mean zero-shot accuracy (points)")]
    panels = panels[: 2 if has_zs else 1]
    rows = sorted(set(zip(stats["pruner"], stats["allocation_variant"], strict=True)))
    sweep = stats["sparsity"].nunique() > 1
    fig, axes = plt.subplots(
        len(rows), len(panels), figsize=(6.0 * len(panels), 3.6 * max(1, len(rows))), squeeze=False
    )
    for axrow, (pruner, variant) in zip(axes, rows, strict=True):
        at = stats[(stats["pruner"] == pruner) & (stats["allocation_variant"] == variant)]
        corrs = sorted(set(at["correction_variant"]), key=lambda c: (c != "none", c))
        for ax, (col, label) in zip(axrow, panels, strict=True):
            for i, corr in enumerate(corrs):
                part = at[at["correction_variant"] == corr].sort_values("sparsity")
                style = _correction_style(method_of(corr), controls)
                x = part["sparsity"] if sweep else np.full(len(part), i)
                ax.errorbar(
                    x, part[f"{col}_mean"], yerr=part[f"{col}_sem"].fillna(0.0), marker="o", ms=4,
                    capsize=2, label="base" if corr == "none" else corr,
                    **(style if sweep else {"color": style["color"], "ls": "none"}),
                )  # fmt: skip
            if len(dense):
                dense_value = float(
                    dense["ppl"].iloc[0] if col == "ppl" else 100 * dense["zeroshot_mean"].iloc[0]
                )
                ax.axhline(dense_value, color="black", lw=0.8, ls=(0, (1, 3)), label="dense")
            if col == "ppl":
                ax.set_yscale("log")
            else:
                _chance_line(ax, chance)
            if sweep:
                ax.set_xlabel("target sparsity")
            else:
                ax.set_xticks(
                    range(len(corrs)),
                    ["base" if c == "none" else c for c in corrs],
                    rotation=30,
                    ha="right",
                    fontsize=7,
                )
                ax.set_xlim(-0.5, len(corrs) - 0.5)
                ax.set_xlabel(f"correction (S={float(at['sparsity'].iloc[0]):g})")
            ax.set_ylabel(label)
            ax.set_title(f"{model}: {pruner}, {variant}", fontsize=9)
            ax.grid(alpha=0.3)
        axrow[-1].legend(fontsize=6, handlelength=_HANDLE, loc="upper left", bbox_to_anchor=(1.01, 1.0))
    _save(fig, path)
