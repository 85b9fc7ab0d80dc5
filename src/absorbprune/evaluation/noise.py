"""The noise floor of one cell: how far its test perplexity moves when the sequential pass is
perturbed at float level only (docs/sequential.md).

At high sparsity the sequential pass is chaotic: a near-tie in Wanda's scores that one rounding
flips changes a block's mask, every later block then sees other inputs, and the cell's perplexity
moves by percents. Two implementations of the same method that differ only in float order (the
reference code and ours, a batched and an unbatched forward, another sum order of a statistic)
cannot be expected to agree more closely than that spread. This module measures the spread of one cell by
pruning it again under perturbations that change nothing but rounding:

* ``threads=2``: torch's CPU thread count 2 instead of 1 (how a kernel splits its work; where measured
  it changed nothing: a check that the pass is deterministic);
* ``batch=1`` and ``batch=all``: the calibration sequences one per forward, or all in one (the
  sum order of the statistics, and the kernels' blocking);
* ``nudge+1ulp`` and ``nudge-1ulp``: every block input of the pass (both its statistics forward
  and its output forward) moved to the next float32 toward +inf (-inf), by a forward pre-hook
  removed after the pass, so the evaluation runs the pruned model as usual: a relative change of
  2^-24 to 2^-23 of every entry, once per block.

The unperturbed pass is the cell's own: the spec's batch size, one thread. A perturbation that
would repeat it (``batch=all`` when the spec's batch already holds every sequence) is skipped.
Every run starts from the same dense weights (restored in place between runs and at the end).
Cost: one prune and one perplexity per run (SmolLM2 at the default protocol: 20-25 s each on
one CPU core). On a GPU, ``batch=all`` holds every calibration sequence's activations in one
forward: mind the memory at the paper's 128 x 2048 tokens.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any

import pandas as pd
import torch
from torch import nn

from ..core.io import read_tensors
from ..models.adapter import Adapter
from ..pruning.sequential import PruneSpec, prune_model
from .cell import PerplexitySpec
from .perplexity import ppl_row

__all__ = [
    "COLUMNS",
    "DEFAULT_PERTURBATIONS",
    "PERTURBATIONS",
    "Perturbation",
    "cell_noise_table",
    "noise_floor",
    "noise_table",
    "noise_table_files",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Perturbation:
    """A float-level change of the pass.

    Attributes:
        name: the row's name in the table.
        threads: torch CPU threads while pruning (the evaluation always runs on one).
        batch_size: calibration sequences per forward; 0: all in one; None: the spec's.
        nudge: +1 or -1 moves every block input of the pass one float32 toward +inf or -inf; 0
            leaves it.
    """

    name: str
    threads: int = 1
    batch_size: int | None = None
    nudge: int = 0


UNPERTURBED = Perturbation("none")
PERTURBATIONS: Mapping[str, Perturbation] = {
    p.name: p
    for p in (
        Perturbation("threads=2", threads=2),
        Perturbation("batch=1", batch_size=1),
        Perturbation("batch=all", batch_size=0),
        Perturbation("nudge+1ulp", nudge=1),
        Perturbation("nudge-1ulp", nudge=-1),
    )
}
DEFAULT_PERTURBATIONS: tuple[str, ...] = tuple(PERTURBATIONS)

COLUMNS: tuple[str, ...] = (
    "perturbation",
    "threads",
    "batch_size",
    "nudge",
    "ppl",
    "rel_deviation",
    "mask_frac_differ",
)


@contextmanager
def _threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


@contextmanager
def _nudged(adapter: Adapter, direction: int) -> Iterator[None]:
    """Every block's hidden-state input moved one float32 toward ``direction`` * inf, while inside."""
    if not direction:
        yield
        return
    towards = float("inf") if direction > 0 else float("-inf")

    def nudge(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
        h = args[0]
        return (torch.nextafter(h, torch.full_like(h, towards)), *args[1:])

    handles = [block.register_forward_pre_hook(nudge) for _, block in adapter.iter_blocks()]
    try:
        yield
    finally:
        for handle in handles:
            handle.remove()


def _linears(adapter: Adapter) -> dict[tuple[int, str], nn.Linear]:
    return {(b, n): lin for b in range(adapter.n_blocks) for n, lin in adapter.linears(b).items()}


def noise_table(
    adapter: Adapter,
    calibration: torch.Tensor,
    block_sparsity: Sequence[float],
    spec: PruneSpec,
    test_ids: torch.Tensor,
    ppl: PerplexitySpec,
    device: torch.device,
    perturbations: Sequence[str] = DEFAULT_PERTURBATIONS,
    label: str = "",
) -> pd.DataFrame:
    """Prune one cell unperturbed and under each float-level perturbation; measure each.

    Args:
        adapter: the dense model (on the CPU; pruning streams blocks through ``device`` when it is
            a GPU). Left dense on return: its prunable weights are restored after every run.
        calibration: the cell's calibration sequences (N, T).
        block_sparsity: the cell's allocation, one sparsity per block.
        spec: the cell's pruner, structure, batch size and settings.
        test_ids: the tokenized test text, (1, n) or (n,).
        ppl: the perplexity protocol (seqlen, windows per forward, max_windows).
        device: where the pass prunes and the perplexity runs.
        perturbations: names in :data:`PERTURBATIONS`.
        label: what is measured, for the log.

    Returns:
        One row per run, the unperturbed (``none``) first, then the perturbations that change
        the pass (one that would repeat the unperturbed pass is skipped); columns :data:`COLUMNS`:
        ``perturbation``; ``threads``, ``batch_size`` (the one used) and ``nudge`` (-1, 0, +1):
        the run's pass; ``ppl``: its test perplexity; ``rel_deviation``: ``ppl / ppl_none - 1``;
        ``mask_frac_differ``: the share of prunable weights whose pruned-or-kept state differs
        from the unperturbed run's.

    Raises:
        KeyError: an unknown perturbation name (listing the known ones).
        FloatingPointError: a run's pass or perplexity diverged (the model is restored first).
    """
    unknown = [p for p in perturbations if p not in PERTURBATIONS]
    if unknown:
        raise KeyError(f"unknown perturbations {unknown}; known: {sorted(PERTURBATIONS)}")
    everything = calibration.shape[0]

    def settings(run: Perturbation) -> tuple[int, int, int]:
        batch = spec.batch_size if run.batch_size is None else run.batch_size
        return run.threads, min(batch or everything, everything), run.nudge

    base = settings(UNPERTURBED)
    runs = [UNPERTURBED]
    for name in perturbations:
        if settings(PERTURBATIONS[name]) == base:
            log.info("%s: %s is the unperturbed pass itself (batch %d), skipped", label, name, base[1])
        else:
            runs.append(PERTURBATIONS[name])
    linears = _linears(adapter)
    dense = {key: lin.weight.detach().clone() for key, lin in linears.items()}
    n_weights = sum(w.numel() for w in dense.values())
    base_masks: dict[tuple[int, str], torch.Tensor] = {}
    rows: list[dict[str, Any]] = []
    try:
        for run in runs:
            threads, batch, nudge = settings(run)
            with _threads(threads), _nudged(adapter, nudge):
                prune_model(
                    adapter, calibration, block_sparsity, replace(spec, batch_size=batch), device, label
                )
            with _threads(1):
                model = adapter.model.to(device)
                bos_id = adapter.bos_id
                row = ppl_row(
                    model, test_ids, ppl.seqlen, ppl.batch_size, {}, ppl.dataset, ppl.max_windows, bos_id
                )
            masks = {key: (lin.weight == 0).cpu() for key, lin in linears.items()}
            base_masks = base_masks or masks
            differ = sum(int((masks[k] != base_masks[k]).sum()) for k in masks)
            rows.append(
                {
                    "perturbation": run.name,
                    "threads": threads,
                    "batch_size": batch,
                    "nudge": nudge,
                    "ppl": float(row["ppl"].iloc[0]),
                    "mask_frac_differ": differ / n_weights,
                }
            )
            log.info(
                "%s: %s -> ppl %.4f, %.4f%% of mask entries differ from the unperturbed pass",
                label,
                run.name,
                rows[-1]["ppl"],
                100 * rows[-1]["mask_frac_differ"],
            )
            _restore(linears, dense)
    finally:
        _restore(linears, dense)
    table = pd.DataFrame(rows)
    table["rel_deviation"] = table["ppl"] / table["ppl"].iloc[0] - 1
    return table[list(COLUMNS)]


@torch.no_grad()
def _restore(
    linears: Mapping[tuple[int, str], nn.Linear], dense: Mapping[tuple[int, str], torch.Tensor]
) -> None:
    for key, lin in linears.items():
        lin.weight.copy_(dense[key].to(lin.weight.device))


def noise_floor(table: pd.DataFrame) -> float:
    """The noise floor of a cell: ``max |rel_deviation|`` over the perturbed runs of
    :func:`noise_table`.

    Why the maximum: every perturbed run is an equally valid execution of the same method (it
    changes rounding only), so each is a perplexity the cell could have reported. A difference
    between two methods smaller than the largest of these moves can be produced by a rounding
    change alone, so the largest is the bound a comparison must clear. A standard deviation of
    four or five runs would be unstable and would understate the tails of a chaotic pass (one flip
    early in the pass moves the perplexity far more than flips late). It grows with the number of
    runs: quote it with that number, and read it as a floor, not as an interval.
    """
    perturbed = table[table["perturbation"] != UNPERTURBED.name]
    if perturbed.empty:
        raise ValueError("the table has no perturbed run")
    return float(perturbed["rel_deviation"].abs().max())


def noise_table_files(
    adapter: Adapter,
    allocation: str,
    calibration_tokens: str,
    test_tokens: str,
    spec: PruneSpec,
    ppl: PerplexitySpec,
    device: torch.device,
    perturbations: Sequence[str] = DEFAULT_PERTURBATIONS,
    label: str = "",
) -> pd.DataFrame:
    """:func:`noise_table` from a cell's files: its allocation (rule allocate, a parquet of
    ``block``, ``block_sparsity``), calibration tokens (rule calibration_tokens) and the test
    tokens (rule ppl_tokens)."""
    sparsity = pd.read_parquet(allocation).sort_values("block")["block_sparsity"].tolist()
    tokens = read_tensors(calibration_tokens, ("input_ids",))["input_ids"]
    test = read_tensors(test_tokens, ("input_ids",))["input_ids"]
    return noise_table(adapter, tokens, sparsity, spec, test, ppl, device, perturbations, label)


def cell_noise_table(
    adapter: Adapter,
    cell: Any,
    files: tuple[str, str, str],
    spec: PruneSpec,
    ppl: PerplexitySpec,
    device: torch.device,
    perturbations: Sequence[str],
) -> pd.DataFrame:
    """:func:`noise_table_files` for a grid cell (rule noise_floor), its key columns first
    (``tables.cells.NOISE``). ``files``: its allocation, calibration tokens and the test tokens. A
    cell whose pass fails numerically has no noise floor: no rows (logged), never a failed job."""
    from ..tables.cells import NOISE
    from ..tables.common import empty
    from .cell import NUMERICAL_FAILURES

    try:
        table = noise_table_files(adapter, *files, spec, ppl, device, perturbations, cell.label())
    except NUMERICAL_FAILURES as err:
        log.warning("%s failed numerically, so it has no noise floor: %s", cell.label(), err)
        return empty(NOISE)
    keys = cell.keys()
    return table.assign(**keys)[[*keys, *COLUMNS]]
