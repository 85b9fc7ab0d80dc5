"""The built-in corpus, tokenizer and tiny-model training: deterministic, split by path hash."""

from __future__ import annotations

import pytest
import torch

from absorbprune.data.corpus import EOS_TOKEN, build_corpus, split_of, train_tokenizer
from absorbprune.evaluation.perplexity import window_ppl
from absorbprune.models.tiny import ArchSpec
from absorbprune.models.training import TrainSpec, lr_at, train_tiny_model


def make_stdlib(root):
    files = {
        "a.py": "import os\n" * 50,
        "pkg/b.py": "def f():\n    return 1\n" * 40,
        "pkg/test/test_b.py": "assert True\n" * 40,
        "tests/t.py": "x = 2\n" * 40,
        "site-packages/dep.py": "y = 3\n" * 40,
        "c.py": "class C:\n    pass\n" * 30,
        "empty.py": "",
        **{f"mods/m{i}.py": f"value_{i} = {i}\n" * 10 for i in range(40)},
    }
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)


def test_split_is_a_stable_function_of_the_path():
    paths = [f"mod{i}.py" for i in range(2000)]
    splits = [split_of(p, 0.1, 0.2) for p in paths]
    assert splits == [split_of(p, 0.1, 0.2) for p in paths]
    assert 0.15 < splits.count("test") / 2000 < 0.25
    assert 0.06 < splits.count("valid") / 2000 < 0.14


def test_build_corpus_excludes_tests_and_site_packages(tmp_path):
    make_stdlib(tmp_path)
    frames, info = build_corpus(
        tmp_path, exclude_tests=True, max_bytes=None, valid_fraction=0.3, test_fraction=0.3
    )
    kept = sorted(p for f in frames.values() for p in f["path"])
    assert kept == sorted(["a.py", "c.py", "pkg/b.py", *(f"mods/m{i}.py" for i in range(40))])
    assert all(len(f) > 0 for f in frames.values())
    _, info2 = build_corpus(
        tmp_path, exclude_tests=True, max_bytes=None, valid_fraction=0.3, test_fraction=0.3
    )
    assert info.corpus_sha256 == info2.corpus_sha256
    _, info3 = build_corpus(tmp_path, False, None, 0.3, 0.3)
    assert info3.corpus_sha256 != info.corpus_sha256


def test_empty_split_is_an_error(tmp_path):
    make_stdlib(tmp_path)
    with pytest.raises(ValueError, match="split is empty"):
        build_corpus(tmp_path, True, None, valid_fraction=0.001, test_fraction=0.001)


def test_tokenizer_is_deterministic_and_round_trips(texts):
    a = train_tokenizer(texts, vocab_size=300, min_frequency=1)
    b = train_tokenizer(texts, vocab_size=300, min_frequency=1)
    assert a.backend_tokenizer.to_str() == b.backend_tokenizer.to_str()
    assert a.convert_tokens_to_ids(EOS_TOKEN) == 0 == a.eos_token_id
    text = "def add(a, b):\n    return a + b\n"
    assert a.decode(a(text)["input_ids"]) == text


def test_lr_schedule_warms_up_then_decays_to_a_tenth():
    spec = TrainSpec(100, 1, 8, 1.0, 10, 0.0, 1.0, 0, 1, 1, 10)
    assert lr_at(0, spec) == pytest.approx(0.1)
    assert lr_at(9, spec) == pytest.approx(1.0)
    assert lr_at(100, spec) == pytest.approx(0.1)
    assert all(lr_at(s, spec) >= lr_at(s + 1, spec) for s in range(10, 100))


def test_window_ppl_matches_naive_per_window_loss():
    from absorbprune.models.tiny import random_model

    model = random_model(ArchSpec("llama", 50, 16, 32, 2, 2, 1, 32), seed=0)
    ids = torch.randint(0, 50, (70,), generator=torch.Generator().manual_seed(0))
    losses = []
    with torch.no_grad():
        for w in range(70 // 16):  # tail of 6 tokens dropped
            window = ids[w * 16 : (w + 1) * 16][None]
            losses.append(float(model(input_ids=window, labels=window).loss))
    expected = torch.tensor(losses, dtype=torch.float64).mean().exp().item()
    assert window_ppl(model, ids, 16) == pytest.approx(expected, rel=1e-5)


def test_training_is_bit_identical_on_rerun_and_learns():
    stream = torch.arange(4000) % 37  # a periodic, learnable stream
    arch = ArchSpec("opt", 40, 16, 32, 2, 2, 2, 32)
    spec = TrainSpec(
        steps=30,
        batch_size=4,
        seqlen=16,
        lr=0.01,
        warmup_steps=3,
        weight_decay=0.1,
        grad_clip=1.0,
        seed=0,
        threads=1,
        eval_windows=4,
        eval_every=10,
    )
    m1, curve1, s1 = train_tiny_model(arch, spec, stream, stream[:200], "m")
    m2, curve2, _ = train_tiny_model(arch, spec, stream, stream[:200], "m")
    for (n1, p1), (n2, p2) in zip(m1.state_dict().items(), m2.state_dict().items(), strict=True):
        assert n1 == n2 and torch.equal(p1, p2), n1
    assert curve1["train_loss"].equals(curve2["train_loss"])
    assert s1["valid_ppl_after"] < s1["valid_ppl_before"] / 2
    assert list(curve1["step"]) == list(range(31))
