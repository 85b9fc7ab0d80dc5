"""The registries: one per axis of the study, each mapping a name to its implementation, its
hyperparameters (default and legal range) and its axis's typed facts (docs/methods.md describes
every method; docs/extending.md shows how to add one). This module holds the classes; the axes
live in their own modules, so that registering an allocator reruns the allocation jobs and not
every job that loads a model:

- ``registry.models``: ``SOURCES`` (where weights come from) and ``FAMILIES`` (architectures);
- ``registry.allocators``: ``ALLOCATORS`` and ``CORRECTIONS`` (layer-wise sparsity);
- ``registry.pruners``: ``PRUNERS`` and ``STRUCTURES``;
- ``registry.tasks``: ``ZEROSHOT_TASKS`` built in here (lm-eval's own tasks need no entry).

Light on purpose (no torch, no pandas): the Snakefile reads the registries at parse time. An entry
names its implementation as ``"package.module:attribute"`` and imports it only when used, so a
registered pruner does not import torch while Snakemake builds the DAG. Everything that lists the
names of an axis derives from its registry: the config schema's enums and hyperparameter sections
(``plan.config.schema``), the grid's variant names (``plan.grid``), the rules' wildcard constraints
(``rules/common.smk``) and the dispatch in each stage module.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["NAME_PATTERN", "Entry", "Hyper", "Registry", "load_ref"]

# A registered name is a path component and a wildcard value, and a variant name is the method's
# name, then "-" and its swept values (owl-lambda0.05): so no "-" in a name.
NAME_PATTERN = r"^[a-z][a-z0-9_]*$"


def load_ref(ref: str) -> Any:
    """The object a ``"package.module:attribute"`` reference names (imports the module)."""
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


@dataclass(frozen=True)
class Hyper:
    """One hyperparameter of a registered method.

    Attributes:
        default: the value used when the config does not set it (the one default: the config
            schema and ``config.yaml`` agree with it, ``tests/plan/test_config.py`` checks).
        description: what it means (it becomes the config schema's description).
        kind: ``number`` (a float), ``integer``, ``boolean`` or ``string``.
        minimum / maximum: the inclusive legal range of a number or integer (both required).
        sweep: a list of values sweeps it (each value its own grid variant).
        choices: the values a ``string`` may take.
    """

    default: Any
    description: str
    kind: str = "number"
    minimum: float | None = None
    maximum: float | None = None
    sweep: bool = False
    choices: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind in ("number", "integer") and (self.minimum is None or self.maximum is None):
            raise ValueError(f"hyperparameter {self.description!r}: a {self.kind} needs a legal range")
        if self.kind == "string" and not self.choices:
            raise ValueError(f"hyperparameter {self.description!r}: a string needs its choices")

    def schema(self) -> dict[str, Any]:
        """The JSON schema of this hyperparameter's config value."""
        one: dict[str, Any] = {"type": self.kind}
        if self.kind == "string":
            one["enum"] = list(self.choices)
        elif self.kind != "boolean":
            one["minimum"] = self.minimum
            one["maximum"] = self.maximum
        if self.sweep:
            listed = {"type": "array", "items": one, "minItems": 1, "uniqueItems": True}
            body: dict[str, Any] = {"oneOf": [one, listed]}
        else:
            body = dict(one)
        return {**body, "default": self.default, "description": self.description}


M = TypeVar("M")


@dataclass(frozen=True)
class Entry(Generic[M]):
    """A registered method.

    Attributes:
        name: its name in the config, in paths and in tables (``NAME_PATTERN``).
        impl: ``"package.module:attribute"``, imported on first use, or the object itself.
        description: one line for the schema and the docs.
        hyper: its hyperparameters, read from the config section its registry names.
        schema_extra: further config properties of that section that are not hyperparameters
            (JSON schema, e.g. AlphaPruning's per-model table).
        meta: the axis's typed facts (``registry.models.FamilyMeta``, ``CorrectionMeta``, ...).
    """

    name: str
    impl: str | Callable[..., Any] | Any
    description: str
    hyper: Mapping[str, Hyper] = field(default_factory=dict)
    schema_extra: Mapping[str, Any] = field(default_factory=dict)
    meta: M = None  # type: ignore[assignment]

    def load(self) -> Any:
        """The implementation (imports its module the first time)."""
        return load_ref(self.impl) if isinstance(self.impl, str) else self.impl

    def defaults(self) -> dict[str, Any]:
        return {k: h.default for k, h in self.hyper.items()}

    def swept(self) -> tuple[str, ...]:
        """Names of the hyperparameters a list sweeps (the tunable ones)."""
        return tuple(k for k, h in self.hyper.items() if h.sweep)


class Registry(Mapping[str, Entry[M]]):
    """Name -> :class:`Entry` for one axis, in registration order.

    Args:
        axis: what an entry is, for messages ("allocation", "pruner").
        section: the config section holding each entry's settings (``allocation`` ->
            ``allocation.<name>``); ``None`` when entries have none.
        meta: the type every entry's ``meta`` must have (``None``: entries carry none).
        pattern: the names this axis allows (default ``NAME_PATTERN``).
    """

    def __init__(
        self,
        axis: str,
        section: str | None = None,
        meta: type | None = None,
        pattern: str = NAME_PATTERN,
    ) -> None:
        self.axis = axis
        self.section = section
        self.meta_type = meta
        self.pattern = pattern
        self._entries: dict[str, Entry[M]] = {}

    def add(self, entry: Entry[M]) -> Entry[M]:
        """Register ``entry``.

        Raises:
            ValueError: a name registered twice, a name outside the axis's pattern, or a ``meta``
                of the wrong type.
        """
        if entry.name in self._entries:
            raise ValueError(f"{self.axis} {entry.name!r} is registered twice")
        if not re.fullmatch(self.pattern, entry.name):
            raise ValueError(
                f"{self.axis} name {entry.name!r} does not match {self.pattern} (names are path "
                "components, and a variant adds '-<hyperparameter><value>' after its method's name)"
            )
        wanted = self.meta_type
        if (wanted is None) != (entry.meta is None) or (
            wanted is not None and not isinstance(entry.meta, wanted)
        ):
            raise ValueError(
                f"{self.axis} {entry.name!r}: meta must be {wanted.__name__ if wanted else 'None'}, "
                f"got {type(entry.meta).__name__}"
            )
        self._entries[entry.name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Unregister ``name`` (tests register throw-away entries)."""
        del self._entries[name]

    def __getitem__(self, name: str) -> Entry[M]:
        try:
            return self._entries[name]
        except KeyError:
            raise KeyError(f"unknown {self.axis} {name!r}; valid: {list(self._entries)}") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def load(self, name: str) -> Any:
        """The implementation registered as ``name``."""
        return self[name].load()
