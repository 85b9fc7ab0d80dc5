"""Pruners against naive float64 references on random tiny tensors, and the sequential pass."""

from __future__ import annotations

import math

import pytest
import torch

from absorbprune.models.adapter import Adapter
from absorbprune.models.tiny import ArchSpec, random_model
from absorbprune.plan.cell import nm_of
from absorbprune.pruning.masks import lowest_per_row, magnitude_mask, nm_mask, wanda_mask
from absorbprune.pruning.sequential import PruneSpec, prune_model
from absorbprune.pruning.sparsegpt import sparsegpt_prune

CPU = torch.device("cpu")


def naive_wanda(w, norms, s):
    mask = torch.zeros(w.shape, dtype=torch.bool)
    k = math.floor(w.shape[1] * s)
    for i in range(w.shape[0]):
        scores = [(abs(float(w[i, j])) * float(norms[j]), j) for j in range(w.shape[1])]
        for _, j in sorted(scores)[:k]:  # ties: lower column first, as a stable sort
            mask[i, j] = True
    return mask


def naive_magnitude(w, s):
    k = math.floor(w.numel() * s)
    flat = sorted((abs(float(v)), idx) for idx, v in enumerate(w.flatten().tolist()))
    mask = torch.zeros(w.numel(), dtype=torch.bool)
    for _, idx in flat[:k]:
        mask[idx] = True
    return mask.view(w.shape)


@pytest.mark.parametrize("s", [0.0, 0.3, 0.5, 0.77])
@pytest.mark.parametrize("seed", [0, 1])
def test_wanda_and_magnitude_equal_naive_reference(s, seed):
    gen = torch.Generator().manual_seed(seed)
    w, norms = torch.randn(7, 13, generator=gen), torch.rand(13, generator=gen)
    assert torch.equal(wanda_mask(w, norms, s), naive_wanda(w.double(), norms.double(), s))
    assert torch.equal(magnitude_mask(w, s), naive_magnitude(w.double(), s))


def test_ties_are_broken_by_column_order():
    w = torch.ones(2, 6)
    assert wanda_mask(w, torch.ones(6), 0.5)[0].tolist() == [True, True, True, False, False, False]


def sorted_lowest(scores: torch.Tensor, k: int) -> torch.Tensor:
    """The reference's selection: the first k indices of a stable sort of each row."""
    mask = torch.zeros_like(scores, dtype=torch.bool)
    return mask.scatter_(1, torch.sort(scores, dim=1, stable=True).indices[:, :k], True)


@pytest.mark.parametrize("seed", range(4))
def test_row_selection_equals_a_stable_sort_mask_bit_for_bit(seed):
    """Wanda's selection (kthvalue, then ties by column) picks exactly the columns the reference's
    stable sort picks, for every k, on scores full of ties (quantized weights, zeros, equal norms)
    and on scores with NaN."""
    gen = torch.Generator().manual_seed(seed)
    cases = [
        torch.rand(9, 40, generator=gen),
        q4_1_like(9, 64, seed).abs(),
        torch.randint(0, 3, (9, 40), generator=gen).float(),  # mostly ties
        torch.zeros(3, 16),
        torch.tensor([[0.0, -0.0, 0.0, 1.0, -0.0, 2.0]]).abs(),
    ]
    with_nan = torch.rand(4, 12, generator=gen)
    with_nan[1, 3] = with_nan[2, 0] = float("nan")
    cases.append(with_nan)
    for scores in cases:
        for k in range(scores.shape[1] + 1):
            assert torch.equal(lowest_per_row(scores, k), sorted_lowest(scores, k)), (seed, k)
            assert (lowest_per_row(scores, k).sum(dim=1) == k).all()


def q4_1_like(rows: int, cols: int, seed: int) -> torch.Tensor:
    """Weights as a Q4_1 GGUF file dequantizes them: each run of 32 is 16 levels of one scale and
    offset, so equal magnitudes are common (SmolLM2's linears)."""
    gen = torch.Generator().manual_seed(seed)
    levels = torch.randint(0, 16, (rows, cols // 32, 32), generator=gen).float()
    scale = torch.rand(rows, cols // 32, 1, generator=gen) * 0.01
    offset = -8 * scale  # symmetric-ish around 0, as trained weights: +-x pairs tie in |W| too
    return (levels * scale + offset).reshape(rows, cols)


@pytest.mark.parametrize("s", [0.3, 0.5, 0.7])
def test_ties_of_quantized_weights_break_by_index_deterministically(s):
    w = q4_1_like(8, 64, seed=1)
    assert w.abs().flatten().unique().numel() < w.numel() / 2  # ties are the rule, not the exception
    norms = torch.ones(64)  # equal norms: Wanda meets the same ties
    assert torch.equal(magnitude_mask(w, s), naive_magnitude(w.double(), s))
    assert torch.equal(wanda_mask(w, norms, s), naive_wanda(w.double(), norms.double(), s))
    assert torch.equal(magnitude_mask(w, s), magnitude_mask(w.clone(), s))  # a rerun picks the same
    assert int(magnitude_mask(w, s).sum()) == math.floor(w.numel() * s)  # exactly k, ties or not
    # N:M: within a group, tied scores go lowest input index first
    tied = torch.ones(1, 8)
    assert nm_mask(tied, 2, 4)[0].tolist() == [True, True, False, False] * 2


@pytest.mark.parametrize(("n", "m"), [(2, 4), (4, 8)])
def test_nm_structure_holds_in_every_group(n, m):
    gen = torch.Generator().manual_seed(0)
    w, norms = torch.randn(6, 32, generator=gen), torch.rand(32, generator=gen)
    x = torch.randn(64, 32, generator=gen)
    h = 2 * x.T @ x / 64
    masks = {
        "wanda": wanda_mask(w, norms, 0.0, (n, m)),
        "magnitude": magnitude_mask(w, 0.0, (n, m)),
        "sparsegpt": sparsegpt_prune(w, h, 0.0, (n, m), blocksize=16)[1],
    }
    for name, mask in masks.items():
        per_group = mask.view(6, 32 // m, m).sum(-1)
        assert (per_group == n).all(), name
    # the N:M choice within a group is the n lowest scores
    scores = w.abs() * norms
    for g in range(32 // m):
        group = scores[0, g * m : (g + 1) * m]
        assert set(torch.nonzero(masks["wanda"][0, g * m : (g + 1) * m]).flatten().tolist()) == set(
            torch.argsort(group)[:n].tolist()
        )


def test_structure_parsing():
    assert nm_of("unstructured") is None and nm_of("2:4") == (2, 4)
    with pytest.raises(ValueError, match="N:M"):
        nm_of("4:2")
    with pytest.raises(ValueError, match="divisible"):
        nm_mask(torch.rand(2, 6), 2, 4)


def naive_sparsegpt(w, h, s, blocksize, percdamp=0.01):
    """Column-by-column OBS in float64, no lazy updates: at each block boundary choose the
    block's mask from the current weights, then prune one column at a time updating every later
    column of the whole matrix."""
    w = w.double().clone()
    h = h.double().clone()
    cols = w.shape[1]
    dead = torch.diag(h) == 0
    h[dead, dead] = 1
    w[:, dead] = 0
    h += percdamp * torch.mean(torch.diag(h)) * torch.eye(cols, dtype=torch.float64)
    hinv = torch.linalg.cholesky(torch.linalg.inv(h), upper=True)
    mask = torch.zeros_like(w, dtype=torch.bool)
    for i1 in range(0, cols, blocksize):
        i2 = min(i1 + blocksize, cols)
        score = w[:, i1:i2] ** 2 / torch.diag(hinv)[i1:i2] ** 2
        k = math.floor(score.numel() * s)
        flat = sorted((float(v), idx) for idx, v in enumerate(score.flatten().tolist()))
        block_mask = torch.zeros(score.numel(), dtype=torch.bool)
        for _, idx in flat[:k]:
            block_mask[idx] = True
        mask[:, i1:i2] = block_mask.view(score.shape)
        for i in range(i1, i2):
            col = w[:, i].clone()
            q = torch.where(mask[:, i], torch.zeros_like(col), col)
            err = (col - q) / hinv[i, i]
            w[:, i:] -= err[:, None] * hinv[i, i:][None, :]
            w[:, i] = q
    return w, mask


def recon_error(w_new, w, x):
    return float(((x @ w.double().T - x @ w_new.double().T) ** 2).sum())


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sparsegpt_is_exact_and_no_worse_than_naive_obs(seed):
    gen = torch.Generator().manual_seed(seed)
    c_out, c_in, s, bs = 12, 40, 0.6, 16
    mix = torch.randn(c_in, c_in, generator=gen) / math.sqrt(c_in)
    x = (torch.randn(200, c_in, generator=gen) @ (torch.eye(c_in) + mix)).double()  # correlated inputs
    w = torch.randn(c_out, c_in, generator=gen)
    h = 2 * x.T @ x / x.shape[0]
    ours, mask = sparsegpt_prune(w, h.float(), s, None, blocksize=bs)
    ref, ref_mask = naive_sparsegpt(w, h, s, bs)
    expected_zeros = sum(math.floor(c_out * (min(i + bs, c_in) - i) * s) for i in range(0, c_in, bs))
    assert int(mask.sum()) == expected_zeros == int((ours == 0).sum())
    assert recon_error(ours, w, x) <= recon_error(ref, w, x) * (1 + 1e-4)
    assert (mask == ref_mask).float().mean() > 0.97  # fp32 vs fp64 may flip near-ties
    assert recon_error(ours, w, x) < recon_error(w.masked_fill(magnitude_mask(w, s), 0), w, x)


def test_sparsegpt_dead_inputs_are_zeroed():
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(50, 8, generator=gen)
    x[:, 3] = 0
    new, _ = sparsegpt_prune(torch.randn(4, 8, generator=gen), 2 * x.T @ x / 50, 0.25, blocksize=4)
    assert (new[:, 3] == 0).all()


def naive_sequential_wanda(model, adapter, ids, sparsity):
    """The reference pattern: for each block, a full forward through the partly pruned model with
    hooks on that block's linears, then prune it."""
    masks = {}
    for b in range(adapter.n_blocks):
        linears = adapter.linears(b)
        seen: dict[str, list[torch.Tensor]] = {n: [] for n in linears}
        hooks = [
            lin.register_forward_pre_hook(lambda m, a, n=n, seen=seen: seen[n].append(a[0]))
            for n, lin in linears.items()
        ]
        with torch.no_grad():
            model(input_ids=ids)
        for h in hooks:
            h.remove()
        with torch.no_grad():
            for n, lin in linears.items():
                x = torch.cat([t.reshape(-1, t.shape[-1]) for t in seen[n]]).double()
                norms = torch.sqrt((x**2).mean(0))
                masks[(b, n)] = naive_wanda(lin.weight.double(), norms, sparsity)
                lin.weight.masked_fill_(masks[(b, n)], 0)
    return masks


def test_prune_model_wanda_is_sequential_like_the_reference():
    spec = ArchSpec("llama", 61, 16, 32, 3, 2, 1, 32)
    ids = torch.randint(0, 61, (4, 10), generator=torch.Generator().manual_seed(0))
    ours_model = random_model(spec, seed=0)
    ref_model = random_model(spec, seed=0)
    rows = prune_model(Adapter(ours_model, "llama"), ids, [0.5] * 3, PruneSpec("wanda", None, 3), CPU)
    ref_masks = naive_sequential_wanda(ref_model, Adapter(ref_model, "llama"), ids, 0.5)
    ours = Adapter(ours_model, "llama")
    for (b, n), mask in ref_masks.items():
        assert torch.equal(ours.linears(b)[n].weight == 0, mask), (b, n)
    assert len(rows) == 3 * 7 and all(r["zeros"] == r["params"] // 2 for r in rows)


@pytest.mark.parametrize("pruner", ["magnitude", "wanda", "sparsegpt"])
@pytest.mark.parametrize("family", ["llama", "opt"])
def test_prune_model_hits_every_block_target(pruner, family):
    model = random_model(ArchSpec(family, 61, 32, 64, 3, 4, 2, 32), seed=0)
    adapter = Adapter(model, family)
    ids = torch.randint(0, 61, (4, 12), generator=torch.Generator().manual_seed(1))
    targets = [0.3, 0.6, 0.8]
    spec = PruneSpec(pruner, None, 2, {"blocksize": 16, "percdamp": 0.01})
    rows = prune_model(adapter, ids, targets, spec, CPU)
    for r in rows:
        lin = adapter.linears(r["block"])[r["linear"]]
        assert r["target"] == targets[r["block"]]
        assert abs(r["zeros"] - r["target"] * r["params"]) <= lin.out_features, r  # one weight per row
    with pytest.raises(KeyError, match="valid"):
        prune_model(adapter, ids, targets, PruneSpec("obs", None, 2), CPU)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_streamed_prune_on_gpu_equals_cpu():
    spec = ArchSpec("llama", 61, 32, 64, 3, 4, 2, 32)
    ids = torch.randint(0, 61, (4, 12), generator=torch.Generator().manual_seed(1))
    cpu, gpu = Adapter(random_model(spec, seed=0), "llama"), Adapter(random_model(spec, seed=0), "llama")
    prune_model(cpu, ids, [0.5] * 3, PruneSpec("wanda", None, 2), CPU)
    prune_model(gpu, ids, [0.5] * 3, PruneSpec("wanda", None, 2), torch.device("cuda"))
    for b in range(3):
        for n, lin in cpu.linears(b).items():
            agree = ((lin.weight == 0) == (gpu.linears(b)[n].weight.cpu() == 0)).float().mean()
            assert agree > 0.99, (b, n)
    assert all(p.device.type == "cpu" for blk in gpu.blocks for p in blk.parameters())  # streamed back
