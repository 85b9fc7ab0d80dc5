# Exports (docs/results.md "Exports"; src/absorbprune/export/): every allocation as JSON, and the
# models export.models names as Hugging Face directories, each re-pruned from its files and
# re-measured before it is written.


rule export_allocations:
    input:
        allocations=sorted({allocation_file(c) for c in CELLS}),
        linears=[f"{dense_dir('pruned', m)}/linears.parquet" for m in grid_models()],
    output:
        allocation_exports(),
    log:
        f"{RESULTS}/logs/export_allocations.log",
    conda:
        ENV
    params:
        code=code("export_allocations"),
    script:
        "scripts/export_allocations.py"


rule export_model:
    input:
        unpack(export_inputs),
    output:
        directory(f"{RESULTS}/export/models/{{export}}"),
    log:
        f"{RESULTS}/logs/export_model/{{export}}.log",
    conda:
        ENV
    params:
        code=code("export_model"),
        export=export_params,
        pruning=PRUNING_PARAMS,
        evaluation=PPL_PARAMS,
    script:
        "scripts/export_model.py"
