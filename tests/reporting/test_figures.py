"""Each figure rendered from a small two-variant table: what a reader must be able to tell apart."""

from __future__ import annotations

import itertools

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import pytest

from absorbprune.reporting import figures

VARIANTS = ["owl-lambda0.05", "owl-lambda0.1"]
CORRECTIONS = ["none", "paper-gamma0.05", "flipped-gamma0.05"]


@pytest.fixture
def captured(monkeypatch, tmp_path):
    """The figure each call draws (kept open), and the PNG it writes."""
    figs = []

    def keep(fig, path):
        fig.canvas.draw()
        fig.savefig(path, format="png")
        figs.append(fig)

    monkeypatch.setattr(figures, "_save", keep)
    yield figs
    plt.close("all")


def _allocations() -> pd.DataFrame:
    rows = []
    for v, c, b in itertools.product(VARIANTS, CORRECTIONS, range(6)):
        rows.append(
            {"model": "m", "pruner": "wanda", "seed": 0, "allocation": "owl", "allocation_variant": v,
             "correction_variant": c, "sparsity": 0.7, "block": b,
             "block_sparsity": 0.7 + 0.01 * (b - 2.5) * (1 if c == "none" else -1)}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _grid(sparsities) -> pd.DataFrame:
    dense = {"model": "m", "pruner": "dense", "structure": "dense", "allocation_variant": "", "seed": 0}
    rows = [{**dense, "correction_variant": "", "sparsity": 0.0, "ppl": 20.0, "zeroshot_mean": 0.6,
             "zeroshot_tasks": 1}]  # fmt: skip
    for v, c, s, seed in itertools.product(VARIANTS, CORRECTIONS, sparsities, (0, 1)):
        rows.append(
            {"model": "m", "pruner": "wanda", "structure": "unstructured", "allocation_variant": v,
             "correction_variant": c, "sparsity": s, "seed": seed, "ppl": 30.0 * (1 + 10 * s) + seed,
             "zeroshot_mean": 0.55 - 0.1 * s, "zeroshot_tasks": 1}
        )  # fmt: skip
    return pd.DataFrame(rows)


def _legend_styles(ax) -> dict[str, tuple]:
    legend = ax.get_legend()
    assert legend is not None and legend.handlelength >= 3
    return {t.get_text(): h for t, h in zip(legend.get_texts(), legend.legend_handles, strict=True)}


def test_allocation_figure_one_row_per_variant_and_distinct_swatches(captured, tmp_path):
    figures.allocation_figure(_allocations(), "m", tmp_path / "a.png", controls={"flipped"})
    (fig,) = captured
    assert (tmp_path / "a.png").read_bytes()[:4] == b"\x89PNG"
    axes = fig.axes
    assert [ax.get_title() for ax in axes] == [f"m: {v} at S=0.7" for v in VARIANTS]
    styles = _legend_styles(axes[-1])
    base, paper, flipped = styles["base"], styles["paper-gamma0.05"], styles["flipped-gamma0.05"]
    assert len({base.get_linestyle(), paper.get_linestyle(), flipped.get_linestyle()}) == 3
    assert len({base.get_color(), paper.get_color(), flipped.get_color()}) == 3


@pytest.mark.parametrize("sparsities", [[0.7], [0.5, 0.7]])
def test_grid_figure_log_perplexity_points_and_a_chance_line(captured, tmp_path, sparsities):
    figures.grid_figure(_grid(sparsities), "m", tmp_path / "g.png", chance=0.5, controls={"flipped"})
    (fig,) = captured
    ppl_axes, zs_axes = fig.axes[0::2], fig.axes[1::2]
    assert len(ppl_axes) == len(VARIANTS)  # grouped by the variant, not the base allocation
    assert all(ax.get_yscale() == "log" for ax in ppl_axes)
    for ax in zs_axes:
        ys = [line.get_ydata()[0] for line in ax.get_lines() if len(line.get_ydata()) == 2]
        assert 50.0 in ys and 60.0 in ys  # chance and the dense model, both in points
        # the cells' mean accuracy at S=0.7, 100 x (0.55 - 0.07): points, not a fraction
        assert any(np.isclose(np.asarray(line.get_ydata(), float), 48.0).any() for line in ax.get_lines())
    assert "flipped-gamma0.05" in _legend_styles(zs_axes[0])


def test_transition_figure_marks_eps_star_and_keeps_the_legend_outside(captured, tmp_path):
    n_blocks, rows = 4, []
    mags = [0.01, 0.03, 0.1, 0.3]
    for k, eps in itertools.product(range(n_blocks), mags):
        ratio = (2.0 if k < 2 else 1.2) * (eps / 0.03) ** -0.5  # crosses 1 for every block
        for depth, value in ((k, 0.1), (n_blocks, 0.1 * ratio)):
            rows.append(
                {"kind": "gaussian", "inject_block": k, "magnitude": eps, "depth": depth, "rel_l2": value}
            )
    drift = pd.DataFrame(rows)
    stars = pd.DataFrame(
        {"kind": "gaussian", "block": range(n_blocks), "eps_star": [0.12, 0.12, 0.043, 0.043]}
    )
    figures.transition_figure(drift, n_blocks, "m", tmp_path / "t.png", stars)
    (fig,) = captured
    (ax,) = fig.axes
    marks = [line for line in ax.get_lines() if line.get_marker() == "X"]
    assert sorted(float(m.get_xdata()[0]) for m in marks) == [0.043, 0.043, 0.12, 0.12]
    legend = ax.get_legend()
    assert {"block 0", "block 1"} <= {t.get_text() for t in legend.get_texts()}
    box, axes_box = legend.get_window_extent(), ax.get_window_extent()
    assert box.x0 >= axes_box.x1  # beside the axes: it hides no curve


def test_the_sweep_figures_render_what_their_captions_say(captured, tmp_path):
    n_blocks = 4
    drift = pd.DataFrame(
        [{"kind": "prune", "magnitude": 0.7, "inject_block": k, "depth": j, "rel_l2": 0.1 * (j - k + 1),
          "cos": 1.0 - 0.1 * (j - k)} for k in range(n_blocks) for j in range(k, n_blocks + 1)]
    )  # fmt: skip
    figures.drift_depth_figure(drift, n_blocks, "m", 0.7, tmp_path / "d.png")
    coefficients = pd.DataFrame(
        {"model": "m", "sparsity": [0.5] * 4 + [0.7] * 4, "block": list(range(4)) * 2,
         "coefficient": [0.3, 0.2, -0.1, 0.0, 0.4, 0.3, 0.1, -0.2]}
    )  # fmt: skip
    figures.absorption_figure(coefficients, "m", tmp_path / "a.png")
    gains = pd.DataFrame(
        {"model": "m", "sparsity": 0.7, "block": range(5), "local_gain": [1.1, 0.9, 1.2, 0.8, 1.0],
         "local_gain_se": [0.01] * 5, "n_injections": 1, "amplifies": [True, False, True, False, False]}
    )  # fmt: skip
    figures.local_gains_figure(gains, "m", tmp_path / "g.png")
    drift_fig, absorption_fig, gains_fig = captured
    assert drift_fig.axes[0].get_yscale() == "log" and len(drift_fig.axes[0].get_lines()) == n_blocks
    assert {t.get_text() for t in absorption_fig.axes[0].get_legend().get_texts()} == {"s=0.5", "s=0.7"}
    bars = gains_fig.axes[0].patches
    red = [b for b in bars if b.get_facecolor()[:3] == plt.matplotlib.colors.to_rgb("tab:red")]
    assert len(bars) == 5 and len(red) == 2  # the amplifying blocks
    for name in ("d", "a", "g"):
        assert (tmp_path / f"{name}.png").read_bytes()[:4] == b"\x89PNG"


def test_readings_figure_draws_every_pooled_reading_and_the_default_in_black(captured, tmp_path):
    from helpers import DEFAULT_READING, PAPERLIKE, RISING, reading_rows

    from absorbprune.reporting.readings import reading_summary

    table = reading_summary(
        [reading_rows("m", s, {"": RISING, "aggregation=frobenius": PAPERLIKE,
                               "first_token=clean,measure=rest": RISING}) for s in (0, 1)],
        DEFAULT_READING, 3.0, 0.5,
    )  # fmt: skip
    figures.readings_figure(table, "m", str(tmp_path / "r.png"))
    (ax,) = captured[0].axes
    assert len(ax.lines) == 3 + 1 + 1  # each reading once (pooled), the default again in black, r = 1
    black = [line for line in ax.lines if line.get_color() == "black" and line.get_linewidth() > 2]
    np.testing.assert_allclose(black[0].get_ydata(), RISING)
    assert ax.get_yscale() == "log" and "paper's pattern in 1" in ax.get_title()
    labels = {t.get_text() for t in ax.get_legend().get_texts()}
    assert {"token, first token in", "frobenius, first token in", "token, first token out"} <= labels
