# Layer-wise allocation (docs/methods.md sections 3 and 5.1-5.3; src/absorbprune/allocation/): one
# job per (model, pruner, allocation variant, correction variant, sparsity, calibration seed).


rule allocate:
    input:
        unpack(correction_inputs),
        stats=rules.calibrate.output.stats,
    output:
        f"{RESULTS}/allocations/{ALLOCATION_PATTERN}.parquet",
    log:
        f"{RESULTS}/logs/allocate/{ALLOCATION_PATTERN}.log",
    conda:
        ENV
    params:
        code=code("allocate"),
        alloc=allocation_params,
    script:
        "scripts/allocate.py"


rule allocation_summary:
    input:
        allocations=sorted({allocation_file(c) for c in CELLS}),
    output:
        allocations=f"{RESULTS}/summary/allocations.parquet",
    log:
        f"{RESULTS}/logs/allocation_summary.log",
    conda:
        ENV
    params:
        code=code("concat_tables"),
    script:
        "scripts/concat_tables.py"
