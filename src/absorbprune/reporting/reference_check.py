"""This run's base cells beside the perplexities their methods' authors published
(``reference_check.parquet``; docs/reference-check.md).

The published numbers are data, ``published.yaml`` (package data, part of this module's code hash):
one record per number as its source prints it, with the citation, a link, primary or secondary,
and the protocol it was measured under. A cell is matched to a record by the model's hub id
(``models.<key>.id``, through the file's aliases; a config key is only the user's name), pruner,
structure, allocation and sparsity. Only base cells compare (correction ``none``), averaged over the
calibration seeds that did not fail. A matched cell measured under another protocol (another
perplexity text, window length or window count, another calibration set, other allocation
hyperparameters) is kept with ``comparable`` false and the reason in ``why_not``, never dropped.

``python -m absorbprune.reporting.reference_check --markdown`` prints the tables of published
numbers that docs/reference-check.md holds (a test keeps the two equal); the rendering, HTML and
Markdown, is ``reporting.reference_page``.
"""

from __future__ import annotations

import argparse
import functools
import math
import statistics
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import pandas as pd
import yaml

from ..plan.grid import allocation_variants, hyperparameters
from ..tables.summary import REFERENCE_CHECK

__all__ = [
    "REFERENCE_CHECK",
    "Calibration",
    "Published",
    "Reference",
    "Spread",
    "load_published",
    "main",
    "protocol_of",
    "published_spread",
    "reference_check",
    "variant_hyperparameters",
]

# The published numbers are package data: editing them reruns the check (plan.codedeps).
__data__ = ("published.yaml",)

KINDS = ("primary", "secondary")
FIELDS = {
    "hub_id",
    "pruner",
    "structure",
    "allocation",
    "sparsity",
    "ppl",
    "source",
    "hyperparameters",
    "note",
}
REQUIRED = {"hub_id", "pruner", "allocation", "sparsity", "ppl", "source"}  # sparsity: null for dense
SOURCE_FIELDS = {"label", "citation", "url", "kind", "dataset", "seqlen", "calibration", "note"}
OVERRIDABLE = {"dataset", "seqlen", "calibration"}  # a record may change what its source measured under


@dataclass(frozen=True)
class Calibration:
    """A calibration set: ``n_samples`` windows of ``seqlen`` tokens from ``source``."""

    source: str
    n_samples: int
    seqlen: int

    def text(self) -> str:
        return f"{self.source} {self.n_samples}x{self.seqlen}"


@dataclass(frozen=True)
class Published:
    """One published perplexity, with what it was measured under and where it was read."""

    hub_id: str  # canonical hub id (published.yaml's aliases map the mirrors onto it)
    pruner: str  # dense | magnitude | wanda | sparsegpt
    structure: str  # unstructured | N:M
    allocation: str  # dense | uniform | owl | alphapruning | atp | dlp
    sparsity: float | None  # None for dense
    ppl: float
    dataset: str  # wikitext2 (the test split)
    seqlen: int  # perplexity window length
    calibration: Calibration | None  # None for dense
    hyperparameters: Mapping[str, float] | None  # the allocation's, in this workflow's names; None: not given
    source: str  # citation
    label: str  # a short name for the source (links)
    url: str
    kind: str  # primary | secondary
    note: str  # about this number ("" if none)
    source_note: str  # about every number of its source (protocol details read from its code)

    def setting(self) -> tuple[str, str, str, str, float]:
        """(hub id, pruner, structure, allocation, sparsity): what one measured number is of."""
        return (self.hub_id, self.pruner, self.structure, self.allocation, _sparsity(self.sparsity))


@dataclass(frozen=True)
class Reference:
    """The published numbers and the hub ids that name the same weights."""

    records: tuple[Published, ...]
    aliases: Mapping[str, str]  # lower-case hub id -> canonical hub id (each canonical maps to itself)

    def canonical(self, hub_id: str) -> str:
        """The canonical form of ``hub_id`` (lower case; a mirror's id maps to its canonical one)."""
        return self.aliases.get(hub_id.lower(), hub_id.lower())


def _sparsity(value: float | None) -> float:
    return round(float(value or 0.0), 6)


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{what}: expected a finite number, got {value!r}")
    return float(value)


def _calibration(value: Any, what: str) -> Calibration | None:
    if value is None:
        return None
    if not isinstance(value, dict) or set(value) != {"source", "n_samples", "seqlen"}:
        raise ValueError(f"{what}: calibration must be {{source, n_samples, seqlen}}, got {value!r}")
    return Calibration(str(value["source"]), int(value["n_samples"]), int(value["seqlen"]))


def _record(raw: dict[str, Any], sources: dict[str, dict[str, Any]], i: int) -> Published:
    what = f"published.yaml record {i}"
    unknown, missing = set(raw) - FIELDS - OVERRIDABLE, REQUIRED - set(raw)
    if unknown or missing:
        raise ValueError(f"{what}: unknown fields {sorted(unknown)}, missing fields {sorted(missing)}")
    if raw.get("source") not in sources:
        raise ValueError(f"{what}: source {raw.get('source')!r} is not under `sources`")
    src = {**sources[raw["source"]], **{k: raw[k] for k in OVERRIDABLE if k in raw}}
    dense = raw.get("pruner") == "dense"
    hp = raw.get("hyperparameters")
    return Published(
        hub_id=str(raw["hub_id"]),
        pruner=str(raw["pruner"]),
        structure=str(raw.get("structure", "unstructured")),
        allocation=str(raw["allocation"]),
        sparsity=None if raw.get("sparsity") is None else _number(raw["sparsity"], what),
        ppl=_number(raw["ppl"], what),
        dataset=str(src["dataset"]),
        seqlen=int(src["seqlen"]),
        calibration=None if dense else _calibration(src.get("calibration"), what),
        hyperparameters=None if hp is None else {str(k): _number(v, what) for k, v in hp.items()},
        source=" ".join(str(src["citation"]).split()),
        label=str(src["label"]),
        url=str(src["url"]),
        kind=str(src["kind"]),
        note=" ".join(str(raw.get("note") or "").split()),
        source_note=" ".join(str(src.get("note") or "").split()),
    )


@functools.cache
def load_published() -> Reference:
    """The packaged ``published.yaml``, every record expanded with its source's fields.

    Raises:
        ValueError: a record or source with an unknown field, a source no record names, or a value
            of the wrong type.
    """
    text = resources.files("absorbprune").joinpath("reporting/published.yaml").read_text()
    data = yaml.safe_load(text)
    sources = data["sources"]
    for name, src in sources.items():
        if set(src) != SOURCE_FIELDS:
            raise ValueError(
                f"published.yaml source {name!r}: fields {sorted(src)}, need {sorted(SOURCE_FIELDS)}"
            )
    records = tuple(_record(raw, sources, i) for i, raw in enumerate(data["records"]))
    unused = set(sources) - {raw["source"] for raw in data["records"]}
    if unused:
        raise ValueError(f"published.yaml: sources no record uses: {sorted(unused)}")
    aliases: dict[str, str] = {}
    for canonical, mirrors in data["aliases"].items():
        for hub_id in [canonical, *mirrors]:
            aliases[hub_id.lower()] = canonical.lower()
    return Reference(records, aliases)


def protocol_of(config: Mapping[str, Any]) -> dict[str, Any]:
    """What a run measured under, from its resolved config: the ``protocol`` argument of
    :func:`reference_check`."""
    evaluation, calibration = config["evaluation"], config["calibration"]
    return {
        "seqlen": int(evaluation["seqlen"]),
        "max_windows": evaluation["max_windows"],  # None: the whole test split
        "calibration": {
            "source": calibration["source"],
            "n_samples": int(calibration["n_samples"]),
            "seqlen": int(calibration["seqlen"]),
        },
    }


def variant_hyperparameters(config: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """``"model/pruner/allocation_variant"`` -> the variant's resolved numeric hyperparameters (the
    ``hyperparameters`` argument of :func:`reference_check`), for every grid model and pruner;
    ``uniform`` always (N:M cells use it)."""
    variants = ["uniform", *(v for v in allocation_variants(dict(config)) if v != "uniform")]
    out = {}
    for model in config["grid"]["models"]:
        for pruner in config["grid"]["pruners"]:
            for variant in variants:
                _, hp = hyperparameters(dict(config), model, pruner, variant)
                out[f"{model}/{pruner}/{variant}"] = {
                    k: float(v)
                    for k, v in hp.items()
                    if isinstance(v, int | float) and not isinstance(v, bool)
                }
    return out


def _differences(
    record: Published,
    dataset: str,
    protocol: Mapping[str, Any],
    cell_hp: Mapping[str, float] | None,
) -> list[str]:
    """Why a cell's number is not comparable with ``record`` ([] when it is)."""
    out = []
    if dataset != record.dataset:
        out.append(f"perplexity on {dataset} (published: {record.dataset})")
    if int(protocol["seqlen"]) != record.seqlen:
        out.append(f"perplexity windows of {protocol['seqlen']} tokens (published: {record.seqlen})")
    if protocol.get("max_windows") is not None:
        out.append(f"perplexity on {protocol['max_windows']} windows, not the whole test split")
    if record.calibration is not None:
        cal = protocol["calibration"]
        ours = Calibration(str(cal["source"]), int(cal["n_samples"]), int(cal["seqlen"]))
        if ours != record.calibration:
            out.append(f"calibration {ours.text()} (published: {record.calibration.text()})")
    if record.hyperparameters is not None and cell_hp is not None:
        for name, value in sorted(record.hyperparameters.items()):
            ours_hp = cell_hp.get(name)
            if ours_hp is None or not math.isclose(ours_hp, value, rel_tol=1e-9, abs_tol=1e-12):
                shown = "unset" if ours_hp is None else f"{ours_hp:g}"
                out.append(f"{record.allocation} {name}={shown} (published: {value:g})")
    return out


def reference_check(
    grid: pd.DataFrame,
    models: Mapping[str, Mapping[str, Any]],
    protocol: Mapping[str, Any],
    hyperparameters: Mapping[str, Mapping[str, float]] | None = None,
    reference: Reference | None = None,
) -> pd.DataFrame:
    """Every base cell of ``grid`` that has a published number, beside it (``REFERENCE_CHECK``).

    Args:
        grid: ``summary/grid.parquet`` (``tables.summary.GRID``): its dense rows are the dense
            references, its ``ppl_dataset`` says what each perplexity was measured on.
        models: the config's ``models`` (key -> entry); a model without ``id`` matches nothing.
        protocol: what the run measured under, :func:`protocol_of` of its config: ``seqlen`` and
            ``max_windows`` of the perplexity, and ``calibration`` {source, n_samples, seqlen}.
        hyperparameters: :func:`variant_hyperparameters` of the config; None compares none.
        reference: the published numbers (default: the packaged ``published.yaml``).

    One row per (cell group, published record): a cell group is one model, pruner, structure,
    allocation variant and sparsity with correction ``none``, its perplexity the mean over the
    calibration seeds whose status is ok. Two sources reporting one setting give two rows.
    """
    reference = reference or load_published()
    by_setting: dict[tuple, list[Published]] = {}
    for record in reference.records:
        key = (reference.canonical(record.hub_id), *record.setting()[1:])
        by_setting.setdefault(key, []).append(record)
    base = grid[grid["correction"] == "none"]
    rows = []
    keys = ["model", "pruner", "structure", "allocation", "allocation_variant", "sparsity"]
    for (model, pruner, structure, allocation, variant, sparsity), cells in base.groupby(keys, sort=True):
        hub_id = (models.get(model) or {}).get("id")
        if not hub_id:
            continue
        records = by_setting.get(
            (reference.canonical(hub_id), pruner, structure, allocation, _sparsity(sparsity)), []
        )
        ok = cells[(cells["status"] == "ok") & cells["ppl"].notna()]
        measured = float(ok["ppl"].mean()) if len(ok) else math.nan
        dataset = str(cells["ppl_dataset"].iloc[0])
        cell_hp = None if hyperparameters is None else hyperparameters.get(f"{model}/{pruner}/{variant}", {})
        for record in records:
            why = _differences(record, dataset, protocol, None if pruner == "dense" else cell_hp)
            if not len(ok):
                reasons = sorted(set(cells["reason"].astype(str)) - {""})
                why.insert(
                    0, "every calibration seed failed" + (f": {'; '.join(reasons)}" if reasons else "")
                )
            rows.append(
                {
                    "model": model,
                    "hub_id": hub_id,
                    "pruner": pruner,
                    "structure": structure,
                    "allocation": allocation,
                    "allocation_variant": variant,
                    "sparsity": float(sparsity),
                    "measured_ppl": measured,
                    "n_seeds": len(ok),
                    "published_ppl": record.ppl,
                    "source": record.source,
                    "url": record.url,
                    "kind": record.kind,
                    "ratio": measured / record.ppl,
                    "comparable": not why,
                    "why_not": "; ".join(why),
                    "note": " ".join(n for n in (record.note, record.source_note) if n),
                }
            )
    out = pd.DataFrame(rows, columns=REFERENCE_CHECK.names)
    return out.astype({"n_seeds": "int64", "sparsity": "float64", "comparable": "bool"})


@dataclass(frozen=True)
class Spread:
    """How far two primary sources' numbers for one pruned setting lie apart: ``max/min - 1``."""

    n: int  # settings reported by two or more primary sources
    low: float
    median: float
    high: float
    sources: tuple[str, ...]  # the labels of the sources those settings come from


def published_spread(reference: Reference | None = None) -> Spread:
    """Run-to-run spread between independent published runs of one setting (e.g. the OWL and DLP
    READMEs' LLaMA-7B rows): over every pruned setting two primary sources both report under the
    same protocol."""
    reference = reference or load_published()
    values: dict[tuple, dict[str, float]] = {}
    for r in reference.records:
        if r.kind == "primary" and r.pruner != "dense":
            key = (reference.canonical(r.hub_id), r.calibration, r.dataset, r.seqlen, *r.setting()[1:])
            values.setdefault(key, {})[r.label] = r.ppl
    shared = [v for v in values.values() if len(v) > 1]
    if not shared:
        return Spread(0, math.nan, math.nan, math.nan, ())
    gaps = [max(v.values()) / min(v.values()) - 1 for v in shared]
    labels = tuple(sorted({label for v in shared for label in v}))
    return Spread(len(gaps), min(gaps), statistics.median(gaps), max(gaps), labels)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m absorbprune.reporting.reference_check")
    parser.add_argument("--markdown", action="store_true", help="print the published numbers as Markdown")
    args = parser.parse_args(argv)
    if args.markdown:
        from .reference_page import published_markdown

        print(published_markdown(), end="")
        return 0
    parser.print_help()
    return 2


if __name__ == "__main__":
    raise SystemExit(main())
