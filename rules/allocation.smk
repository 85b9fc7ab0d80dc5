# Layer-wise allocation: one job per (model, allocation variant, correction variant, sparsity).


rule allocate:
    output:
        f"{RESULTS}/allocations/{{model}}/{{allocation}}/{{correction}}/s{{sparsity}}.parquet",
    input:
        stats=f"{RESULTS}/calibration/{{model}}/layer_stats.parquet",
        coefficients=absorption_input,
        code=code("allocation"),
    params:
        alloc=allocation_params,
    log:
        f"{RESULTS}/logs/allocate/{{model}}/{{allocation}}_{{correction}}_s{{sparsity}}.log",
    conda:
        ENV
    script:
        "scripts/allocate.py"


rule allocation_summary:
    output:
        f"{RESULTS}/summary/allocations.parquet",
    input:
        sorted({allocation_path(c) for c in CELLS}),
    log:
        f"{RESULTS}/logs/allocation_summary.log",
    conda:
        ENV
    script:
        "scripts/concat_tables.py"
