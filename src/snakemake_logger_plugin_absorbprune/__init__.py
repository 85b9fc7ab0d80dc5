"""A quiet Snakemake log: one line per finished job naming its rule, cell and duration.

Selected by ``logger: [absorbprune]`` in ``profiles/default/config.yaml`` (``--logger absorbprune``).
Errors, warnings and the job-count table print in full, as Snakemake's own handler formats them;
a dry run prints everything unchanged. The full detail stays where it always is: each job's log
under ``results/logs/`` and Snakemake's own log under ``.snakemake/log/``.

Snakemake finds logger plugins by their module name (``snakemake_logger_plugin_<name>``) on
``sys.path``; the editable install of this package puts ``src/`` there.
"""

# No `from __future__ import annotations`: Snakemake builds the settings' CLI options from the
# fields' types, which must be classes, not strings.
import logging
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent
from snakemake_interface_logger_plugins.settings import LogHandlerSettingsBase

__all__ = ["LogHandler", "LogHandlerSettings", "format_cell", "format_line"]


@dataclass
class LogHandlerSettings(LogHandlerSettingsBase):
    """``--logger-absorbprune-full``: Snakemake's own full output instead of one line per job."""

    full: bool = field(
        default=False,
        metadata={"help": "print Snakemake's full output (every job's block) instead of one line per job"},
    )


# Snakemake's scheduling chatter: one of these per job would double the log again.
_CHATTER = (
    "Select jobs to execute",
    "Execute ",
    "Building DAG of jobs",
    "Using shell:",
    "Provided cores:",
    "Rules claiming more threads",
    "Assuming unrestricted shared filesystem",
    "Using workflow specific profile",
    "Config file ",
    "Job stats:",  # RUN_INFO carries the table itself
    "host:",
    "Loading script code for rule",  # --report, once per rule
)
_WIDTH = 100  # the line fits a 100-column terminal


def format_cell(wildcards: Any) -> str:
    """A job's wildcards as one short cell name: the values in order, ``/``-separated."""
    if wildcards is None:
        return ""
    items = wildcards.items() if hasattr(wildcards, "items") else []
    return "/".join(str(v) for _, v in items)


def format_line(done: int, total: int, rule: str, cell: str, seconds: float) -> str:
    """``[ 12/119] prune_evaluate     smollm2/wanda/owl/0.7/0   53.0 s``, at most 100 columns."""
    width = len(str(total))
    head = f"[{done:>{width}}/{total}] {rule:<18} "
    took = f"{seconds:6.1f} s" if seconds < 100 else f"{seconds / 60:6.1f} min"
    room = _WIDTH - len(head) - len(took) - 2
    if len(cell) > room:
        cell = cell[: max(room - 3, 0)] + "..."
    return f"{head}{cell:<{min(room, 44)}}  {took}"


class LogHandler(LogHandlerBase):
    """Snakemake log handler (see the module docstring)."""

    def __post_init__(self) -> None:
        from snakemake.logging import DefaultFilter, DefaultFormatter

        s = self.common_settings
        quiet = getattr(s, "quiet", None)
        self._full = DefaultFormatter(quiet, bool(getattr(s, "show_failed_logs", False)))
        self._filter = DefaultFilter(
            quiet,
            bool(getattr(s, "debug_dag", False)),
            bool(getattr(s, "verbose", False)),
            bool(getattr(s, "dryrun", False)),
            bool(getattr(s, "printshellcmds", False)),
        )
        full = bool(getattr(self.settings, "full", False))
        self._verbatim = full or bool(getattr(s, "dryrun", False) or getattr(s, "verbose", False))
        self._jobs: dict[int, tuple[str, str, float]] = {}
        self._finished: list[tuple[str, str, float]] = []
        self.stream = sys.stderr

    def _write(self, text: str) -> None:
        self.stream.write(text.rstrip("\n") + "\n")
        self.stream.flush()

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if not self._filter.filter(record):
                return
            self._emit(record)
        except Exception:  # a log line must never stop the workflow
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if (
            self._verbatim
            or record.levelno >= logging.WARNING
            or event
            in (
                LogEvent.JOB_ERROR,
                LogEvent.GROUP_ERROR,
                LogEvent.ERROR,
                LogEvent.RUN_INFO,
            )
        ):
            self._write(self._full.format(record))
        elif event == LogEvent.JOB_INFO:
            self._jobs[record.jobid] = (record.rule_name, format_cell(record.wildcards), time.monotonic())
        elif event == LogEvent.JOB_FINISHED:
            rule, cell, t0 = self._jobs.pop(record.job_id, ("?", "", time.monotonic()))
            self._finished.append((rule, cell, time.monotonic() - t0))
        elif event == LogEvent.PROGRESS:
            for rule, cell, took in self._finished:
                self._write(format_line(record.done, record.total, rule, cell, took))
            self._finished.clear()
        elif event is None:
            message = record.getMessage() if record.msg is not None else ""
            if message.strip() and not message.lstrip().startswith(_CHATTER):
                self._write(message)

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
