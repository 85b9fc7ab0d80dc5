"""HTML renderings of the summary tables for the Snakemake report (``snakemake --report``)."""

from __future__ import annotations

import html
import os

import pandas as pd

from ..core.io import atomic_file

__all__ = ["MAX_ROWS", "write_table_html"]

MAX_ROWS = 1500  # longer tables (drift) are cut here; the note names the Parquet file with every row


def write_table_html(frame: pd.DataFrame, title: str, source: str, path: str | os.PathLike[str]) -> None:
    """A standalone HTML page holding ``frame`` (floats to 4 significant digits)."""
    shown = frame.head(MAX_ROWS)
    note = f"{len(frame)} rows from <code>{html.escape(source)}</code>"
    if len(frame) > len(shown):
        note += f"; the first {len(shown)} are shown, the Parquet file has all"
    body = shown.to_html(index=False, float_format=lambda x: f"{x:.4g}", na_rep="NaN", border=0)
    page = f"""<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>
body {{ font-family: sans-serif; font-size: 13px; }}
table {{ border-collapse: collapse; }}
th, td {{ padding: 2px 8px; border-bottom: 1px solid #ddd; text-align: right; }}
th {{ background: #f2f2f2; position: sticky; top: 0; }}
/* the first key column stays in view when a wide table scrolls sideways */
td:first-child, th:first-child {{ position: sticky; left: 0; background: #fff; text-align: left; }}
th:first-child {{ background: #f2f2f2; z-index: 1; }}
</style></head>
<body><h3>{html.escape(title)}</h3><p>{note}</p>
{body}
</body></html>
"""
    with atomic_file(path) as tmp:
        tmp.write_text(page)
