# Pruning: one job per cell, sequential (block l calibrated on the pruned blocks < l), streamed.


rule prune:
    output:
        weights=maybe_temp(
            f"{RESULTS}/pruned/{{model}}/{{pruner}}/{{structure}}/{{allocation}}/{{correction}}/s{{sparsity}}/weights.safetensors"
        ),
        linears=f"{RESULTS}/pruned/{{model}}/{{pruner}}/{{structure}}/{{allocation}}/{{correction}}/s{{sparsity}}/linears.parquet",
    input:
        allocation=f"{RESULTS}/allocations/{{model}}/{{allocation}}/{{correction}}/s{{sparsity}}.parquet",
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        model=model_dir,
        code=code("pruning", "families"),
    params:
        model=model_params,
        pruning=PRUNING_PARAMS,
    log:
        f"{RESULTS}/logs/prune/{{model}}/{{pruner}}_{{structure}}_{{allocation}}_{{correction}}_s{{sparsity}}.log",
    conda:
        ENV
    script:
        "scripts/prune.py"


rule prune_dense:
    # The dense reference row: the unpruned model's zeros per linear.
    output:
        linears=f"{RESULTS}/pruned/{{model}}/dense/linears.parquet",
    input:
        model=model_dir,
        code=code("pruning", "families"),
    params:
        model=model_params,
    log:
        f"{RESULTS}/logs/prune/{{model}}/dense.log",
    conda:
        ENV
    script:
        "scripts/prune_dense.py"


rule pruning_summary:
    output:
        f"{RESULTS}/summary/pruning.parquet",
    input:
        [f"{cell_dir(c)}/linears.parquet" for c in CELLS]
        + [f"{RESULTS}/pruned/{m}/dense/linears.parquet" for m in grid_models()],
    log:
        f"{RESULTS}/logs/pruning_summary.log",
    conda:
        ENV
    script:
        "scripts/concat_tables.py"
