"""Zero-shot through lm-eval on an in-memory model: a built-in task scored as a naive
log-likelihood argmax would score it, results tidied, an unloadable task refused up front."""

from __future__ import annotations

import math

import pandas as pd
import pytest
import torch

from absorbprune.data.codeline import build_codeline
from absorbprune.evaluation.zeroshot import builtin_task_config, run_zeroshot, tidy_results
from absorbprune.models.tiny import ArchSpec, random_model

KW = dict(n_docs=12, n_choices=3, context_chars=60, min_line_chars=6, max_line_chars=40, seed=0)


@pytest.fixture(scope="module")
def files(texts) -> dict[str, pd.DataFrame]:
    return {"corpus_test": pd.DataFrame({"path": [f"f{i}.py" for i in range(len(texts))], "text": texts})}


def test_builtin_task_config_reads_the_given_file(tmp_path):
    config = builtin_task_config("codeline", tmp_path / "docs.parquet")
    assert config["task"] == "codeline" and config["output_type"] == "multiple_choice"
    assert config["dataset_kwargs"]["data_files"]["test"] == str((tmp_path / "docs.parquet").resolve())
    assert config["metric_list"][0]["metric"] == "acc"


def _naive_correct(model, tokenizer, docs: pd.DataFrame) -> list[int]:
    """Pick the choice with the highest summed log-probability given the context (lm-eval's acc),
    encoding context and continuation as lm-eval's HFLM does (whole string, context prefix split);
    1 per correctly answered document, in document order."""
    correct = []
    for _, doc in docs.iterrows():
        scores = []
        ctx = tokenizer(doc["context"], add_special_tokens=False)["input_ids"]
        for choice in doc["choices"]:
            whole = tokenizer(doc["context"] + choice, add_special_tokens=False)["input_ids"]
            cont = whole[len(ctx) :]
            ids = torch.tensor([ctx + cont])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0].double(), -1)
            scores.append(sum(float(logp[len(ctx) - 1 + i, t]) for i, t in enumerate(cont)))
        correct.append(int(max(range(len(scores)), key=scores.__getitem__) == doc["label"]))
    return correct


def test_lm_eval_accuracy_equals_a_naive_loglikelihood_argmax(files, tokenizer, tmp_path):
    docs = build_codeline(files, **KW)
    path = tmp_path / "codeline.parquet"
    docs.to_parquet(path)
    spec = ArchSpec("llama", len(tokenizer), 16, 32, 2, 2, 1, 128)
    model = random_model(spec, seed=3).eval()
    results = run_zeroshot(
        model, tokenizer, ["codeline"], {"codeline": path}, batch_size=5, limit=None, seed=0
    )
    cell = {"model": "m", "pruner": "dense"}
    table = tidy_results(results, ["codeline"], "acc", cell)
    naive = _naive_correct(model, tokenizer, docs)
    assert table["value"].iloc[0] == pytest.approx(sum(naive) / len(naive), abs=1e-12)
    assert table["doc_scores"].iloc[0] == [float(c) for c in naive]  # per document, in document order
    assert table["n_docs"].iloc[0] == 12 and table["stderr"].iloc[0] > 0
    assert table[["model", "pruner", "task", "metric"]].iloc[0].tolist() == ["m", "dense", "codeline", "acc"]


def _samples(task: str, scores: list[float], order: list[int]) -> dict:
    return {task: [{"doc_id": i, "filter": "none", "acc": scores[i]} for i in order]}


def test_tidy_results_names_a_missing_metric():
    samples = _samples("boolq", [1.0, 0.0], [1, 0])  # logged out of order: sorted by doc_id
    results = {"results": {"boolq": {"acc,none": 0.5, "acc_stderr,none": 0.01}}, "samples": samples}
    table = tidy_results(results, ["boolq"], "acc", {"model": "m"})
    assert table["value"].iloc[0] == 0.5 and table["stderr"].iloc[0] == 0.01
    assert table["doc_scores"].iloc[0] == [1.0, 0.0]
    with pytest.raises(KeyError, match=r"acc_norm.*boolq"):
        tidy_results(results, ["boolq"], "acc_norm", {"model": "m"})
    no_stderr = {"results": {"rte": {"acc,none": 0.6, "acc_stderr,none": "N/A"}}}
    no_stderr["samples"] = _samples("rte", [1.0, 1.0, 0.0], [0, 1, 2])
    assert math.isnan(tidy_results(no_stderr, ["rte"], "acc", {})["stderr"].iloc[0])
    with pytest.raises(KeyError, match=r"per document.*rte"):  # no logged samples: nothing to resample
        tidy_results({"results": no_stderr["results"]}, ["rte"], "acc", {})


def test_a_task_that_cannot_load_fails_before_evaluation_naming_the_remedy():
    from absorbprune.core.network import set_network
    from absorbprune.evaluation.zeroshot import TaskUnavailable

    set_network(False)  # offline, as every job is unless allow_network is set
    with pytest.raises(TaskUnavailable, match=r"no_such_task.*prefetch.*evaluation\.zeroshot\.tasks"):
        run_zeroshot(None, None, ["no_such_task"], {}, batch_size=1, limit=None, seed=0)


def _naive_greedy(model, tokenizer, docs: pd.DataFrame) -> float:
    """lm-eval's loglikelihood acc: every token of " " + target is the argmax after what precedes it."""
    hits = 0
    for _, doc in docs.iterrows():
        ctx = tokenizer(doc["context"], add_special_tokens=False)["input_ids"]
        whole = tokenizer(doc["context"] + " " + doc["target"], add_special_tokens=False)["input_ids"]
        cont = whole[len(ctx) :]
        with torch.no_grad():
            logits = model(torch.tensor([ctx + cont])).logits[0]
        hits += int(all(int(logits[len(ctx) - 1 + i].argmax()) == t for i, t in enumerate(cont)))
    return hits / len(docs)


def test_the_english_tasks_run_through_lm_eval_as_lm_eval_scores_them(tokenizer, tmp_path):
    """lambada_wiki2016: acc = greedy match of the target (lambada_openai's scoring); analogy: acc =
    the log-likelihood argmax among its choices."""
    from absorbprune.data.analogy import build_analogy
    from absorbprune.data.lambada import build_lambada

    prose = " ".join(f"The mill stood by the river number {i} and the mill ground grain." for i in range(40))
    articles = pd.DataFrame({"title": ["A", "B"], "text": [prose, prose.replace("mill", "barn")]})
    lambada = build_lambada(
        {"wiki2016_test": articles},
        n_docs=6,
        min_context_words=5,
        max_context_words=40,
        min_target_chars=3,
        seed=0,
    )
    words = ["Athens", "Greece", "Baghdad", "Iraq", "Berlin", "Germany", "Cairo", "Egypt", "Oslo", "Norway"]
    questions = pd.DataFrame(
        [
            {"line": i + 2, "category": "capitals", "a": a, "b": b, "c": c, "d": d}
            for i, (a, b, c, d) in enumerate(
                [(words[j], words[j + 1], words[k], words[k + 1]) for j in (0, 2) for k in (4, 6, 8)]
            )
        ]
    )
    analogy = build_analogy({"analogies": questions}, n_docs=6, n_choices=4, seed=0)
    paths = {"lambada_wiki2016": tmp_path / "lambada.parquet", "analogy": tmp_path / "analogy.parquet"}
    lambada.to_parquet(paths["lambada_wiki2016"])
    analogy.to_parquet(paths["analogy"])
    spec = ArchSpec("llama", len(tokenizer), 16, 32, 2, 2, 1, 256)
    model = random_model(spec, seed=3).eval()
    tasks = ["lambada_wiki2016", "analogy"]
    results = run_zeroshot(model, tokenizer, tasks, paths, batch_size=4, limit=None, seed=0)
    table = tidy_results(results, tasks, "acc", {"model": "m"}).set_index("task")
    assert table.at["lambada_wiki2016", "value"] == pytest.approx(_naive_greedy(model, tokenizer, lambada))
    analogy_naive = analogy.assign(choices=analogy["choices"].map(lambda cs: [" " + c for c in cs]))
    naive = _naive_correct(model, tokenizer, analogy_naive)
    assert table.at["analogy", "value"] == pytest.approx(sum(naive) / len(naive))
    assert table.at["analogy", "doc_scores"] == [float(c) for c in naive]
    assert table["n_docs"].tolist() == [6, 6]
