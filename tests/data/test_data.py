"""Data protocols (docs/methods.md section 1) and fail-fast behaviour when the hub is offline."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time

import datasets
import pytest
import torch

from absorbprune.data.sources import DataUnavailable, load_split
from absorbprune.data.tokens import calibration_tokens, ppl_tokens


def wanda_get_c4(docs, tokenizer, nsamples, seed, seqlen):
    """Wanda's lib/data.py::get_c4 calibration loop, as the reference writes it (global random)."""
    random.seed(seed)
    trainloader = []
    for _ in range(nsamples):
        while True:
            i = random.randint(0, len(docs) - 1)
            trainenc = tokenizer(docs[i]["text"], return_tensors="pt")
            if trainenc.input_ids.shape[1] > seqlen:
                break
        i = random.randint(0, trainenc.input_ids.shape[1] - seqlen - 1)
        trainloader.append(trainenc.input_ids[:, i : i + seqlen])
    return torch.cat(trainloader)


def wanda_get_wikitext2(docs, tokenizer, nsamples, seed, seqlen):
    random.seed(seed)
    trainenc = tokenizer(" ".join(docs["text"]), return_tensors="pt")
    out = []
    for _ in range(nsamples):
        i = random.randint(0, trainenc.input_ids.shape[1] - seqlen - 1)
        out.append(trainenc.input_ids[:, i : i + seqlen])
    return torch.cat(out)


@pytest.fixture()
def docs(texts):
    return datasets.Dataset.from_dict({"text": texts})


@pytest.mark.parametrize("seed", [0, 7])
def test_document_protocol_equals_wanda_get_c4(docs, tokenizer, seed):
    ours = calibration_tokens("c4", docs, tokenizer, n_samples=6, seqlen=16, seed=seed)
    assert ours.dtype == torch.int64 and ours.shape == (6, 16)
    assert torch.equal(ours, wanda_get_c4(docs, tokenizer, 6, seed, 16))


def test_wikitext_protocol_equals_wanda_get_wikitext2(docs, tokenizer):
    ours = calibration_tokens("wikitext2", docs, tokenizer, n_samples=5, seqlen=16, seed=0)
    assert torch.equal(ours, wanda_get_wikitext2(docs, tokenizer, 5, 0, 16))


def test_too_short_documents_fail_with_advice(docs, tokenizer):
    with pytest.raises(DataUnavailable, match=r"lower calibration\.seqlen"):
        calibration_tokens("local", docs, tokenizer, n_samples=2, seqlen=100000, seed=0)


def test_ppl_tokens_join_with_blank_lines(docs, tokenizer, texts):
    ids = ppl_tokens(docs, tokenizer)
    assert ids.shape[0] == 1 and ids.dtype == torch.int64
    assert tokenizer.decode(ids[0]) == "\n\n".join(texts)


def test_local_split_reads_corpus_parquet(tmp_path):
    import pandas as pd

    pd.DataFrame({"path": ["a.py"], "sha256": ["0"], "n_bytes": [3], "text": ["abc"]}).to_parquet(
        tmp_path / "test.parquet"
    )
    assert load_split("local", "test", {}, tmp_path)["text"] == ["abc"]
    with pytest.raises(DataUnavailable, match="corpus"):
        load_split("local", "valid", {}, tmp_path)


def test_wikileads_calibration_is_random_windows_of_the_leads_joined_with_blank_lines(docs, tokenizer):
    ours = calibration_tokens("wikileads", docs, tokenizer, n_samples=5, seqlen=16, seed=0)
    random.seed(0)
    ids = tokenizer("\n\n".join(docs["text"]))["input_ids"]
    starts = [random.randint(0, len(ids) - 16 - 1) for _ in range(5)]
    assert torch.equal(ours, torch.tensor([ids[i : i + 16] for i in starts]))


def test_the_wikipedia_sources_read_their_parquet_and_refuse_a_split_they_lack(tmp_path):
    import pandas as pd

    pd.DataFrame({"title": ["A"], "sha256": ["0"], "n_chars": [3], "text": ["abc"]}).to_parquet(
        tmp_path / "valid.parquet"
    )
    assert load_split("wiki2016", "validation", {}, tmp_path)["text"] == ["abc"]
    with pytest.raises(DataUnavailable, match="rule 'wikipedia'"):
        load_split("wiki2016", "test", {}, tmp_path)
    with pytest.raises(ValueError, match=r"'wiki2016' has no 'train' split"):
        load_split("wiki2016", "train", {}, tmp_path)
    with pytest.raises(ValueError, match=r"'wikileads' has no 'test' split"):
        load_split("wikileads", "test", {}, tmp_path)


OFFLINE_PROBE = r"""
import json, sys, time
t = time.time()
kind = sys.argv[1]
try:
    if kind == "model":
        from absorbprune.models.loading import load_model
        spec = {"source": "hub", "id": "meta-llama/Llama-2-7b-hf", "revision": "main", "family": "llama",
                "dtype": "float16", "device": "cpu", "trust_remote_code": False}
        load_model("llama2-7b", spec)
    else:
        from absorbprune.data.sources import load_split
        cfg = {"c4": {"path": "allenai/c4", "data_file": "en/c4-train.00000-of-01024.json.gz",
                      "local_path": None},
               "wikitext2": {"path": "Salesforce/wikitext", "name": "wikitext-2-raw-v1", "local_path": None}}
        load_split(kind, "train", cfg, "")
    print(json.dumps({"error": None}))
except Exception as err:
    print(json.dumps({"error": type(err).__name__, "message": str(err), "seconds": time.time() - t}))
"""


@pytest.mark.parametrize("kind", ["c4", "wikitext2", "model"])
def test_offline_resources_fail_fast_with_instructions(kind, tmp_path):
    env = {
        **os.environ,
        "HF_HOME": str(tmp_path / "hf"),
        "HF_HUB_OFFLINE": "1",
        "HF_DATASETS_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    t = time.time()
    out = subprocess.run(
        [sys.executable, "-c", OFFLINE_PROBE, kind], env=env, capture_output=True, text=True, timeout=300
    )
    elapsed = time.time() - t
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["error"] in ("DataUnavailable", "ModelUnavailable"), out.stderr[-2000:]
    assert "prefetch" in result["message"]
    if kind == "model":
        assert "llama2-7b" in result["message"] and "HF_HOME" in result["message"]
    else:
        assert repr(kind) in result["message"] and f"datasets.{kind}.local_path" in result["message"]
    # fail-fast: well under the minutes a hanging network takes, with room for a machine that runs
    # 2-3x slower under load (the imports alone take several seconds on a quiet one)
    assert result["seconds"] < 60 and elapsed < 180


def test_c4_validation_follows_wanda_and_reads_a_local_shard(tmp_path, tokenizer, texts):
    """Wanda's C4 validation text: the first 1100 documents joined with a space, cut to
    256 x seqlen tokens; every other split joins with blank lines."""
    import gzip

    from absorbprune.data.tokens import C4_VALID_DOCS, split_tokens

    many = [texts[i % len(texts)] + f" doc{i}" for i in range(C4_VALID_DOCS + 50)]
    shard = tmp_path / "c4-validation.json.gz"
    with gzip.open(shard, "wt") as f:
        for text in many:
            f.write(json.dumps({"text": text, "url": "x", "timestamp": "t"}) + "\n")
    cfg = {
        "c4": {
            "path": "allenai/c4",
            "data_file": "x",
            "local_path": None,
            "valid_file": "y",
            "valid_local_path": str(shard),
        }
    }
    valid = load_split("c4", "validation", cfg, "")
    assert len(valid) == C4_VALID_DOCS + 50
    ids = split_tokens("c4", "validation", valid, tokenizer, 4)
    expected = tokenizer(" ".join(many[:C4_VALID_DOCS]))["input_ids"][: 256 * 4]
    assert ids.shape == (1, 256 * 4) and ids[0].tolist() == expected
    long = split_tokens("c4", "validation", valid, tokenizer, 100_000)  # fewer tokens than the cap
    assert long.shape[1] == len(tokenizer(" ".join(many[:C4_VALID_DOCS]))["input_ids"])
    with pytest.raises(ValueError, match="validation"):
        load_split("c4", "test", cfg, "")
