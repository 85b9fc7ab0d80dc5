# Layer-wise allocation: one job per (model, pruner, allocation variant, correction variant,
# sparsity, calibration seed).


rule allocate:
    input:
        unpack(correction_inputs),
        stats=f"{seed_dir('calibration')}/layer_stats.parquet",
        code=script_code("allocate"),
    output:
        f"{RESULTS}/allocations/{ALLOCATION_PATTERN}.parquet",
    log:
        f"{RESULTS}/logs/allocate/{ALLOCATION_PATTERN}.log",
    conda:
        ENV
    params:
        alloc=allocation_params,
    script:
        "scripts/allocate.py"


rule allocation_summary:
    input:
        allocations=sorted({allocation_path(c) for c in CELLS}),
        code=script_code("concat_tables"),
    output:
        allocations=f"{RESULTS}/summary/allocations.parquet",
    log:
        f"{RESULTS}/logs/allocation_summary.log",
    conda:
        ENV
    script:
        "scripts/concat_tables.py"
