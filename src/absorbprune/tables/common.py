"""What every table schema shares: nullable float columns and empty frames.

Every Parquet table the workflow writes is declared once, with a comment per column, in the module
of the stage that writes it (``tables.<stage>``), so a change to one stage's columns reruns only
that stage's writers. ``core.io.write_parquet`` checks a frame against its schema on write, so a
renamed or missing column fails the job instead of silently reaching a summary table.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pyarrow as pa

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["NULLABLE", "empty", "nullable"]

# Field metadata of a float column that may hold NaN (a value that is not measured or not defined,
# e.g. a standard error over one seed). Every other float column must be finite on write
# (core.io.write_parquet checks it).
NULLABLE = {b"nullable": b"NaN allowed"}


def nullable(name: str) -> pa.Field:
    """A float64 column that may hold NaN (documented per column)."""
    return pa.field(name, pa.float64(), metadata=NULLABLE)


def empty(schema: pa.Schema) -> pd.DataFrame:
    """A frame with no rows and exactly ``schema``'s columns (a table nothing filled)."""
    import pandas as pd

    return pd.DataFrame({f.name: pd.Series(dtype=f.type.to_pandas_dtype()) for f in schema})
