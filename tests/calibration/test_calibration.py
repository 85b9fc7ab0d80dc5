"""Calibration numerics against naive float64 references, and the dense pass end to end."""

from __future__ import annotations

import math

import pytest
import torch

from absorbprune.calibration.alpha import alpha_peak, alpha_peak_from_eigs, fits_from_table, weight_fits
from absorbprune.calibration.statistics import (
    block_lod,
    calibrate,
    outlier_ratio,
    wanda_input_norms,
    wanda_scores,
)
from absorbprune.models.adapter import Adapter
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.tables.calibration import layer_stats_schema, lod_column, outlier_column


def naive_norms(xs: list[torch.Tensor]) -> list[float]:
    """sqrt(mean over every token of x_j^2), with Python loops in float64."""
    c_in = xs[0].shape[-1]
    out = []
    for j in range(c_in):
        total, count = 0.0, 0
        for x in xs:
            for row in x.reshape(-1, c_in).double():
                total += float(row[j]) ** 2
                count += 1
        out.append(math.sqrt(total / count))
    return out


def test_wanda_input_norms_match_naive_loop():
    gen = torch.Generator().manual_seed(0)
    xs = [torch.randn(2, 5, 7, generator=gen), torch.randn(3, 5, 7, generator=gen)]
    sq = sum(x.reshape(-1, 7).pow(2).sum(0) for x in xs)
    got = wanda_input_norms(sq, n_tokens=25)
    assert torch.allclose(got.double(), torch.tensor(naive_norms(xs), dtype=torch.float64), rtol=1e-6)


def test_wanda_scores_match_naive_loop():
    gen = torch.Generator().manual_seed(1)
    w, n = torch.randn(4, 6, generator=gen), torch.rand(6, generator=gen)
    got = wanda_scores(w, n)
    for i in range(4):
        for j in range(6):
            assert float(got[i, j]) == pytest.approx(abs(float(w[i, j])) * float(n[j]), rel=1e-6)


def test_outlier_ratio_and_block_lod_match_naive_loop():
    gen = torch.Generator().manual_seed(2)
    scores = [torch.rand(5, 8, generator=gen) ** 4, torch.rand(3, 8, generator=gen) ** 4]
    flat = [float(v) for s in scores for v in s.flatten()]
    mean = sum(flat) / len(flat)
    for m in (1.5, 2.0, 3.0):
        expected = sum(1 for v in flat if v > m * mean) / len(flat)
        assert block_lod(scores, m) == pytest.approx(expected, abs=1e-12)
        # per-linear shares at the block threshold, parameter-weighted, give the block LOD
        shares = [outlier_ratio(s, m * mean) for s in scores]
        weighted = sum(r * s.numel() for r, s in zip(shares, scores, strict=True)) / len(flat)
        assert weighted == pytest.approx(expected, abs=1e-12)


def naive_alpha_peak(eigs: list[float], bins: int, window: str) -> tuple[float, float, float]:
    """AlphaPruning's xmin_peak fit written as plainly as possible, float64 loops."""
    lam = sorted(v for v in eigs if v > 0)
    n_eigs = len(lam)
    logs10 = [math.log10(v) for v in lam]
    lo, hi = min(logs10), max(logs10)
    width = (hi - lo) / bins
    counts = [0] * bins
    for v in logs10:
        k = min(int((v - lo) / width), bins - 1)
        counts[k] += 1
    peak_bin = counts.index(max(counts))
    peak = 10 ** (lo + peak_bin * width)
    lower = math.log10(0.95 * peak) if window == "reference" else 0.95 * peak
    upper = 1.5 * peak
    alphas, ds = [0.0] * (n_eigs - 1), [1.0] * (n_eigs - 1)
    for i in range(n_eigs - 1):
        if lam[i] < lower:
            continue
        if lam[i] > upper:
            break
        n = n_eigs - i
        alpha = 1 + n / (sum(math.log(v) for v in lam[i:]) - n * math.log(lam[i]))
        alphas[i] = alpha
        if alpha > 1:
            ds[i] = max(abs(1 - (lam[i + k] / lam[i]) ** (1 - alpha) - k / n) for k in range(n))
    best = ds.index(min(ds))
    return alphas[best], lam[best], ds[best]


@pytest.mark.parametrize("window", ["reference", "linear"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_alpha_peak_matches_naive_loop(window, seed):
    gen = torch.Generator().manual_seed(seed)
    w = torch.randn(48, 40, generator=gen) @ torch.diag(torch.rand(40, generator=gen) * 3)
    eigs = torch.linalg.svdvals(w).double() ** 2
    fit = alpha_peak_from_eigs(eigs, bins=100, window=window)
    alpha, xmin, ks = naive_alpha_peak(eigs.tolist(), bins=100, window=window)
    assert fit.alpha == pytest.approx(alpha, rel=1e-9)
    assert fit.xmin == pytest.approx(xmin, rel=1e-12)
    assert fit.ks == pytest.approx(ks, rel=1e-9)


def test_alpha_peak_recovers_a_known_power_law():
    # Pareto samples with density p(x) ~ x^-2.5 above 1: the Hill fit at the histogram peak
    # (the lower end of a Pareto sample) must recover the exponent.
    gen = torch.Generator().manual_seed(3)
    u = torch.rand(4000, generator=gen, dtype=torch.float64)
    samples = (1 - u) ** (-1 / 1.5)  # inverse CDF, tail exponent alpha - 1 = 1.5
    fit = alpha_peak_from_eigs(samples, bins=100, window="linear")
    assert fit.alpha == pytest.approx(2.5, abs=0.15)


def test_alpha_peak_uses_squared_singular_values():
    gen = torch.Generator().manual_seed(4)
    w = torch.randn(20, 12, generator=gen)
    eig = torch.linalg.eigvalsh((w.T @ w).double())
    assert alpha_peak(w).alpha == pytest.approx(alpha_peak_from_eigs(eig).alpha, rel=1e-4)


def test_alpha_window_name_is_checked():
    with pytest.raises(ValueError, match="valid: reference, linear"):
        alpha_peak_from_eigs(torch.rand(10) + 0.1, window="log")


@pytest.mark.parametrize("family", ["llama", "opt"])
def test_calibrate_matches_naive_capture(family):
    """The block-by-block pass equals statistics computed from a plain full forward with hooks."""
    model = random_model(ArchSpec(family, 61, 16, 32, 3, 4, 2, 32), seed=0)
    adapter = Adapter(model, family)
    ids = torch.randint(0, 61, (5, 12), generator=torch.Generator().manual_seed(0))
    weights = weight_fits(adapter, "reference", "m")
    table, norms = calibrate(
        adapter, ids, batch_size=2, owl_m=[2.0, 5.0], fits=fits_from_table(weights), model_key="m"
    )

    captured: dict[str, list[torch.Tensor]] = {}
    hooks = []
    for b in range(adapter.n_blocks):
        for name, lin in adapter.linears(b).items():
            key = f"{b}.{name}"
            hooks.append(
                lin.register_forward_pre_hook(
                    lambda mod, args, key=key: captured.setdefault(key, []).append(args[0])
                )
            )
    with torch.no_grad():
        model(input_ids=ids)
    for h in hooks:
        h.remove()

    assert list(table.columns) == layer_stats_schema([2.0, 5.0]).names
    assert len(table) == adapter.n_blocks * len(adapter.family.linears)
    for key, xs in captured.items():
        expected = torch.tensor(naive_norms(xs), dtype=torch.float64)
        assert torch.allclose(norms[key].double(), expected, rtol=1e-5), key
    for b, rows in table.groupby("block"):
        linears = adapter.linears(int(b))
        scores = [wanda_scores(linears[n].weight, norms[f"{b}.{n}"]) for n in rows["linear"]]
        for m in (2.0, 5.0):
            assert rows[lod_column(m)].iloc[0] == pytest.approx(block_lod(scores, m), abs=1e-12)
            weighted = (rows[outlier_column(m)] * rows["params"]).sum() / rows["params"].sum()
            assert weighted == pytest.approx(rows[lod_column(m)].iloc[0], abs=1e-9)
        assert rows["block_alpha"].iloc[0] == pytest.approx(rows["alpha_peak"].mean())
        # alpha is the weights' alone: the once-per-model fit, the same for every calibration set
        fitted = weights[weights["block"] == b].set_index("linear").loc[rows["linear"], "alpha_peak"]
        assert rows["alpha_peak"].tolist() == fitted.tolist()
        assert rows["alpha_peak"].tolist() == [alpha_peak(linears[n].weight).alpha for n in rows["linear"]]
        total = sum(float(s.double().sum()) for s in scores)
        assert rows["block_dlp_score"].iloc[0] == pytest.approx(
            total / sum(s.numel() for s in scores), rel=1e-6
        )
    assert (table["n_tokens"] == 5 * 12).all()
