# Pruning (docs/methods.md section 4): sequential, block l calibrated on the pruned blocks < l,
# streamed through a GPU when one is visible.


# One job per cell prunes it in memory and measures it: loading the model once saves a start-up of
# torch + transformers + the model per cell, and at paper scale a multi-GB weights file per cell.
rule prune_evaluate:
    input:
        allocation=f"{RESULTS}/allocations/{ALLOCATION_PATTERN}.parquet",
        tokens=f"{seed_dir('calibration')}/tokens.safetensors",
        ppl_tokens=f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
        valid_tokens=f"{RESULTS}/eval/{{model}}/valid_tokens.safetensors",
        data=zeroshot_data,
        model=model_dir,
        code=script_code("prune_evaluate"),
    output:
        **cell_outputs(f"{RESULTS}/pruned/{CELL_PATTERN}", f"{RESULTS}/eval/{CELL_PATTERN}"),
    log:
        f"{RESULTS}/logs/prune_evaluate/{CELL_LOG_PATTERN}.log",
    conda:
        ENV
    params:
        model=model_params,
        pruning=PRUNING_PARAMS,
        evaluation=PPL_PARAMS,
        zeroshot=ZEROSHOT_PARAMS,
    script:
        "scripts/prune_evaluate.py"


rule pruning_summary:
    input:
        pruning=[f"{cell_dir(c)}/linears.parquet" for c in CELLS]
        + [f"{RESULTS}/pruned/{m}/dense/linears.parquet" for m in grid_models()],
        code=script_code("concat_tables"),
    output:
        pruning=f"{RESULTS}/summary/pruning.parquet",
    log:
        f"{RESULTS}/logs/pruning_summary.log",
    conda:
        ENV
    script:
        "scripts/concat_tables.py"
