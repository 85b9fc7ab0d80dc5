# Absorption coefficients (ours and the paper's) per calibration seed; the findings pool the seeds.


rule absorption:
    input:
        drift=f"{seed_dir('sweeps')}/prune_s{{sparsity}}.parquet",
        code=script_code("absorption"),
    output:
        coefficients=f"{seed_dir('absorption')}/coefficients_s{{sparsity}}.parquet",
        gains=f"{seed_dir('absorption')}/gains_s{{sparsity}}.parquet",
    log:
        f"{RESULTS}/logs/absorption/{{model}}_s{{sparsity}}_seed{{seed}}.log",
    conda:
        ENV
    script:
        "scripts/absorption.py"


rule paper_coefficients:
    input:
        drift=f"{seed_dir('sweeps')}/magnitude.parquet",
        code=script_code("paper_coefficients"),
    output:
        f"{seed_dir('absorption')}/paper_coefficients.parquet",
    log:
        f"{RESULTS}/logs/paper_coefficients/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    script:
        "scripts/paper_coefficients.py"


rule findings:
    input:
        prune=expand(f"{seed_dir('sweeps', '{{model}}', '{s}')}/prune_s{MAIN_SPARSITY}.parquet", s=SEEDS),
        magnitude=expand(f"{seed_dir('sweeps', '{{model}}', '{s}')}/magnitude.parquet", s=SEEDS),
        gains=expand(f"{seed_dir('absorption', '{{model}}', '{s}')}/gains_s{MAIN_SPARSITY}.parquet", s=SEEDS),
        code=script_code("findings"),
    output:
        findings=f"{RESULTS}/absorption/{{model}}/findings.parquet",
        transitions=f"{RESULTS}/absorption/{{model}}/transitions.parquet",
        gains=f"{RESULTS}/absorption/{{model}}/block_gains.parquet",
    log:
        f"{RESULTS}/logs/findings/{{model}}.log",
    conda:
        ENV
    params:
        main_sparsity=config["sweeps"]["main_sparsity"],
    script:
        "scripts/findings.py"


# The drift and transition figures show the first calibration seed's sweep; the local gains pool them.
rule sweep_figures:
    input:
        prune=f"{seed_dir('sweeps', seed=FIRST_SEED)}/prune_s{MAIN_SPARSITY}.parquet",
        magnitude=f"{seed_dir('sweeps', seed=FIRST_SEED)}/magnitude.parquet",
        coefficients=expand(
            f"{seed_dir('absorption', '{{model}}', FIRST_SEED)}/coefficients_s{{s}}.parquet",
            s=SWEEP_SPARSITIES,
        ),
        gains=f"{RESULTS}/absorption/{{model}}/block_gains.parquet",
        code=script_code("sweep_figures"),
    output:
        drift=report(
            f"{RESULTS}/figures/{{model}}/drift_depth.png",
            caption="report/drift_depth.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
        transition=report(
            f"{RESULTS}/figures/{{model}}/transition.png",
            caption="report/transition.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
        absorption=report(
            f"{RESULTS}/figures/{{model}}/absorption.png",
            caption="report/absorption.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
        local_gains=report(
            f"{RESULTS}/figures/{{model}}/local_gains.png",
            caption="report/local_gains.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
    log:
        f"{RESULTS}/logs/sweep_figures/{{model}}.log",
    conda:
        ENV
    params:
        main_sparsity=config["sweeps"]["main_sparsity"],
    script:
        "scripts/sweep_figures.py"


rule sweep_summary:
    input:
        absorption=[p for s in SWEEP_SPARSITIES for p in per_seed("absorption", f"coefficients_s{s}.parquet")],
        drift=per_seed("sweeps", "magnitude.parquet")
        + [p for s in SWEEP_SPARSITIES for p in per_seed("sweeps", f"prune_s{s}.parquet")],
        findings=expand(f"{RESULTS}/absorption/{{m}}/findings.parquet", m=grid_models()),
        local_gains=expand(f"{RESULTS}/absorption/{{m}}/block_gains.parquet", m=grid_models()),
        paper_coefficients=per_seed("absorption", "paper_coefficients.parquet"),
        code=script_code("concat_tables"),
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
    script:
        "scripts/concat_tables.py"
