"""Config validation: fill the schema's defaults, check types and ranges (``schema``), then the
cross-key rules a schema cannot express (``checks``), naming every bad key before any job starts.

Light (no torch, no transformers): it runs every time Snakemake parses the workflow, including
once per cluster job.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from .checks import semantic_problems
from .errors import ConfigError
from .schema import effective_schema, fill_defaults, schema_problems

__all__ = ["ConfigError", "resolve", "validate_config"]

log = logging.getLogger(__name__)


def validate_config(config: dict[str, Any]) -> dict[str, Any]:
    """Fill defaults into ``config`` (in place) and validate it.

    Returns:
        The same dict, resolved.

    Raises:
        ConfigError: listing every problem, each naming its key.
    """
    schema = effective_schema()
    for key, model in (config.get("models") or {}).items():
        if isinstance(model, dict) and model.get("source") == "hub" and "revision" not in model:
            log.warning(
                "config key 'models.%s.revision' is not set: the hub's 'main' branch is used, which can "
                "change under you; pin the commit you fetched for a reproducible run",
                key,
            )
    for model in (config.get("models") or {}).values():
        if isinstance(model, dict) and model.get("source") == "builtin":
            model.setdefault("train", {})  # so its defaults are filled in below
    fill_defaults(config, schema, schema)
    evaluation = config.get("evaluation")
    if isinstance(evaluation, dict) and evaluation.get("valid_source") is None:
        evaluation["valid_source"] = evaluation.get("ppl_source")  # the test source's validation split
    problems = schema_problems(config, schema)
    if not problems:
        problems = semantic_problems(config)
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))
    return config


def resolve(config: dict[str, Any]) -> dict[str, Any]:
    """A validated deep copy of ``config`` (the input is left untouched)."""
    return validate_config(copy.deepcopy(config))
