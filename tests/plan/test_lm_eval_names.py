"""The parse-time task-name check reads lm-eval's task files; it must never reject a real task."""

from __future__ import annotations

import pytest

from absorbprune.plan.lm_eval_names import close_matches, known_task_names, tasks_dir


def test_file_scan_is_a_superset_of_lm_evals_own_index():
    pytest.importorskip("lm_eval")
    from lm_eval.tasks import TaskManager

    scanned = known_task_names()
    indexed = set(TaskManager().all_tasks)  # parses every task file with its includes (~15 s)
    assert len(indexed) > 1000
    assert indexed <= scanned, sorted(indexed - scanned)[:20]


def test_scan_reads_block_flow_and_nested_task_lists(tmp_path):
    (tmp_path / "a.yaml").write_text(
        '"task": "quoted_task"\ntag:\n  - tag_one\n  - tag_two  # comment\n'
        "group: grp\ntask:\n  - task: nested_task\n    dataset_name: x\n"
    )
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "_template_yaml").write_text("tag: [flow_a, 'flow_b']\n")
    (tmp_path / "notes.md").write_text("task: not_a_task\n")
    names = known_task_names(tmp_path)
    assert {"quoted_task", "tag_one", "tag_two", "grp", "nested_task", "flow_a", "flow_b"} <= names
    assert "not_a_task" not in names


def test_close_matches_and_missing_lm_eval(tmp_path):
    assert close_matches("Hellaswg", frozenset({"hellaswag", "boolq"})) == ["hellaswag"]
    assert known_task_names(tmp_path / "absent") == frozenset()
    assert tasks_dir() is None or tasks_dir().name == "tasks"
