"""``python -m absorbprune.plan.config [FILE ...]``: read the shipped config.yaml and each FILE
strictly, merge them as ``snakemake --configfile FILE ...`` would, and validate the result.
``--schema`` prints the effective JSON schema (YAML), ``--reference`` the config reference
(``docs/config-reference.md``)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError
from .files import merge, read_config_file
from .schema import effective_schema, reference_markdown
from .validate import validate_config


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m absorbprune.plan.config", description=__doc__)
    parser.add_argument("files", nargs="*", type=Path, help="config files, in --configfile order")
    parser.add_argument("--base", type=Path, default=Path("config.yaml"), help="the workflow's config.yaml")
    parser.add_argument("--schema", action="store_true", help="print the effective schema and exit")
    parser.add_argument("--reference", action="store_true", help="print the config reference and exit")
    args = parser.parse_args(argv)
    if args.schema:
        print(yaml.safe_dump(effective_schema(), sort_keys=False, width=110), end="")
        return 0
    if args.reference:
        print(reference_markdown(), end="")
        return 0
    try:
        config: dict[str, Any] = {}
        for path in [args.base, *args.files]:
            config = merge(config, read_config_file(path))
        validate_config(config)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"config ok: {', '.join(str(p) for p in [args.base, *args.files])}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
