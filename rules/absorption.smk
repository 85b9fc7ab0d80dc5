# Perturbation absorption (docs/methods.md section 5; src/absorbprune/absorption/): the sweeps per
# calibration seed (one magnitude job, one prune job for every swept sparsity: the model is loaded
# and its clean trajectory computed once), our and the paper's absorption coefficients per seed,
# and the findings, every seed pooled.


rule sweep_magnitude:
    input:
        tokens=rules.calibration_tokens.output[0],
        norms=rules.calibrate.output.norms,
        model=model_dir,
    output:
        f"{seed_dir('sweeps')}/magnitude.parquet",
    log:
        f"{RESULTS}/logs/sweep_magnitude/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        code=code("sweep_magnitude"),
        model=model_params,
        sweeps={
            k: config["sweeps"][k]
            for k in (
                "n_sweep",
                "eps_min",
                "eps_max",
                "eps_points",
                "seeds",
                "magnitude_kinds",
                "first_token",
                "prune_dir_sparsity",
                "memory_budget_gb",
                "max_tokens_per_forward",
            )
        },
    script:
        "scripts/sweep_magnitude.py"


rule sweep_prune:
    input:
        tokens=rules.calibration_tokens.output[0],
        norms=rules.calibrate.output.norms,
        model=model_dir,
    output:
        f"{seed_dir('sweeps')}/prune.parquet",
    log:
        f"{RESULTS}/logs/sweep_prune/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        code=code("sweep_prune"),
        model=model_params,
        sweeps={k: config["sweeps"][k] for k in ("n_sweep", "memory_budget_gb", "max_tokens_per_forward")},
        sparsities=[float(s) for s in SWEEP_SPARSITIES],
    script:
        "scripts/sweep_prune.py"


# One sparsity's coefficients, from its calibration seed's prune sweep (every swept sparsity in one
# file: a sparsity added to a grid reruns that sweep, and with it every sparsity's coefficients and
# the cells corrected with them; list the sparsities you may add in sweeps.extra_sparsities from the
# start and nothing reruns: docs/configuration.md).
rule absorption:
    input:
        drift=rules.sweep_prune.output[0],
    output:
        coefficients=f"{seed_dir('absorption')}/coefficients_s{{sparsity}}.parquet",
        gains=f"{seed_dir('absorption')}/gains_s{{sparsity}}.parquet",
    log:
        f"{RESULTS}/logs/absorption/{{model}}_s{{sparsity}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        code=code("absorption"),
    script:
        "scripts/absorption.py"


rule paper_coefficients:
    input:
        drift=rules.sweep_magnitude.output[0],
    output:
        coefficients=f"{seed_dir('absorption')}/paper_coefficients.parquet",
        readings=f"{seed_dir('absorption')}/readings.parquet",
    log:
        f"{RESULTS}/logs/paper_coefficients/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        code=code("paper_coefficients"),
    script:
        "scripts/paper_coefficients.py"


rule findings:
    input:
        prune=expand(rules.sweep_prune.output[0], seed=SEEDS, allow_missing=True),
        magnitude=expand(rules.sweep_magnitude.output[0], seed=SEEDS, allow_missing=True),
        gains=expand(rules.absorption.output.gains, seed=SEEDS, sparsity=MAIN_SPARSITY, allow_missing=True),
    output:
        findings=f"{RESULTS}/absorption/{{model}}/findings.parquet",
        transitions=f"{RESULTS}/absorption/{{model}}/transitions.parquet",
        gains=f"{RESULTS}/absorption/{{model}}/block_gains.parquet",
    log:
        f"{RESULTS}/logs/findings/{{model}}.log",
    conda:
        ENV
    params:
        code=code("findings"),
        main_sparsity=config["sweeps"]["main_sparsity"],
    script:
        "scripts/findings.py"


# Every reading of the paper's coefficient, compared with the default (docs/methods.md 5.6).
rule coefficient_readings:
    input:
        readings=per_seed("absorption", "readings.parquet"),
    output:
        f"{RESULTS}/summary/coefficient_readings.parquet",
    log:
        f"{RESULTS}/logs/coefficient_readings.log",
    conda:
        ENV
    params:
        code=code("coefficient_readings"),
        default=DEFAULT_READING,
        clip=PAPER_CLIP,
        material_corr=config["sweeps"]["material_corr"],
    script:
        "scripts/coefficient_readings.py"


rule sweep_summary:
    input:
        absorption=[p for s in SWEEP_SPARSITIES for p in per_seed("absorption", f"coefficients_s{s}.parquet")],
        drift=per_seed("sweeps", "magnitude.parquet") + per_seed("sweeps", "prune.parquet"),
        findings=expand(rules.findings.output.findings, model=grid_models()),
        local_gains=expand(rules.findings.output.gains, model=grid_models()),
        paper_coefficients=per_seed("absorption", "paper_coefficients.parquet"),
    output:
        absorption=f"{RESULTS}/summary/absorption.parquet",
        drift=f"{RESULTS}/summary/drift.parquet",
        findings=f"{RESULTS}/summary/findings.parquet",
        local_gains=f"{RESULTS}/summary/local_gains.parquet",
        paper_coefficients=f"{RESULTS}/summary/paper_coefficients.parquet",
    log:
        f"{RESULTS}/logs/sweep_summary.log",
    conda:
        ENV
    params:
        code=code("concat_tables"),
    script:
        "scripts/concat_tables.py"
