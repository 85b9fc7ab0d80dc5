# Absorption coefficients, transitions, the paper's two findings, their figures and summary tables.


rule absorption:
    input:
        drift=f"{RESULTS}/sweeps/{{model}}/prune_s{{sparsity}}.parquet",
        code=script_code("absorption"),
    output:
        coefficients=f"{RESULTS}/absorption/{{model}}/coefficients_s{{sparsity}}.parquet",
        gains=f"{RESULTS}/absorption/{{model}}/gains_s{{sparsity}}.parquet",
    log:
        f"{RESULTS}/logs/absorption/{{model}}_s{{sparsity}}.log",
    conda:
        ENV
    script:
        "scripts/absorption.py"


rule findings:
    input:
        coefficients=f"{RESULTS}/absorption/{{model}}/coefficients_s{MAIN_SPARSITY}.parquet",
        prune=f"{RESULTS}/sweeps/{{model}}/prune_s{MAIN_SPARSITY}.parquet",
        magnitude=f"{RESULTS}/sweeps/{{model}}/magnitude.parquet",
        code=script_code("findings"),
    output:
        findings=f"{RESULTS}/absorption/{{model}}/findings.parquet",
        transitions=f"{RESULTS}/absorption/{{model}}/transitions.parquet",
    log:
        f"{RESULTS}/logs/findings/{{model}}.log",
    conda:
        ENV
    params:
        main_sparsity=config["sweeps"]["main_sparsity"],
    script:
        "scripts/findings.py"


rule sweep_figures:
    input:
        prune=f"{RESULTS}/sweeps/{{model}}/prune_s{MAIN_SPARSITY}.parquet",
        magnitude=f"{RESULTS}/sweeps/{{model}}/magnitude.parquet",
        coefficients=expand(
            f"{RESULTS}/absorption/{{{{model}}}}/coefficients_s{{s}}.parquet", s=SWEEP_SPARSITIES
        ),
        code=script_code("sweep_figures"),
    output:
        drift=report(
            f"{RESULTS}/figures/{{model}}/drift_depth.png",
            caption="report/drift_depth.rst",
            category="1 Perturbation sweeps",
            subcategory="{model}",
        ),
        transition=report(
            f"{RESULTS}/figures/{{model}}/transition.png",
            caption="report/transition.rst",
            category="1 Perturbation sweeps",
            subcategory="{model}",
        ),
        absorption=report(
            f"{RESULTS}/figures/{{model}}/absorption.png",
            caption="report/absorption.rst",
            category="1 Perturbation sweeps",
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
        absorption=expand(
            f"{RESULTS}/absorption/{{m}}/coefficients_s{{s}}.parquet", m=grid_models(), s=SWEEP_SPARSITIES
        ),
        drift=expand(f"{RESULTS}/sweeps/{{m}}/magnitude.parquet", m=grid_models())
        + expand(f"{RESULTS}/sweeps/{{m}}/prune_s{{s}}.parquet", m=grid_models(), s=SWEEP_SPARSITIES),
        findings=expand(f"{RESULTS}/absorption/{{m}}/findings.parquet", m=grid_models()),
        code=script_code("concat_tables"),
    output:
        absorption=f"{RESULTS}/summary/absorption.parquet",
        drift=f"{RESULTS}/summary/drift.parquet",
        findings=f"{RESULTS}/summary/findings.parquet",
    log:
        f"{RESULTS}/logs/sweep_summary.log",
    conda:
        ENV
    script:
        "scripts/concat_tables.py"
