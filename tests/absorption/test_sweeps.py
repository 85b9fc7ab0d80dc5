"""The sweep engine against first principles and a naive implementation."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from absorbprune.absorption.sweeps import (
    SweepEngine,
    chunk_size,
    clean_trajectory,
    drift_measures,
    gaussian_directions,
    naive_drift,
    rescale,
    run_sweeps,
    token_drift,
)
from absorbprune.models.adapter import Adapter
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.plan.perturbations import eps_grid
from absorbprune.pruning.masks import wanda_mask
from absorbprune.registry.models import FAMILIES

EPS = [0.0, 1e-3, 0.1, 1.0]


def setup(family: str, n_blocks: int = 4, budget: float = 2**30, seed: int = 0):
    model = random_model(ArchSpec(family, 61, 32, 64, n_blocks, 4, 2, 32), seed=seed)
    adapter = Adapter(model, family)
    ids = torch.randint(0, 61, (3, 10), generator=torch.Generator().manual_seed(seed))
    return adapter, SweepEngine(adapter, clean_trajectory(adapter, ids), "m", budget), ids


def random_norms(adapter: Adapter):
    gen = torch.Generator().manual_seed(5)
    norms = {
        b: {n: torch.rand(lin.in_features, generator=gen) + 0.1 for n, lin in adapter.linears(b).items()}
        for b in range(adapter.n_blocks)
    }
    return lambda k: norms[k]


@pytest.mark.parametrize("family", sorted(FAMILIES))
def test_zero_perturbation_gives_exactly_zero_drift(family):
    adapter, engine, _ = setup(family)
    for k in range(adapter.n_blocks):
        rows = engine.gaussian(k, [0.0], [0])
        assert len(rows) == adapter.n_blocks - k + 1  # depths k..L-1 and the final norm
        assert all(r["rel_l2"] == 0.0 for r in rows), (k, [r["rel_l2"] for r in rows])


def identity_blocks(adapter: Adapter) -> None:
    """Zero every residual branch's output projection: each block becomes the identity."""
    last = {"llama": ("self_attn.o_proj", "mlp.down_proj"), "opt": ("self_attn.out_proj", "fc2")}
    with torch.no_grad():
        for b in range(adapter.n_blocks):
            linears = adapter.linears(b)
            for name in last[adapter.family.name]:
                linears[name].weight.zero_()
                if linears[name].bias is not None:
                    linears[name].bias.zero_()


@pytest.mark.parametrize("family", ["llama", "opt"])
def test_identity_blocks_keep_gaussian_drift_equal_to_eps(family):
    model = random_model(ArchSpec(family, 61, 32, 64, 4, 4, 2, 32), seed=1)
    adapter = Adapter(model, family)
    identity_blocks(adapter)
    ids = torch.randint(0, 61, (2, 9), generator=torch.Generator().manual_seed(0))
    engine = SweepEngine(adapter, clean_trajectory(adapter, ids), "m", 2**30)
    for k in range(adapter.n_blocks):
        for row in engine.gaussian(k, [1e-3, 0.1, 1.0], [0, 1]):
            if row["depth"] < adapter.n_blocks:  # blocks only; the final norm rescales
                assert row["rel_l2"] == pytest.approx(row["magnitude"], rel=1e-5), row


@pytest.mark.parametrize("family", ["llama", "opt", "qwen2"])
def test_engine_equals_naive_for_every_kind(family):
    adapter, engine, ids = setup(family, budget=1)  # budget 1 byte: one perturbation per chunk
    norms = random_norms(adapter)
    eps, seeds, sparsity = [1e-2, 0.5], [0, 3], 0.6
    drift = run_sweeps(engine, norms, ["gaussian", "prune", "prune_dir"], eps, seeds, [sparsity])
    traj = engine.traj
    for k in range(adapter.n_blocks):
        pruned_out = engine.pruned_block_output(k, norms(k), sparsity)[None]
        cases = {("prune", sparsity, 0): pruned_out[0]}
        for s in seeds:
            for e in eps:
                u = gaussian_directions(tuple(traj.state(k).shape), s, k)
                cases[("gaussian", e, s)] = rescale(traj.state(k), u, [e])[0]
        for e in eps:
            cases[("prune_dir", e, 0)] = rescale(traj.state(k), pruned_out[0] - traj.state(k), [e])[0]
        for (kind, mag, seed), injected in cases.items():
            want = naive_drift(adapter, ids, traj, k, injected)
            got = drift[
                (drift["kind"] == kind)
                & (drift["inject_block"] == k)
                & (drift["magnitude"] == mag)
                & (drift["seed"] == seed)
            ].set_index("depth")
            assert sorted(got.index) == sorted(want)
            for depth, (rel, cos) in want.items():
                assert got.loc[depth, "rel_l2"] == pytest.approx(rel, rel=1e-5, abs=1e-7), (kind, k, depth)
                assert got.loc[depth, "cos"] == pytest.approx(cos, rel=1e-5, abs=1e-7), (kind, k, depth)


def test_prune_injection_is_block_k_pruned_with_wanda():
    adapter, engine, _ = setup("llama")
    norms = random_norms(adapter)
    k, s = 2, 0.5
    out = engine.pruned_block_output(k, norms(k), s)
    linears = adapter.linears(k)
    saved = {n: lin.weight.detach().clone() for n, lin in linears.items()}
    with torch.no_grad():
        for n, lin in linears.items():
            lin.weight.masked_fill_(wanda_mask(lin.weight, norms(k)[n], s), 0)
        expected = adapter.run_block(k, engine.traj.state(k - 1))
        for n, lin in linears.items():
            lin.weight.copy_(saved[n])
    assert torch.equal(out, expected)
    assert torch.equal(adapter.run_block(k, engine.traj.state(k - 1)), engine.traj.state(k)), "model mutated"


def test_results_do_not_depend_on_the_chunking():
    _, small, _ = setup("llama", budget=1)
    _, large, _ = setup("llama", budget=2**34)
    assert small.chunk == 1 and large.chunk > 10
    a = run_sweeps(small, lambda k: {}, ["gaussian"], [1e-3, 0.3, 1.0], [0, 1], [0.5])
    b = run_sweeps(large, lambda k: {}, ["gaussian"], [1e-3, 0.3, 1.0], [0, 1], [0.5])
    assert (a["rel_l2"] - b["rel_l2"]).abs().max() < 1e-6


def test_non_finite_states_name_model_block_and_magnitude():
    adapter, engine, _ = setup("llama")
    with torch.no_grad():
        adapter.linears(2)["mlp.down_proj"].weight.fill_(float("inf"))
    with pytest.raises(FloatingPointError, match=r"model 'm'.*block 1 with magnitude 0\.1"):
        engine.gaussian(1, [0.1], [0])


def test_engine_counts_only_necessary_block_forwards():
    _, engine, _ = setup("llama", n_blocks=6)
    run_sweeps(engine, lambda k: {}, ["gaussian"], [0.1, 1.0], [0], [0.5])
    assert engine.chunk >= 2  # both magnitudes in one batch
    assert engine.block_forwards == sum(6 - 1 - k for k in range(6))


def test_eps_grid_and_directions():
    grid = eps_grid(1e-4, 1.0, 9)
    assert grid[0] == pytest.approx(1e-4) and grid[-1] == pytest.approx(1.0) and len(grid) == 9
    assert math.log10(grid[1]) - math.log10(grid[0]) == pytest.approx(0.5)
    u = gaussian_directions((2, 3, 8), seed=0, block=1)
    assert torch.allclose(u.norm(dim=-1), torch.ones(2, 3))
    assert torch.equal(u, gaussian_directions((2, 3, 8), seed=0, block=1))
    assert not torch.equal(u, gaussian_directions((2, 3, 8), seed=1, block=1))


def test_chunk_size_respects_the_budget():
    adapter, _, _ = setup("llama")
    one = chunk_size(adapter, n_seq=3, seqlen=10, budget_bytes=1)
    many = chunk_size(adapter, n_seq=3, seqlen=10, budget_bytes=2**30)
    assert one == 1 and many > 100


def test_token_drift_matches_a_per_token_loop():
    gen = torch.Generator().manual_seed(7)
    clean = torch.randn(2, 3, 5, generator=gen)
    pert = clean[None] + 0.3 * torch.randn(4, 2, 3, 5, generator=gen)
    rel, cos = token_drift(pert, clean)
    for p in range(4):
        rels, coss = [], []
        for n in range(2):
            for t in range(3):
                a, b = pert[p, n, t].double(), clean[n, t].double()
                rels.append(float((a - b).norm() / b.norm()))
                coss.append(float(a @ b / (a.norm() * b.norm())))
        assert float(rel[p]) == pytest.approx(sum(rels) / 6, rel=1e-6)
        assert float(cos[p]) == pytest.approx(sum(coss) / 6, rel=1e-6)


def test_one_prune_job_sweeps_every_sparsity_each_as_it_would_alone():
    """sweep_prune runs every swept sparsity in one job (one model load, one clean trajectory):
    each sparsity's rows equal those of a job that swept it alone, value for value."""
    adapter, engine, _ = setup("llama")
    norms = random_norms(adapter)
    both = run_sweeps(engine, norms, ["prune"], [], [0], [0.3, 0.7])
    for s in (0.3, 0.7):
        alone = run_sweeps(engine, norms, ["prune"], [], [0], [s])
        part = both[both["magnitude"] == s].reset_index(drop=True)
        pd.testing.assert_frame_equal(part, alone, check_exact=True)
    with pytest.raises(ValueError, match="prune_dir rescales one sparsity"):
        run_sweeps(engine, norms, ["prune_dir"], [0.1], [0], [0.3, 0.7])


def test_drift_measures_match_a_per_sequence_loop():
    """The readings' measures (docs/methods.md 5.6) by hand: the token mean without position 0, and
    the relative Frobenius drift of each sequence's (T, C) matrix, with and without position 0."""
    gen = torch.Generator().manual_seed(8)
    clean = torch.randn(2, 4, 5, generator=gen)
    clean[:, 0] *= 20  # a high-norm first token, as in an attention sink
    pert = clean[None] + 0.3 * torch.randn(3, 2, 4, 5, generator=gen)
    got = drift_measures(pert, clean)
    for p in range(3):
        rest, frob, frob_rest = [], [], []
        for n in range(2):
            a, b = pert[p, n].double(), clean[n].double()
            rest += [float((a[t] - b[t]).norm() / b[t].norm()) for t in range(1, 4)]
            frob.append(float((a - b).norm() / b.norm()))
            frob_rest.append(float((a[1:] - b[1:]).norm() / b[1:].norm()))
        assert float(got["rel_l2_rest"][p]) == pytest.approx(sum(rest) / len(rest), rel=1e-6)
        assert float(got["frob"][p]) == pytest.approx(sum(frob) / 2, rel=1e-6)
        assert float(got["frob_rest"][p]) == pytest.approx(sum(frob_rest) / 2, rel=1e-6)
    rel, cos = token_drift(pert, clean)
    assert torch.equal(rel, got["rel_l2"]) and torch.equal(cos, got["cos"])
    one = drift_measures(pert[:, :, :1], clean[:, :1])  # one-token sequences: no rest to measure
    assert torch.isnan(one["rel_l2_rest"]).all() and torch.isnan(one["frob_rest"]).all()


@pytest.mark.parametrize("family", ["llama", "gemma3"])
def test_first_token_clean_injections_leave_it_clean_and_equal_naive(family):
    """``first_token: clean``: the same directions with position 0 unperturbed, which stays exactly
    clean at every depth (causal attention), so its rest measure equals the all-token mean scaled by
    T / (T - 1); the engine equals a full forward with that injected state."""
    adapter, engine, ids = setup(family, budget=1)
    norms = random_norms(adapter)
    eps, sparsity = [1e-2, 0.5], 0.6
    both = ("perturbed", "clean")
    drift = run_sweeps(engine, norms, ["gaussian", "prune_dir"], eps, [0], [sparsity], both)
    assert set(drift["kind"]) == {"gaussian", "gaussian_nofirst", "prune_dir", "prune_dir_nofirst"}
    perturbed_only = run_sweeps(engine, norms, ["gaussian", "prune_dir"], eps, [0], [sparsity])
    kept = drift[drift["kind"].isin(["gaussian", "prune_dir"])].reset_index(drop=True)
    pd.testing.assert_frame_equal(kept, perturbed_only, check_exact=True)  # the default rows unchanged
    traj, t = engine.traj, ids.shape[1]
    for k in range(adapter.n_blocks):
        u = gaussian_directions(tuple(traj.state(k).shape), 0, k)
        u[:, 0] = 0
        injected = rescale(traj.state(k), u, [0.5])[0]
        assert torch.equal(injected[:, 0], traj.state(k)[:, 0])
        want = naive_drift(adapter, ids, traj, k, injected)
        got = drift[
            (drift["kind"] == "gaussian_nofirst") & (drift["inject_block"] == k) & (drift["magnitude"] == 0.5)
        ].set_index("depth")
        for depth, (rel, _) in want.items():
            assert got.loc[depth, "rel_l2"] == pytest.approx(rel, rel=1e-5, abs=1e-7), (k, depth)
            assert got.loc[depth, "rel_l2_rest"] == pytest.approx(rel * t / (t - 1), rel=1e-5), (k, depth)
    with pytest.raises(ValueError, match="first_token must be"):
        run_sweeps(engine, norms, ["gaussian"], eps, [0], [sparsity], ["sink"])
