# Exports (docs/results.md "Exports"): every allocation as JSON, and the models export.models names
# as Hugging Face directories, each re-pruned from its files and re-measured before it is written.


rule export_allocations:
    input:
        allocations=sorted({allocation_path(c) for c in CELLS}),
        linears=[f"{RESULTS}/pruned/{m}/dense/linears.parquet" for m in grid_models()],
        code=script_code("export_allocations"),
    output:
        allocation_exports(),
    log:
        f"{RESULTS}/logs/export_allocations.log",
    conda:
        ENV
    script:
        "scripts/export_allocations.py"


rule export_model:
    input:
        unpack(export_inputs),
        code=script_code("export_model"),
    output:
        directory(f"{RESULTS}/export/models/{{export}}"),
    log:
        f"{RESULTS}/logs/export_model/{{export}}.log",
    conda:
        ENV
    params:
        target=export_params,
        pruning=PRUNING_PARAMS,
        evaluation=PPL_PARAMS,
    script:
        "scripts/export_model.py"
