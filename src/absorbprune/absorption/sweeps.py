"""Perturbation sweeps (docs/methods.md section 5, our operational definitions).

An injection at block k replaces ``h_k`` by ``h~_k`` and runs the dense blocks k+1..L-1 and the
final norm; at every depth j >= k (and ``final``, recorded as depth L) we measure

    d_j = mean_t ||h~_{j,t} - h_{j,t}|| / ||h_{j,t}||        c_j = mean_t cos(h~_{j,t}, h_{j,t})

over every token t of the sweep set (the first ``n_sweep`` calibration sequences). Beside them the
engine records, from the same states, the readings the paper's description leaves open
(docs/methods.md 5.2): ``rel_l2_rest`` (the token mean without the first position, the attention
sink), ``frob`` (the mean over sequences of ``||H~_j - H_j||_F / ||H_j||_F``) and ``frob_rest``.

Kinds:
  * ``gaussian``:  ``h~_{k,t} = h_{k,t} + eps ||h_{k,t}|| u_t``, u_t uniform on the unit sphere;
  * ``prune``:     ``h~_k = f~_k(h_{k-1})``, block k alone pruned with Wanda at sparsity s;
  * ``prune_dir``: the ``prune`` perturbation's per-token direction rescaled to relative size eps;
  * ``gaussian_nofirst``, ``prune_dir_nofirst``: the same with the first position left clean (it
    then stays clean at every depth: causal attention).

The engine does only the necessary work: the clean trajectory is computed once per model; an
injection at block k starts from the cached ``h_k`` and runs only blocks k+1..L-1 and the final
norm; every magnitude and seed of one injection travels together along the batch dimension, in
chunks bounded by a memory budget. A ``prune`` injection costs one extra (pruned) block forward.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd
import torch
from tqdm import tqdm

from ..core.io import read_tensors
from ..models.adapter import Adapter
from ..pruning.masks import pruned_copy, wanda_mask
from .kinds import FIRST_TOKEN, KINDS, kind_of

__all__ = [
    "CleanTrajectory",
    "SweepEngine",
    "build_engine",
    "chunk_size",
    "clean_trajectory",
    "drift_measures",
    "gaussian_directions",
    "load_block_norms",
    "naive_drift",
    "perturbed",
    "rescale",
    "run_sweeps",
    "step_of",
    "token_drift",
]

log = logging.getLogger(__name__)

MEASURES = ["rel_l2", "cos", "rel_l2_rest", "frob", "frob_rest"]
DRIFT_COLUMNS = ["model", "kind", "inject_block", "magnitude", "seed", "depth", *MEASURES]


@dataclass
class CleanTrajectory:
    """The dense model's states on the sweep set: ``hidden[j + 1] = h_j`` (``hidden[0] = h_{-1}``)."""

    hidden: list[torch.Tensor]  # L + 1 tensors (N, T, C)
    final: torch.Tensor  # (N, T, C') after the final norm

    def state(self, j: int) -> torch.Tensor:
        """``h_j`` for j in -1..L-1."""
        return self.hidden[j + 1]


@torch.no_grad()
def clean_trajectory(adapter: Adapter, input_ids: torch.Tensor) -> CleanTrajectory:
    """Embed ``input_ids`` (N, T) and run every block once, keeping every state."""
    device = next(adapter.model.parameters()).device
    hidden = [adapter.embed(input_ids.to(device))]
    for j in range(adapter.n_blocks):
        hidden.append(adapter.run_block(j, hidden[-1]))
    return CleanTrajectory(hidden=hidden, final=adapter.final(hidden[-1]))


def drift_measures(perturbed: torch.Tensor, clean: torch.Tensor) -> dict[str, torch.Tensor]:
    """Every drift measure of P perturbations, each float64 (P,) (:data:`MEASURES`).

    Args:
        perturbed: (P, N, T, C) states of P perturbations.
        clean: (N, T, C) the clean states.

    ``rel_l2``/``cos`` are the token means; ``rel_l2_rest`` the token mean over positions 1..T-1;
    ``frob`` the mean over sequences of the relative Frobenius distance of the (T, C) matrices (the
    first position's norm weighs in), ``frob_rest`` the same without position 0. A ``_rest``
    measure of one-token sequences is NaN.
    """
    p = perturbed.float()
    c = clean.float()[None]
    clean_norm = c.norm(dim=-1)  # (1, N, T)
    diff_norm = (p - c).norm(dim=-1)  # (P, N, T)
    rel = diff_norm / clean_norm
    cos = (p * c).sum(dim=-1) / (p.norm(dim=-1) * clean_norm)
    d2, c2 = diff_norm.double().square(), clean_norm.double().square()
    nan = torch.full((p.shape[0],), float("nan"), dtype=torch.float64, device=p.device)
    rest = p.shape[2] > 1
    return {
        "rel_l2": rel.double().flatten(1).mean(1),
        "cos": cos.double().flatten(1).mean(1),
        "rel_l2_rest": rel[:, :, 1:].double().flatten(1).mean(1) if rest else nan,
        "frob": (d2.sum(-1).sqrt() / c2.sum(-1).sqrt()).mean(1),
        "frob_rest": (d2[..., 1:].sum(-1).sqrt() / c2[..., 1:].sum(-1).sqrt()).mean(1) if rest else nan,
    }


def token_drift(perturbed: torch.Tensor, clean: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean relative L2 distance and mean cosine over tokens, per perturbation.

    Args:
        perturbed: (P, N, T, C) states of P perturbations.
        clean: (N, T, C) the clean states.

    Returns:
        ``rel_l2`` and ``cos``, each float64 (P,).
    """
    out = drift_measures(perturbed, clean)
    return out["rel_l2"], out["cos"]


def gaussian_directions(shape: tuple[int, ...], seed: int, block: int) -> torch.Tensor:
    """Per-token unit vectors, uniform on the sphere: (N, T, C) float32 on CPU.

    The stream depends on (seed, block) only, so every magnitude of one seed shares a direction and
    a rerun on another device draws the same numbers.
    """
    gen = torch.Generator().manual_seed(1_000_003 * seed + block)
    u = torch.randn(shape, generator=gen)
    return u / u.norm(dim=-1, keepdim=True)


def step_of(clean: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    """``||h_t|| d_t / ||d_t||`` per token, float32 on ``clean``'s device: (N, T, C).

    Computed once per direction and reused for every magnitude (the direction is moved to the
    device once). Tokens whose direction is exactly zero get a zero step (they stay clean).
    """
    d = direction.float()
    d_norm = d.norm(dim=-1, keepdim=True)
    unit = torch.where(d_norm > 0, d / d_norm.clamp_min(torch.finfo(torch.float32).tiny), torch.zeros_like(d))
    return clean.float().norm(dim=-1, keepdim=True) * unit.to(clean.device)


def perturbed(clean: torch.Tensor, step: torch.Tensor, eps: Sequence[float]) -> torch.Tensor:
    """``h + eps step`` for each eps: (N, T, C) x P -> (P, N, T, C), in ``clean``'s dtype."""
    scale = torch.tensor(eps, dtype=torch.float32, device=clean.device).view(-1, 1, 1, 1)
    return (clean.float()[None] + scale * step[None]).to(clean.dtype)


def rescale(clean: torch.Tensor, direction: torch.Tensor, eps: Sequence[float]) -> torch.Tensor:
    """``h + eps ||h_t|| d_t / ||d_t||`` for each eps: (N, T, C) x P -> (P, N, T, C).

    Tokens whose direction is exactly zero stay clean.
    """
    return perturbed(clean, step_of(clean, direction), eps)


def chunk_size(
    adapter: Adapter, n_seq: int, seqlen: int, budget_bytes: float, max_tokens: int | None = None
) -> int:
    """How many perturbations (each of ``n_seq`` sequences) go into one forward: as many as fit
    ``budget_bytes`` and, if given, ``max_tokens`` tokens (at least one).

    On CPU, very large forwards are slower per token than moderate ones (measured on a 128-wide
    block: 5-6 us/token at 0.5-4k tokens, 9-10 us/token at 8-28k), hence the token cap.

    Estimate of one sequence's working set in one block: hidden states in/out, residual,
    q/k/v/o and their rotations (~8 C), the MLP intermediates (~3 I), and attention scores when
    materialised (H T), all per token, at the model's element size.
    """
    shape = adapter.shape
    elem = next(adapter.model.parameters()).element_size()
    per_seq = seqlen * (8 * shape.hidden + 3 * shape.intermediate + shape.heads * seqlen) * max(elem, 4)
    by_memory = int(budget_bytes // (per_seq * n_seq))
    by_tokens = max_tokens // (n_seq * seqlen) if max_tokens else by_memory
    return max(1, min(by_memory, by_tokens))


class SweepEngine:
    """Propagates injected states through the rest of the network and measures drift.

    Args:
        adapter: the dense model on its device.
        trajectory: its clean trajectory on the sweep set.
        model_key: config key (for rows and error messages).
        budget_bytes: memory budget of one chunk's forward.
        max_tokens: cap on the tokens of one chunk's forward (None: memory budget only).
    """

    def __init__(
        self,
        adapter: Adapter,
        trajectory: CleanTrajectory,
        model_key: str,
        budget_bytes: float,
        max_tokens: int | None = None,
    ) -> None:
        self.adapter = adapter
        self.traj = trajectory
        self.model_key = model_key
        n_seq, seqlen = trajectory.hidden[0].shape[:2]
        self.n_seq = n_seq
        self.chunk = chunk_size(adapter, n_seq, seqlen, budget_bytes, max_tokens)
        self.block_forwards = 0  # counted for the benchmark's efficiency figure

    @torch.no_grad()
    def pruned_block_output(self, k: int, norms: dict[str, torch.Tensor], sparsity: float) -> torch.Tensor:
        """``f~_k(h_{k-1})``: block k alone pruned with Wanda at ``sparsity`` (norms from calibration)."""
        linears = self.adapter.linears(k)
        masks = {name: wanda_mask(lin.weight, norms[name], sparsity) for name, lin in linears.items()}
        block = pruned_copy(self.adapter.blocks[k], masks)
        self.block_forwards += 1
        return self.adapter.run_block(k, self.traj.state(k - 1), module=block)

    @torch.no_grad()
    def propagate(
        self,
        k: int,
        make: Callable[[slice], torch.Tensor],
        labels: Sequence[tuple[str, float, int]],
    ) -> list[dict[str, object]]:
        """Inject at block k and record drift at every depth k..L (L = after the final norm).

        Args:
            k: the injection block.
            make: returns the injected states ``h~_k`` (p, N, T, C) for a slice of ``labels``.
            labels: one (kind, magnitude, seed) per perturbation.

        Returns:
            Drift rows (columns :data:`DRIFT_COLUMNS`).

        Raises:
            FloatingPointError: a non-finite state, naming the model, block and magnitude.
        """
        n_blocks = self.adapter.n_blocks
        rows: list[dict[str, object]] = []
        for start in range(0, len(labels), self.chunk):
            part = slice(start, min(start + self.chunk, len(labels)))
            lab = labels[part]
            x = make(part)  # (p, N, T, C)
            p, n, t, c = x.shape
            self._record(rows, k, k, x, self.traj.state(k), lab)
            h = x.reshape(p * n, t, c)
            for j in range(k + 1, n_blocks):
                h = self.adapter.run_block(j, h)
                self.block_forwards += 1
                self._record(rows, k, j, h.view(p, n, t, -1), self.traj.state(j), lab)
            out = self.adapter.final(h)
            self._record(rows, k, n_blocks, out.view(p, n, t, -1), self.traj.final, lab)
        return rows

    def _record(self, rows, k, depth, states, clean, labels) -> None:
        if not torch.isfinite(states).all():
            bad = [lab for lab, s in zip(labels, states, strict=True) if not torch.isfinite(s).all()]
            kind, magnitude, seed = bad[0]
            raise FloatingPointError(
                f"model {self.model_key!r}: non-finite hidden state at depth {depth} after injecting "
                f"{kind} at block {k} with magnitude {magnitude} (seed {seed}); a broken block, or "
                "fp16 overflow (try dtype: bfloat16 or float32)"
            )
        measures = {name: value.tolist() for name, value in drift_measures(states, clean).items()}
        for i, (kind, magnitude, seed) in enumerate(labels):
            rows.append(
                {
                    "model": self.model_key,
                    "kind": kind,
                    "inject_block": k,
                    "magnitude": magnitude,
                    "seed": seed,
                    "depth": depth,
                    **{name: values[i] for name, values in measures.items()},
                }
            )

    def gaussian(
        self, k: int, eps: Sequence[float], seeds: Sequence[int], first: bool = True
    ) -> list[dict[str, object]]:
        """The ``gaussian`` kind at block k: every (seed, eps) pair batched together; ``first``
        False: the first position stays clean (kind ``gaussian_nofirst``, the same directions)."""
        clean = self.traj.state(k)
        kind = kind_of("gaussian", "perturbed" if first else "clean")
        labels = [(kind, e, s) for s in seeds for e in eps]
        # one direction per seed, drawn on the CPU (the same numbers on any device) and turned into
        # its per-token step once; every magnitude of that seed reuses it
        steps = {
            s: _first(step_of(clean, gaussian_directions(tuple(clean.shape), s, k)), first) for s in seeds
        }

        def make(part: slice) -> torch.Tensor:
            return torch.cat([perturbed(clean, steps[s], [e]) for _, e, s in labels[part]])

        return self.propagate(k, make, labels)

    def prune(self, k: int, norms: dict[str, torch.Tensor], sparsity: float) -> list[dict[str, object]]:
        """The ``prune`` kind at block k and one sparsity."""
        out = self.pruned_block_output(k, norms, sparsity)
        return self.propagate(k, lambda part: out[None], [("prune", sparsity, 0)])

    def prune_dir(
        self,
        k: int,
        norms: dict[str, torch.Tensor],
        sparsity: float,
        eps: Sequence[float],
        first: Sequence[bool] = (True,),
    ) -> list[dict[str, object]]:
        """The ``prune_dir`` kind at block k: the pruning direction at ``sparsity``, rescaled to each
        eps; one pruned forward serves every ``first`` (False: ``prune_dir_nofirst``)."""
        clean = self.traj.state(k)
        step = step_of(clean, self.pruned_block_output(k, norms, sparsity) - clean)
        rows: list[dict[str, object]] = []
        for keep in first:
            st = _first(step, keep)
            labels = [(kind_of("prune_dir", "perturbed" if keep else "clean"), e, 0) for e in eps]
            rows += self.propagate(
                k,
                lambda part, st=st, labels=labels: perturbed(clean, st, [x[1] for x in labels[part]]),
                labels,
            )
        return rows


def _first(step: torch.Tensor, keep: bool) -> torch.Tensor:
    """``step`` unchanged, or with the first position's step zeroed (that token stays clean)."""
    if keep:
        return step
    out = step.clone()
    out[:, 0] = 0
    return out


def load_block_norms(path: str) -> Callable[[int], dict[str, torch.Tensor]]:
    """Block index -> {linear name: Wanda input norms} from the calibration stage's safetensors."""

    flat = read_tensors(path)
    by_block: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in flat.items():
        block, name = key.split(".", 1)
        by_block.setdefault(int(block), {})[name] = value
    return lambda k: by_block[k]


@torch.no_grad()
def naive_drift(
    adapter: Adapter, input_ids: torch.Tensor, trajectory: CleanTrajectory, k: int, injected: torch.Tensor
) -> dict[int, tuple[float, float]]:
    """Reference implementation: one perturbation, one full forward from the embeddings.

    Block k's output is replaced by ``injected`` (N, T, C) with a forward hook; every block output
    and the decoder's final state are compared with the clean trajectory. Used by the tests (the
    engine must equal it) and by ``bench/sweep.py`` (the engine must beat it).

    Returns:
        depth -> (rel_l2, cos) for depths k..L.
    """
    states: list[torch.Tensor] = []

    def hook(module, args, output, j):
        result = injected if j == k else output
        states.append(result)
        return result

    handles = [
        block.register_forward_hook(lambda m, a, o, j=j: hook(m, a, o, j))
        for j, block in adapter.iter_blocks()
    ]
    try:
        final = adapter.decoder(input_ids=input_ids, use_cache=False).last_hidden_state
    finally:
        for handle in handles:
            handle.remove()
    clean = [*trajectory.hidden[1:], trajectory.final]
    out = {}
    for depth, state in enumerate([*states, final]):
        if depth >= k:
            rel, cos = token_drift(state[None], clean[depth])
            out[depth] = (float(rel[0]), float(cos[0]))
    return out


def build_engine(
    adapter: Adapter,
    tokens: torch.Tensor,
    model_key: str,
    n_sweep: int,
    budget_gb: float,
    max_tokens: int | None,
) -> SweepEngine:
    """The engine for a model: the sweep set is the first ``n_sweep`` calibration sequences
    (``tokens``: (n_samples, seqlen) int64); chunks fit ``budget_gb`` and ``max_tokens``."""
    traj = clean_trajectory(adapter, tokens[:n_sweep])
    return SweepEngine(adapter, traj, model_key, budget_gb * 2**30, max_tokens)


def run_sweeps(
    engine: SweepEngine,
    block_norms: Callable[[int], dict[str, torch.Tensor]],
    kinds: Sequence[str],
    eps: Sequence[float],
    seeds: Sequence[int],
    sparsities: Sequence[float],
    first_token: Sequence[str] = ("perturbed",),
) -> pd.DataFrame:
    """Every injection block for the given kinds; the drift table (columns :data:`DRIFT_COLUMNS`).

    Args:
        engine: the engine around the dense model and its clean trajectory.
        block_norms: block index -> Wanda input norms of its linears (``prune``/``prune_dir``).
        kinds: any of ``gaussian``, ``prune``, ``prune_dir``.
        eps: magnitudes of ``gaussian`` and ``prune_dir``.
        seeds: seeds of ``gaussian``.
        sparsities: the ``prune`` sparsities (each its own injection, sharing the model and its
            clean trajectory), and for ``prune_dir`` the one sparsity whose direction it rescales.
        first_token: ``perturbed`` and/or ``clean``: the magnitude kinds (``gaussian``,
            ``prune_dir``) run once per entry, ``clean`` as ``<kind>_nofirst``.
    """
    unknown = set(kinds) - set(KINDS)
    if unknown:
        raise ValueError(f"unknown perturbation kinds {sorted(unknown)}; valid: {', '.join(KINDS)}")
    if not first_token or set(first_token) - set(FIRST_TOKEN):
        raise ValueError(
            f"first_token must be a non-empty subset of {list(FIRST_TOKEN)}, got {list(first_token)}"
        )
    first = [entry == "perturbed" for entry in FIRST_TOKEN if entry in first_token]
    if "prune_dir" in kinds and len(sparsities) != 1:
        raise ValueError(f"prune_dir rescales one sparsity's direction, got {list(sparsities)}")
    rows: list[dict[str, object]] = []
    for k in tqdm(range(engine.adapter.n_blocks), desc=f"sweep {engine.model_key}", mininterval=5):
        if "gaussian" in kinds:
            for keep in first:
                rows += engine.gaussian(k, eps, seeds, keep)
        if "prune" in kinds:
            for sparsity in sparsities:
                rows += engine.prune(k, block_norms(k), sparsity)
        if "prune_dir" in kinds:
            rows += engine.prune_dir(k, block_norms(k), sparsities[0], eps, first)
    table = pd.DataFrame(rows, columns=DRIFT_COLUMNS)
    # canonical order, independent of how perturbations were chunked
    return table.sort_values(["kind", "inject_block", "seed", "magnitude", "depth"], ignore_index=True)
