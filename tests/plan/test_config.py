"""Config validation: defaults, and bad configs failing with the offending key named."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

from absorbprune.core.provenance import config_hash
from absorbprune.plan.config.__main__ import main
from absorbprune.plan.config.errors import ConfigError
from absorbprune.plan.config.files import read_config_file
from absorbprune.plan.config.schema import effective_schema
from absorbprune.plan.config.validate import resolve, validate_config
from absorbprune.plan.grid import owl_thresholds
from absorbprune.registry.models import FAMILIES

ROOT = Path(__file__).resolve().parents[2]
DEFAULT = yaml.safe_load((ROOT / "config.yaml").read_text())


def bad(mutate) -> str:
    cfg = copy.deepcopy(DEFAULT)
    mutate(cfg)
    with pytest.raises(ConfigError) as err:
        validate_config(cfg)
    return str(err.value)


def test_default_config_is_valid_and_defaults_are_filled():
    cfg = resolve(DEFAULT)
    assert cfg["models"]["tiny-llama"]["trust_remote_code"] is False
    assert cfg["datasets"]["c4"]["data_file"] == "en/c4-train.00000-of-01024.json.gz"
    assert DEFAULT["datasets"]["c4"].get("local_path", "unset") is None  # the input is not mutated
    assert config_hash(cfg) == config_hash(resolve(DEFAULT))


@pytest.mark.parametrize("value", [0, 1, -0.1, 1.5])
def test_sparsity_outside_open_unit_interval(value):
    msg = bad(lambda c: c["grid"].__setitem__("sparsities", [0.5, value]))
    assert "grid.sparsities[1]" in msg


def test_unknown_pruner_lists_valid_ones():
    msg = bad(lambda c: c["grid"].__setitem__("pruners", ["wandaa"]))
    assert "grid.pruners[0]" in msg and "sparsegpt" in msg


def test_unknown_allocation():
    msg = bad(lambda c: c["grid"].__setitem__("allocations", ["uniform", "owll"]))
    assert "grid.allocations[1]" in msg and "'owll'" in msg


def test_unknown_correction():
    msg = bad(lambda c: c["grid"].__setitem__("corrections", ["absorb"]))
    assert "grid.corrections[0]" in msg


def test_unknown_family():
    msg = bad(lambda c: c["models"]["tiny-opt"].__setitem__("family", "gpt2"))
    assert "models.tiny-opt.family" in msg and "llama" in msg


def test_missing_local_path():
    def mutate(c):
        c["models"]["mine"] = {"source": "local", "family": "llama", "path": "/no/such/model"}
        c["grid"]["models"].append("mine")

    msg = bad(mutate)
    assert "models.mine.path" in msg and "/no/such/model" in msg


def test_hub_model_needs_an_id_and_grid_models_must_exist():
    assert "models.x" in bad(lambda c: c["models"].__setitem__("x", {"source": "hub", "family": "llama"}))
    assert "grid.models[2]" in bad(lambda c: c["grid"]["models"].append("nope"))  # after the two defaults


def test_unknown_key_and_bad_types():
    assert "calibration" in bad(lambda c: c["calibration"].__setitem__("nsamples", 3))
    assert "calibration.n_samples" in bad(lambda c: c["calibration"].__setitem__("n_samples", "many"))
    assert "calibration.source" in bad(lambda c: c["calibration"].__setitem__("source", "pile"))


def test_builtin_shape_checks():
    msg = bad(lambda c: c["models"]["tiny-llama"]["arch"].__setitem__("n_heads", 3))
    assert "models.tiny-llama.arch.n_heads" in msg

    def long_tiny(c):  # the run's sequence lengths are checked for the grid's models
        c["grid"]["models"] = ["tiny-llama"]
        c["calibration"]["seqlen"] = 4096

    msg = bad(long_tiny)
    assert "calibration.seqlen" in msg and "max_position" in msg


def test_family_enum_matches_the_adapter_registry():
    schema = effective_schema()
    assert sorted(schema["$defs"]["model"]["properties"]["family"]["enum"]) == sorted(FAMILIES)


def _walk(node, path):
    if isinstance(node, dict):
        if "properties" in node:
            for key, sub in node["properties"].items():
                yield f"{path}.{key}", sub
                yield from _walk(sub, f"{path}.{key}")
        for key in ("$defs",):
            for name, sub in node.get(key, {}).items():
                yield from _walk(sub, f"{path}.${name}")


def test_every_schema_key_has_a_description_and_leaf_keys_a_default():
    """Every key documents itself; optional leaves say what they default to."""
    schema = effective_schema()
    no_default_ok = {"id", "path", "n_blocks", "source", "family", "models", "arch", "train", "grid", "gguf"}
    for path, sub in _walk(schema, ""):
        if "$ref" in sub:  # keywords beside $ref refine the referenced schema
            sub = {**schema["$defs"][sub["$ref"].rsplit("/", 1)[1]], **sub}
        key = path.rsplit(".", 1)[1]
        assert "description" in sub or "properties" in sub, f"{path} has no description"
        if "properties" not in sub and key not in no_default_ok:
            assert "default" in sub, f"{path} has no default"


def test_illegal_allocation_hyperparameters_name_their_key():
    assert "allocation.owl.lambda" in bad(lambda c: c["allocation"]["owl"].__setitem__("lambda", -0.1))
    msg = bad(lambda c: c["allocation"]["alphapruning"].__setitem__("eps", -1))
    assert "allocation.alphapruning.eps" in msg
    msg = bad(
        lambda c: (c["allocation"]["atp"].__setitem__("beta", 0.2), c["grid"]["allocations"].append("atp"))
    )
    assert "allocation.atp.beta" in msg and "'smollm2' (30 blocks)" in msg and "at most" in msg
    assert "allocation.owl.M" in bad(lambda c: c["allocation"]["owl"].__setitem__("M", 0))
    # an M the calibration does not list is computed anyway: the allocation's M is derived into it
    cfg = copy.deepcopy(DEFAULT)
    cfg["allocation"]["owl"]["M"] = 7
    assert owl_thresholds(resolve(cfg)) == [3, 5, 7]


def test_hyperparameter_lists_become_variants():
    from absorbprune.plan.grid import allocation_variants, cells, hyperparameters

    cfg = copy.deepcopy(DEFAULT)
    cfg["allocation"]["owl"]["lambda"] = [0.05, 0.08]
    cfg["allocation"]["alphapruning"]["eps_per_model"] = {"tiny-opt": 0.2, "smollm2": {"sparsegpt": 0.2}}
    cfg["grid"]["allocations"] = ["owl", "alphapruning"]
    cfg = resolve(cfg)
    variants = allocation_variants(cfg)
    assert variants["owl-lambda0.05"] == ("owl", {"lambda": 0.05, "M": 5}) and "owl" not in variants
    assert hyperparameters(cfg, "tiny-opt", "wanda", "alphapruning") == ("alphapruning", {"eps": 0.2})
    assert hyperparameters(cfg, "tiny-llama", "wanda", "alphapruning") == ("alphapruning", {"eps": 0.3})
    # per (model, pruner): the paper preset's per-pruner table
    assert hyperparameters(cfg, "smollm2", "sparsegpt", "alphapruning") == ("alphapruning", {"eps": 0.2})
    assert hyperparameters(cfg, "smollm2", "wanda", "alphapruning") == ("alphapruning", {"eps": 0.3})
    # 2 models x (2 owl variants, alphapruning) x (none + 2 corrections and 1 control at gamma 0.05)
    # x 2 sparsities x 3 calibration seeds; gamma 0 is the base's own cell
    assert len(cells(cfg)) == 2 * 3 * 4 * 2 * 3
    bad_pruner = copy.deepcopy(DEFAULT)
    bad_pruner["allocation"]["alphapruning"]["eps_per_model"] = {"smollm2": {"wandaa": 0.2}}
    with pytest.raises(ConfigError, match=r"eps_per_model\.smollm2\.wandaa': unknown pruner"):
        resolve(bad_pruner)


@pytest.mark.parametrize(
    ("mutate", "key", "says"),
    [
        (
            lambda c: c["allocation"]["owl"].__setitem__("lambda", float("nan")),
            "allocation.owl.lambda",
            "finite",
        ),
        (
            lambda c: c["allocation"]["paper"].__setitem__("gamma", [0, float("inf")]),
            "allocation.paper.gamma[1]",
            "finite",
        ),
        (lambda c: c["grid"].__setitem__("sparsities", [float("nan")]), "grid.sparsities[0]", "finite"),
        (lambda c: c["calibration"].__setitem__("n_samples", 16.0), "calibration.n_samples", "write 16"),
        (lambda c: c["evaluation"].__setitem__("max_windows", 8.5), "evaluation.max_windows", "integer"),
        (lambda c: c["sweeps"].__setitem__("eps_min", "5e-1"), "sweeps.eps_min", "YAML read a string"),
        (lambda c: c["grid"].__setitem__("pruners", []), "grid.pruners", "non-empty"),
        (lambda c: c["grid"].__setitem__("allocations", []), "grid.allocations", "non-empty"),
        (lambda c: c["grid"].__setitem__("sparsities", []), "grid.sparsities", "non-empty"),
        (lambda c: c["sweeps"].__setitem__("magnitude_kinds", []), "sweeps.magnitude_kinds", "non-empty"),
        (
            lambda c: c["allocation"]["owl"].__setitem__("lambda", [0.08, 0.08000001]),
            "allocation.owl.lambda",
            "same variant name",
        ),
        (
            lambda c: c["allocation"]["paper"].__setitem__("gamma", [0, 0.05, 0.0500000001]),
            "allocation.paper.gamma",
            "same variant name",
        ),
        (
            lambda c: (
                c["grid"].__setitem__("structures", ["4:8"]),
                c["allocation"].__setitem__("s_max", 0.4),
            ),
            "grid.structures[0]",
            "outside [allocation.s_min, s_max]",
        ),
        (
            lambda c: (c["allocation"].__setitem__("s_min", 0.9), c["allocation"].__setitem__("s_max", 0.8)),
            "allocation.s_min",
            "exceeds allocation.s_max",
        ),
        (
            lambda c: c["grid"].__setitem__("structures", ["unstructured", 124]),
            "grid.structures[1]",
            'quoted, e.g. "2:4"',
        ),
        (
            lambda c: c["allocation"]["alphapruning"].__setitem__("eps_per_model", {"tiny-lama": 0.1}),
            "allocation.alphapruning.eps_per_model.tiny-lama",
            "not a key of 'models'",
        ),
        (
            lambda c: c["export"].__setitem__("models", [{"allocation": "owll", "correction": "paper"}]),
            "export.models[0].allocation",
            "not a registered",
        ),
        (
            lambda c: c["export"].__setitem__(
                "models", [{"allocation": "owl", "correction": "paper", "seed": 7}]
            ),
            "export.models[0]",
            "seed 7 is not one of calibration.seeds",
        ),
        (
            lambda c: c["export"].__setitem__(
                "models", [{"allocation": "owl", "correction": "none", "select": False, "sparsity": 0.7}]
            ),
            "export.models[0]",
            "no cell of the grid",
        ),
        (
            lambda c: c["evaluation"]["zeroshot"].__setitem__(
                "tasks", ["codeline", "hellaswag", "arc_easyy"]
            ),
            "evaluation.zeroshot.tasks[2]",
            "did you mean 'arc_easy'",
        ),
    ],
)
def test_each_class_of_bad_value_is_refused_naming_its_key(mutate, key, says):
    # also: N:M outside the bounds, and bounds that cross (each named for itself, not the grid)
    """Non-finite floats, floats where integers belong, strings YAML made of numbers, empty grid
    axes and swept values whose variant names collide: each refused before any job."""
    msg = bad(mutate)
    assert f"config key '{key}'" in msg and says in msg, msg


def test_a_hub_model_without_a_revision_warns(caplog):
    cfg = copy.deepcopy(DEFAULT)
    cfg["models"]["llama"] = {"source": "hub", "id": "meta-llama/Llama-2-7b-hf", "family": "llama"}
    with caplog.at_level("WARNING", logger="absorbprune.plan.config.validate"):
        resolve(cfg)
    assert "models.llama.revision' is not set" in caplog.text
    caplog.clear()
    cfg["models"]["llama"]["revision"] = "01c7f73d771dfac7d292323805ebc428287df4f9"
    with caplog.at_level("WARNING", logger="absorbprune.plan.config.validate"):
        resolve(cfg)
    assert "revision" not in caplog.text


def test_real_lm_eval_tasks_pass_the_parse_time_check():
    cfg = copy.deepcopy(DEFAULT)
    cfg["evaluation"]["zeroshot"]["tasks"] = [
        "boolq", "rte", "hellaswag", "winogrande", "arc_easy", "arc_challenge", "openbookqa", "mmlu",
    ]  # fmt: skip
    resolve(cfg)  # the paper's seven tasks and a group


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("grid:\n  sparsities: [0.5\n", ":3:1: expected ',' or ']'"),
        ("- a\n- b\n", "the top level is a list, expected a mapping"),
        ("seed: 1\nseed: 2\n", ":2:1: key 'seed' is given twice (first at line 1)"),
        ("grid:\n  models: [x]\n  pruners: [wanda]\n  models: [y]\n", ":4:3: key 'models' is given twice"),
        ("grid:\n\tmodels: [x]\n", ":2:1: found character '\\t'"),
    ],
)
def test_config_files_are_read_strictly_naming_file_and_line(tmp_path, text, says):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as err:
        read_config_file(path)
    assert f"config file {path}" in str(err.value) and says in str(err.value), str(err.value)


def test_config_files_in_json_and_empty_files_read(tmp_path):
    (tmp_path / "a.json").write_text('{"grid": {"sparsities": [0.5]}}')
    (tmp_path / "empty.yaml").write_text("# nothing\n")
    assert read_config_file(tmp_path / "a.json") == {"grid": {"sparsities": [0.5]}}
    assert read_config_file(tmp_path / "empty.yaml") == {}


def test_config_check_command_merges_files_like_snakemake(tmp_path, capsys):
    over = tmp_path / "over.yaml"
    over.write_text("grid:\n  sparsities: [0.6]\n")
    assert main(["--base", str(ROOT / "config.yaml"), str(over)]) == 0
    assert "config ok" in capsys.readouterr().out
    over.write_text("grid:\n  sparsities: [0.6]\n  pruners: [wandaa]\n")
    assert main(["--base", str(ROOT / "config.yaml"), str(over)]) == 1
    assert "config key 'grid.pruners[0]'" in capsys.readouterr().err


def test_an_export_entry_outside_the_grid_warns_and_exports_nothing(caplog):
    from absorbprune.plan.exports import export_targets

    entry = {"export": {"models": [{"allocation": "owl", "correction": "paper"}]}}
    assert export_targets(resolve(DEFAULT)) == []  # the default exports nothing (budget)
    cfg = copy.deepcopy({**DEFAULT, **entry})
    cfg["grid"]["allocations"] = ["uniform"]  # the entry names owl
    with caplog.at_level("WARNING", logger="absorbprune.plan.exports"):
        resolved = resolve(cfg)
    assert export_targets(resolved) == [] and "owl/paper is not in this grid" in caplog.text
    targets = export_targets(resolve(copy.deepcopy({**DEFAULT, **entry})))
    assert [t.path() for t in targets] == [
        f"selected/{m}/wanda/unstructured/owl/paper/s0.6/seed0" for m in ("smollm2", "gemma3-270m")
    ]
    corrections = [c.correction for c in targets[0].candidates]
    assert "none" in corrections and len(corrections) > 1  # the base is gamma 0 of the paper's group


def _leaves(node, path=""):
    if isinstance(node, dict) and node:
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}" if path else key)
    else:
        yield path, node


def test_one_source_of_defaults_the_schema_the_registries_and_config_yaml_agree():
    """Every value config.yaml sets is the schema's default (the registries' hyperparameter defaults
    are the schema's sections: test_registry checks those), so a config that omits a key runs what
    the embedded default runs. The models are config.yaml's own (no defaults to agree with)."""
    from absorbprune.plan.config.schema import fill_defaults

    schema = effective_schema()
    bare = {"models": copy.deepcopy(DEFAULT["models"]), "grid": {"models": DEFAULT["grid"]["models"]}}
    fill_defaults(bare, schema, schema)
    differ = [
        (key, value, _lookup(bare, key))
        for key, value in _leaves({k: v for k, v in DEFAULT.items() if k != "models"})
        if _lookup(bare, key) != value
    ]
    assert not differ, differ


def _lookup(config, key):
    node = config
    for part in key.split("."):
        node = node.get(part, "<missing>") if isinstance(node, dict) else "<missing>"
    return node


def test_the_config_reference_in_docs_is_fresh():
    """docs/config-reference.md is generated from the effective schema; regenerate it with
    `python -m absorbprune.plan.config --reference > docs/config-reference.md`."""
    from absorbprune.plan.config.schema import reference_markdown

    assert (ROOT / "docs" / "config-reference.md").read_text() == reference_markdown()


def test_the_cross_key_checks_are_named_functions():
    from absorbprune.plan.config.checks import CHECKS

    assert len(CHECKS) >= 10 and all(c.__name__.endswith("_problems") and c.__doc__ for c in CHECKS)


@pytest.mark.parametrize(("word", "value"), [("true", True), ("False", False), ("TRUE", True)])
def test_a_command_line_boolean_reads_as_yaml_would(word, value):
    """`snakemake prefetch --config allow_network=true` passes the string 'true'."""
    config = copy.deepcopy(DEFAULT)
    config["allow_network"] = word
    config["pruning"]["keep_weights"] = word
    out = resolve(config)
    assert out["allow_network"] is value and out["pruning"]["keep_weights"] is value
    config["allow_network"] = "yes"  # not a YAML 1.2 boolean: still refused, naming the key
    with pytest.raises(ConfigError, match="allow_network"):
        resolve(config)
