"""Prefetch: fill the Hugging Face cache on a machine with internet, so compute jobs run offline.

Run on a cluster's login node (or any machine sharing ``HF_HOME`` with the compute nodes):
``snakemake prefetch --config allow_network=true``. Afterwards every job loads from the cache with
the offline switches on.

What it fetches is what the jobs read, no more:

* every ``source: hub`` model: only the files ``from_pretrained`` and ``AutoTokenizer`` read
  (config, generation config, the safetensors weights and their index, the tokenizer files), never
  pickled weights (``*.bin``, ``*.pth``) nor subfolders such as Meta's ``original/``. A repo
  without safetensors weights at the configured revision is an error naming the model;
* every split the configured data sources are read with (:func:`.splits.splits_read`);
* the data of the named lm-eval tasks (built-in tasks are built here and need nothing).

Before downloading anything it asks the hub for each model's resolved commit, its files and
whether it is gated, names the gated models with what to do, and fails at once when one lacks
safetensors weights or access. The manifest records the configured revision and the resolved
commit of every model, and the job prints the line that pins each one.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core.jobs import PROGRESS
from ..registry.tasks import ZEROSHOT_TASKS
from .sources import load_split
from .splits import BUILT_SOURCES

__all__ = [
    "KNOWN_GATED",
    "LOGIN",
    "NEVER",
    "READ_FILES",
    "PrefetchError",
    "prefetch",
]

log = logging.getLogger(__name__)

LOGIN = "hf auth login"  # huggingface_hub's current CLI (`huggingface-cli login` is deprecated)

# The top-level files from_pretrained (config, generation config) and AutoTokenizer read; the
# weights are added per repo: model.safetensors, or model.safetensors.index.json and its shards.
READ_FILES = (
    "config.json",
    "generation_config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "added_tokens.json",
    "tokenizer.model",  # sentencepiece (Llama-2, Mistral)
    "spiece.model",
    "vocab.json",  # byte-level BPE (OPT, Qwen)
    "merges.txt",
    "vocab.txt",
    "chat_template.jinja",
    "chat_template.json",
)
SAFETENSORS = "model.safetensors"
SAFETENSORS_INDEX = "model.safetensors.index.json"
# Never fetched: subfolders (Meta's original/consolidated.*.pth), pickled or other-framework weights.
NEVER = ("*/*", "*.bin", "*.pth", "*.pt", "*.ckpt", "*.h5", "*.msgpack", "*.gguf", "*.onnx")
# Only a fallback, when the hub does not say (ModelInfo.gated is None): the presets' gated models.
KNOWN_GATED = frozenset(
    {"meta-llama/Llama-2-7b-hf", "meta-llama/Meta-Llama-3-8B", "mistralai/Mistral-7B-v0.1"}
)


class PrefetchError(RuntimeError):
    """A configured model cannot be prefetched (not found, no safetensors, gated without access)."""


@dataclass
class _Model:
    """One hub model as the hub describes it at the configured revision."""

    key: str
    id: str
    revision: str
    commit: str
    gated: bool
    files: list[str]
    trust_remote_code: bool

    @property
    def where(self) -> str:
        return f"models.{self.key}.id: {self.id} at revision {self.revision!r}"


def _access_hint(ids: list[str]) -> str:
    pages = ", ".join(f"https://huggingface.co/{i}" for i in ids)
    return (
        f"accept the licence on the model's page ({pages}) with your Hugging Face account, then log "
        f"in on this machine with `{LOGIN}` (or export HF_TOKEN=hf_...) and run prefetch again"
    )


def _describe(key: str, spec: dict[str, Any], api: Any) -> _Model:
    """Ask the hub for the model's resolved commit, files and gating (downloads nothing)."""
    from huggingface_hub.errors import GatedRepoError, RepositoryNotFoundError, RevisionNotFoundError

    try:
        info = api.model_info(spec["id"], revision=spec["revision"])
    except GatedRepoError as err:
        raise PrefetchError(
            f"model {key!r}: {spec['id']} is gated and this machine's token has no access: "
            + _access_hint([spec["id"]])
        ) from err
    except RevisionNotFoundError as err:
        raise PrefetchError(
            f"model {key!r}: revision {spec['revision']!r} of {spec['id']} does not exist on the hub "
            f"({err}); check models.{key}.revision"
        ) from err
    except RepositoryNotFoundError as err:
        raise PrefetchError(
            f"model {key!r}: {spec['id']} was not found on the hub ({type(err).__name__}); check "
            f"models.{key}.id (a private repo needs `{LOGIN}`)"
        ) from err
    except Exception as err:  # network errors, HTTP errors of any kind
        raise PrefetchError(
            f"model {key!r}: asking the hub about {spec['id']} at revision {spec['revision']!r} "
            f"failed: {type(err).__name__}: {err}"
        ) from err
    files = [s.rfilename for s in info.siblings] if info.siblings is not None else None
    if files is None:
        files = list(api.list_repo_files(spec["id"], revision=info.sha))
    gated = bool(info.gated) if info.gated is not None else spec["id"] in KNOWN_GATED
    return _Model(
        key,
        spec["id"],
        spec["revision"],
        info.sha,
        gated,
        sorted(files),
        bool(spec.get("trust_remote_code", False)),
    )


def _no_safetensors(m: _Model) -> str | None:
    if SAFETENSORS in m.files or SAFETENSORS_INDEX in m.files:
        return None
    pickled = [f for f in m.files if f.endswith((".bin", ".pth", ".pt")) and "/" not in f]
    return (
        f"model {m.key!r} ({m.where}, commit {m.commit}) has no safetensors weights "
        f"({SAFETENSORS} or {SAFETENSORS_INDEX}); its weights are pickled "
        f"({', '.join(pickled[:3]) or 'none at the top level'}), which prefetch never downloads, so "
        f"the offline jobs could not load it. Set models.{m.key}.revision to a commit of "
        f"{m.id} that has safetensors weights (the hub's safetensors conversion pull request, "
        f"refs/pr/<N>, once you have checked its files), or convert the weights yourself and use "
        f"models.{m.key}.source: local with a path"
    )


def _weight_files(m: _Model, hf_hub_download: Any) -> list[str]:
    """The weight files from_pretrained reads: model.safetensors, else the index and its shards."""
    if SAFETENSORS in m.files:
        return [SAFETENSORS]
    index = hf_hub_download(m.id, SAFETENSORS_INDEX, revision=m.revision)
    shards = sorted(set(json.loads(Path(index).read_text())["weight_map"].values()))
    missing = [s for s in shards if s not in m.files]
    if missing:
        raise PrefetchError(
            f"model {m.key!r} ({m.where}): {SAFETENSORS_INDEX} names shards the repo lacks: {missing}"
        )
    return [SAFETENSORS_INDEX, *shards]


def _fetch_model(m: _Model, snapshot_download: Any, hf_hub_download: Any) -> dict[str, Any]:
    from huggingface_hub.errors import GatedRepoError
    from huggingface_hub.utils import filter_repo_objects

    try:
        allow = [*READ_FILES, *(["*.py"] if m.trust_remote_code else []), *_weight_files(m, hf_hub_download)]
        # the configured revision (not the commit), so the cache maps a branch such as main to the
        # commit (refs/main) and from_pretrained(id, revision="main") resolves it offline
        path = snapshot_download(m.id, revision=m.revision, allow_patterns=allow, ignore_patterns=list(NEVER))
    except GatedRepoError as err:
        raise PrefetchError(
            f"model {m.key!r} ({m.where}) is gated and this machine's token has no access: "
            + _access_hint([m.id])
        ) from err
    commit = Path(path).name  # <HF_HOME>/hub/models--org--name/snapshots/<commit>
    if commit != m.commit:
        log.warning(
            "model %s: %s moved from %s to %s during prefetch; recording %s",
            m.key,
            m.revision,
            m.commit,
            commit,
            commit,
        )
    files = sorted(filter_repo_objects(m.files, allow_patterns=allow, ignore_patterns=list(NEVER)))
    pin = f"models.{m.key}.revision: {commit}"
    log.info("model %s: %s@%s = %s -> %s (%s)", m.key, m.id, m.revision, commit, path, files)
    return {
        "id": m.id,
        "revision": m.revision,
        "commit": commit,
        "gated": m.gated,
        "files": files,
        "pin": pin,
    }


def prefetch(
    models: dict[str, dict[str, Any]],
    splits: dict[str, list[str]],
    datasets_cfg: dict[str, Any],
    allow_network: bool,
    tasks: list[str] | None = None,
) -> dict[str, Any]:
    """Download the hub models, the data set splits and the named lm-eval tasks' data the
    configured jobs read.

    Args:
        models: model key -> resolved model entry (only ``source: hub`` ones are fetched).
        splits: data source -> the splits the config reads (:func:`.splits.splits_read`);
            ``local`` (the built-in corpus) needs nothing.
        datasets_cfg: the config's ``datasets`` section.
        allow_network: must be true; prefetching with the hub offline is a usage error.
        tasks: zero-shot task names of the config.

    Returns:
        The manifest: ``models`` (key -> id, configured ``revision``, resolved ``commit``, ``gated``,
        the ``files`` fetched, the ``pin`` line), ``datasets``, ``tasks`` and ``fetched`` (one line
        each).

    Raises:
        PrefetchError: before any download, when a model is not on the hub, has no safetensors
            weights, or is gated and the token has no access.
    """
    if not allow_network:
        raise RuntimeError(
            "prefetch needs the network: run `snakemake prefetch --config allow_network=true` "
            "on a machine with internet access"
        )
    from huggingface_hub import HfApi, hf_hub_download, snapshot_download
    from huggingface_hub.errors import GatedRepoError

    api = HfApi()
    hub = [_describe(key, spec, api) for key, spec in models.items() if spec["source"] == "hub"]
    gated = [m for m in hub if m.gated]
    if gated:
        PROGRESS.info(
            "gated on the Hugging Face hub: %s. Each needs its licence accepted on its page by the "
            "account whose token prefetch uses (`%s`, or HF_TOKEN)",
            ", ".join(f"{m.key} ({m.id})" for m in gated),
            LOGIN,
        )
    problems = [p for p in map(_no_safetensors, hub) if p]
    no_access = []
    for m in gated:
        try:
            api.auth_check(m.id)
        except GatedRepoError:
            no_access.append(m)
    if no_access:
        problems.append(
            "gated models this machine's token cannot read: "
            + ", ".join(f"{m.key} ({m.id})" for m in no_access)
            + "; "
            + _access_hint([m.id for m in no_access])
        )
    if problems:
        raise PrefetchError("prefetch fetched nothing:\n  " + "\n  ".join(problems))

    manifest: dict[str, Any] = {"models": {}, "datasets": [], "tasks": [], "fetched": []}
    for m in hub:
        entry = _fetch_model(m, snapshot_download, hf_hub_download)
        manifest["models"][m.key] = entry
        manifest["fetched"].append(f"model {m.key}: {m.id}@{m.revision} = {entry['commit']}")
    for source in sorted(set(splits) - set(BUILT_SOURCES)):
        for split in splits[source]:
            n = len(load_split(source, split, datasets_cfg, corpus_dir=""))
            log.info("data set %s/%s: %d rows", source, split, n)
            manifest["datasets"].append({"source": source, "split": split, "rows": n})
            manifest["fetched"].append(f"dataset {source}/{split}: {n} rows")
    named = [t for t in tasks or [] if t not in ZEROSHOT_TASKS]
    if named:
        from lm_eval.tasks import TaskManager

        loaded = TaskManager().load_task_or_group(named)  # building a task downloads its data set
        log.info("lm-eval tasks: %s", sorted(loaded))
        manifest["tasks"] = named
        manifest["fetched"] += [f"lm-eval task {t}" for t in named]
    if manifest["models"]:
        PROGRESS.info(
            "to pin the models fetched, set in your config:\n%s",
            "\n".join(
                f"  {e['pin']}" + ("  (already pinned)" if e["revision"] == e["commit"] else "")
                for e in manifest["models"].values()
            ),
        )
    return manifest
