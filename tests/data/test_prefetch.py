"""Prefetch fetches what the offline jobs read, pins it and names gated models (hub mocked)."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from types import SimpleNamespace

import huggingface_hub
import pytest
from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError
from huggingface_hub.utils import filter_repo_objects

from absorbprune.data import prefetch as prefetch_module
from absorbprune.data.prefetch import LOGIN, PrefetchError, prefetch
from absorbprune.data.splits import USE_SPLIT, splits_read

ROOT = Path(__file__).resolve().parents[2]

SHA = {
    "meta-llama/Meta-Llama-3-8B": "8cde5ca8380496c9a6cc7ef3a8b46a0372a1d920",
    "Qwen/Qwen2.5-0.5B": "060db6499f32faf8b98477b0a26969ef7d8b9987",
    "facebook/opt-6.7b": "a45aa65bbeb77c1558bc99bedc6779195462dab0",
}
# Meta-Llama-3-8B's layout: sharded safetensors, Meta's original/ checkpoint (a second copy).
LLAMA3 = [
    ".gitattributes",
    "LICENSE",
    "README.md",
    "USE_POLICY.md",
    "config.json",
    "generation_config.json",
    "model-00001-of-00004.safetensors",
    "model-00002-of-00004.safetensors",
    "model-00003-of-00004.safetensors",
    "model-00004-of-00004.safetensors",
    "model.safetensors.index.json",
    "original/consolidated.00.pth",
    "original/params.json",
    "original/tokenizer.model",
    "special_tokens_map.json",
    "tokenizer.json",
    "tokenizer_config.json",
]
QWEN = [
    "config.json",
    "generation_config.json",
    "merges.txt",
    "model.safetensors",
    "pytorch_model.bin",
    "tokenizer.json",
    "tokenizer_config.json",
    "vocab.json",
]
OPT = [
    "config.json",
    "generation_config.json",
    "merges.txt",
    "pytorch_model-00001-of-00002.bin",
    "pytorch_model-00002-of-00002.bin",
    "pytorch_model.bin.index.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "vocab.json",
]


def hub_spec(repo_id: str, revision: str = "main", **extra) -> dict:
    return {"source": "hub", "id": repo_id, "revision": revision, "trust_remote_code": False, **extra}


def http_error(cls, message: str):
    """The hub's error as huggingface_hub raises it (the response: what its __init__ reads)."""
    return cls(message, response=SimpleNamespace(headers={}, request=None, status_code=403))


def gated_error(repo_id: str) -> GatedRepoError:
    return http_error(GatedRepoError, f"{repo_id} is gated")


class FakeHub:
    """HfApi, snapshot_download and hf_hub_download over an in-memory hub; every call is recorded."""

    def __init__(
        self, tmp_path: Path, repos: dict[str, list[str]], gated=(), no_access=(), gated_unknown=False
    ):
        self.tmp, self.repos, self.gated, self.no_access = tmp_path, repos, set(gated), set(no_access)
        self.gated_unknown = gated_unknown
        self.calls: list[tuple] = []

    def install(self, monkeypatch) -> FakeHub:
        hub = self

        class Api:
            def model_info(self, repo_id, revision=None):
                hub.calls.append(("model_info", repo_id, revision))
                if repo_id not in hub.repos:
                    raise http_error(RepositoryNotFoundError, f"404: {repo_id}")
                gated = None if hub.gated_unknown else ("manual" if repo_id in hub.gated else False)
                siblings = [SimpleNamespace(rfilename=f) for f in hub.repos[repo_id]]
                return SimpleNamespace(sha=SHA[repo_id], gated=gated, siblings=siblings)

            def auth_check(self, repo_id):
                hub.calls.append(("auth_check", repo_id))
                if repo_id in hub.no_access:
                    raise gated_error(repo_id)

        def snapshot_download(repo_id, *, revision, allow_patterns, ignore_patterns):
            hub.calls.append(("snapshot_download", repo_id, revision))
            if repo_id in hub.no_access:
                raise gated_error(repo_id)
            files = filter_repo_objects(
                hub.repos[repo_id], allow_patterns=allow_patterns, ignore_patterns=ignore_patterns
            )
            hub.fetched = getattr(hub, "fetched", {}) | {repo_id: sorted(files)}
            snapshot = hub.tmp / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots" / SHA[repo_id]
            snapshot.mkdir(parents=True, exist_ok=True)
            return str(snapshot)

        def hf_hub_download(repo_id, filename, *, revision):
            hub.calls.append(("hf_hub_download", repo_id, filename, revision))
            shards = [f for f in hub.repos[repo_id] if f.startswith("model-") and f.endswith(".safetensors")]
            index = hub.tmp / f"{repo_id.replace('/', '--')}-{filename}"
            weight_map = {f"model.layers.{i}.weight": shard for i, shard in enumerate(shards)}
            index.write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))
            return str(index)

        monkeypatch.setattr(huggingface_hub, "HfApi", Api)
        monkeypatch.setattr(huggingface_hub, "snapshot_download", snapshot_download)
        monkeypatch.setattr(huggingface_hub, "hf_hub_download", hf_hub_download)
        return self

    def downloads(self) -> list[tuple]:
        return [c for c in self.calls if c[0] in ("snapshot_download", "hf_hub_download")]


@pytest.fixture()
def no_data(monkeypatch):
    """load_split recorded instead of run (the data sets are not on this machine)."""
    read: list[tuple[str, str]] = []

    def fake_load_split(source, split, datasets_cfg, corpus_dir):
        read.append((source, split))
        return ["row"] * 3

    monkeypatch.setattr(prefetch_module, "load_split", fake_load_split)
    return read


# ---- data set splits ----------------------------------------------------------------------------
def test_splits_read_follow_the_configured_sources():
    # the paper preset: C4 calibration, WikiText-2 test and validation
    assert splits_read("c4", "wikitext2", "wikitext2") == {
        "c4": ["train"],
        "wikitext2": ["validation", "test"],
    }
    # the README's 7B example: selection on Wanda's C4 validation shard
    assert splits_read("c4", "wikitext2", "c4") == {"c4": ["train", "validation"], "wikitext2": ["test"]}
    assert splits_read("wikitext2", "wikitext2", "wikitext2") == {
        "wikitext2": ["train", "validation", "test"]
    }
    assert splits_read("local", "local", "local") == {"local": ["train", "validation", "test"]}


def test_rules_read_the_splits_prefetch_fetches():
    """rules/data.smk takes the perplexity and validation splits from USE_SPLIT, and rule
    calibration_tokens reads USE_SPLIT's calibration split."""
    data_smk = (ROOT / "rules" / "data.smk").read_text()
    assert 'split=USE_SPLIT["perplexity"]' in data_smk and 'split=USE_SPLIT["validation"]' in data_smk
    assert not re.search(r'split="(test|validation|train)"', data_smk)
    script = (ROOT / "rules" / "scripts" / "calibration_tokens.py").read_text()
    assert f'load_split(source, "{USE_SPLIT["calibration"]}"' in script
    assert "splits=splits_read(" in data_smk


def test_prefetch_reads_every_configured_split_including_c4_validation(no_data):
    manifest = prefetch({}, splits_read("c4", "wikitext2", "c4"), {}, allow_network=True)
    assert no_data == [("c4", "train"), ("c4", "validation"), ("wikitext2", "test")]
    assert manifest["datasets"] == [
        {"source": "c4", "split": "train", "rows": 3},
        {"source": "c4", "split": "validation", "rows": 3},
        {"source": "wikitext2", "split": "test", "rows": 3},
    ]


def test_prefetch_skips_the_built_in_corpus(no_data):
    prefetch({}, splits_read("local", "local", "local"), {}, allow_network=True)
    assert no_data == []


def test_prefetch_refuses_to_run_offline():
    with pytest.raises(RuntimeError, match="allow_network=true"):
        prefetch({}, {}, {}, allow_network=False)


# ---- models -------------------------------------------------------------------------------------
def test_only_the_files_from_pretrained_reads_are_fetched(tmp_path, monkeypatch, no_data):
    hub = FakeHub(tmp_path, {"meta-llama/Meta-Llama-3-8B": LLAMA3, "Qwen/Qwen2.5-0.5B": QWEN}).install(
        monkeypatch
    )
    models = {
        "llama3-8b": hub_spec("meta-llama/Meta-Llama-3-8B"),
        "qwen": hub_spec("Qwen/Qwen2.5-0.5B"),
        "tiny": {"source": "builtin"},
    }
    manifest = prefetch(models, {}, {}, allow_network=True)
    assert hub.fetched["meta-llama/Meta-Llama-3-8B"] == [
        "config.json",
        "generation_config.json",
        "model-00001-of-00004.safetensors",
        "model-00002-of-00004.safetensors",
        "model-00003-of-00004.safetensors",
        "model-00004-of-00004.safetensors",
        "model.safetensors.index.json",
        "special_tokens_map.json",
        "tokenizer.json",
        "tokenizer_config.json",
    ]
    assert hub.fetched["Qwen/Qwen2.5-0.5B"] == [
        "config.json",
        "generation_config.json",
        "merges.txt",
        "model.safetensors",
        "tokenizer.json",
        "tokenizer_config.json",
        "vocab.json",
    ]
    for files in hub.fetched.values():
        assert not [f for f in files if f.endswith((".bin", ".pth")) or f.startswith("original/")]
    assert manifest["models"]["llama3-8b"]["files"] == hub.fetched["meta-llama/Meta-Llama-3-8B"]
    assert set(manifest["models"]) == {"llama3-8b", "qwen"}  # built-in models need nothing


def test_model_without_safetensors_fails_before_any_download_naming_it(tmp_path, monkeypatch, no_data):
    hub = FakeHub(tmp_path, {"facebook/opt-6.7b": OPT, "Qwen/Qwen2.5-0.5B": QWEN}).install(monkeypatch)
    models = {"qwen": hub_spec("Qwen/Qwen2.5-0.5B"), "opt-6.7b": hub_spec("facebook/opt-6.7b")}
    with pytest.raises(PrefetchError) as err:
        prefetch(models, {"c4": ["train"]}, {}, allow_network=True)
    message = str(err.value)
    assert (
        "'opt-6.7b'" in message and "facebook/opt-6.7b" in message and "models.opt-6.7b.revision" in message
    )
    assert "safetensors" in message and "pytorch_model-00001-of-00002.bin" in message
    assert "source: local" in message
    assert hub.downloads() == [] and no_data == []  # nothing fetched, not even the other model


def test_manifest_records_configured_revision_and_resolved_commit_and_prints_the_pin(
    tmp_path, monkeypatch, no_data, caplog
):
    hub = FakeHub(tmp_path, {"Qwen/Qwen2.5-0.5B": QWEN, "meta-llama/Meta-Llama-3-8B": LLAMA3}).install(
        monkeypatch
    )
    llama_sha = SHA["meta-llama/Meta-Llama-3-8B"]
    models = {
        "qwen": hub_spec("Qwen/Qwen2.5-0.5B"),
        "llama3-8b": hub_spec("meta-llama/Meta-Llama-3-8B", revision=llama_sha),
    }
    with caplog.at_level(logging.INFO):
        manifest = prefetch(models, {}, {}, allow_network=True)
    qwen = manifest["models"]["qwen"]
    assert qwen["revision"] == "main" and qwen["commit"] == SHA["Qwen/Qwen2.5-0.5B"]
    assert qwen["pin"] == f"models.qwen.revision: {SHA['Qwen/Qwen2.5-0.5B']}"
    assert (
        manifest["models"]["llama3-8b"]["revision"] == manifest["models"]["llama3-8b"]["commit"] == llama_sha
    )
    # downloaded at the configured revision, so the cache maps main to the commit for offline jobs
    assert ("snapshot_download", "Qwen/Qwen2.5-0.5B", "main") in hub.calls
    printed = "\n".join(r.getMessage() for r in caplog.records if r.name == "absorbprune.progress")
    assert f"  models.qwen.revision: {SHA['Qwen/Qwen2.5-0.5B']}\n" in printed + "\n"
    assert f"models.llama3-8b.revision: {llama_sha}  (already pinned)" in printed


def test_gated_models_are_named_before_any_download(tmp_path, monkeypatch, no_data, caplog):
    hub = FakeHub(
        tmp_path,
        {"meta-llama/Meta-Llama-3-8B": LLAMA3, "Qwen/Qwen2.5-0.5B": QWEN},
        gated={"meta-llama/Meta-Llama-3-8B"},
    ).install(monkeypatch)
    order = []
    monkeypatch.setattr(
        prefetch_module.PROGRESS, "info", lambda msg, *args: order.append(("progress", msg % args))
    )
    real = huggingface_hub.snapshot_download
    monkeypatch.setattr(
        huggingface_hub,
        "snapshot_download",
        lambda repo_id, **kw: order.append(("download", repo_id)) or real(repo_id, **kw),
    )
    models = {"qwen": hub_spec("Qwen/Qwen2.5-0.5B"), "llama3-8b": hub_spec("meta-llama/Meta-Llama-3-8B")}
    manifest = prefetch(models, {}, {}, allow_network=True)
    kind, notice = order[0]
    assert kind == "progress" and "llama3-8b (meta-llama/Meta-Llama-3-8B)" in notice and LOGIN in notice
    assert "qwen" not in notice
    assert [o for o in order if o[0] == "download"] == [
        ("download", "Qwen/Qwen2.5-0.5B"),
        ("download", "meta-llama/Meta-Llama-3-8B"),
    ]
    assert ("auth_check", "meta-llama/Meta-Llama-3-8B") in hub.calls
    assert manifest["models"]["llama3-8b"]["gated"] and not manifest["models"]["qwen"]["gated"]


def test_gated_model_without_access_fails_before_any_download(tmp_path, monkeypatch, no_data):
    hub = FakeHub(
        tmp_path,
        {"meta-llama/Meta-Llama-3-8B": LLAMA3, "Qwen/Qwen2.5-0.5B": QWEN},
        gated={"meta-llama/Meta-Llama-3-8B"},
        no_access={"meta-llama/Meta-Llama-3-8B"},
    ).install(monkeypatch)
    models = {"qwen": hub_spec("Qwen/Qwen2.5-0.5B"), "llama3-8b": hub_spec("meta-llama/Meta-Llama-3-8B")}
    with pytest.raises(PrefetchError) as err:
        prefetch(models, {"c4": ["train"]}, {}, allow_network=True)
    message = str(err.value)
    assert "llama3-8b (meta-llama/Meta-Llama-3-8B)" in message
    assert "https://huggingface.co/meta-llama/Meta-Llama-3-8B" in message and f"`{LOGIN}`" in message
    assert hub.downloads() == [] and no_data == []


def test_known_gated_list_is_only_a_fallback(tmp_path, monkeypatch, no_data, caplog):
    """When the hub does not say (gated None), the presets' gated models are named from the list."""
    hub = FakeHub(
        tmp_path, {"meta-llama/Meta-Llama-3-8B": LLAMA3, "Qwen/Qwen2.5-0.5B": QWEN}, gated_unknown=True
    ).install(monkeypatch)
    models = {"qwen": hub_spec("Qwen/Qwen2.5-0.5B"), "llama3-8b": hub_spec("meta-llama/Meta-Llama-3-8B")}
    with caplog.at_level(logging.INFO):
        manifest = prefetch(models, {}, {}, allow_network=True)
    assert manifest["models"]["llama3-8b"]["gated"] and not manifest["models"]["qwen"]["gated"]
    assert [c for c in hub.calls if c[0] == "auth_check"] == [("auth_check", "meta-llama/Meta-Llama-3-8B")]


def test_unknown_repo_fails_naming_the_model_key(tmp_path, monkeypatch, no_data):
    FakeHub(tmp_path, {}).install(monkeypatch)
    with pytest.raises(PrefetchError, match=r"'llama2-7b'.*meta-llama/Llama-2-7b-hf.*models\.llama2-7b\.id"):
        prefetch({"llama2-7b": hub_spec("meta-llama/Llama-2-7b-hf")}, {}, {}, allow_network=True)


def test_trust_remote_code_fetches_the_top_level_code(tmp_path, monkeypatch, no_data):
    repo = [*QWEN, "modeling_custom.py", "configuration_custom.py", "scripts/convert.py"]
    hub = FakeHub(tmp_path, {"Qwen/Qwen2.5-0.5B": repo}).install(monkeypatch)
    prefetch({"q": hub_spec("Qwen/Qwen2.5-0.5B", trust_remote_code=True)}, {}, {}, allow_network=True)
    assert {"modeling_custom.py", "configuration_custom.py"} <= set(hub.fetched["Qwen/Qwen2.5-0.5B"])
    assert "scripts/convert.py" not in hub.fetched["Qwen/Qwen2.5-0.5B"]


# ---- docs ---------------------------------------------------------------------------------------
def test_docs_name_the_current_login_command():
    docs = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    assert not [p.name for p in docs if "huggingface-cli" in p.read_text()]
    assert LOGIN in (ROOT / "docs" / "configuration.md").read_text()
    assert LOGIN in (ROOT / "docs" / "cluster.md").read_text()
