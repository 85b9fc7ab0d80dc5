# Pruning (docs/methods.md section 4; src/absorbprune/pruning/): sequential, block l calibrated on
# the pruned blocks < l, streamed through a GPU when one is visible.


# One job per cell prunes it in memory and measures it (src/absorbprune/evaluation/): loading the
# model once saves a start-up of torch + transformers + the model per cell, and at paper scale a
# multi-GB weights file per cell. Its outputs are the same whatever the config: with no zero-shot
# task, the zero-shot table is written empty.
rule prune_evaluate:
    input:
        allocation=rules.allocate.output[0],
        tokens=rules.calibration_tokens.output[0],
        ppl_tokens=rules.ppl_tokens.output[0],
        valid_tokens=rules.valid_tokens.output[0],
        documents=task_documents,
        model=model_dir,
        # the canary: the dense model's evaluation runs before any of its cells (its zero-shot too
        # when the cells run tasks), so a broken cache fails once
        canary=cell_canary,
    output:
        linears=f"{RESULTS}/pruned/{CELL_PATTERN}/linears.parquet",
        ppl=f"{RESULTS}/eval/{CELL_PATTERN}/ppl.parquet",
        valid_ppl=f"{RESULTS}/eval/{CELL_PATTERN}/valid_ppl.parquet",
        zeroshot=f"{RESULTS}/eval/{CELL_PATTERN}/zeroshot.parquet",
        raw=f"{RESULTS}/eval/{CELL_PATTERN}/zeroshot.json",
    log:
        f"{RESULTS}/logs/prune_evaluate/{CELL_LOG_PATTERN}.log",
    conda:
        ENV
    params:
        code=code("prune_evaluate"),
        model=model_params,
        pruning=PRUNING_PARAMS,
        evaluation=PPL_PARAMS,
        zeroshot=CELL_ZEROSHOT_PARAMS,
    script:
        "scripts/prune_evaluate.py"


# pruning.keep_weights: a cell's pruned linear weights, pruned again from the same files (the
# pass is deterministic on a CPU; its zeros are checked against the cell's).
rule cell_weights:
    input:
        allocation=rules.allocate.output[0],
        tokens=rules.calibration_tokens.output[0],
        linears=rules.prune_evaluate.output.linears,
        model=model_dir,
    output:
        f"{RESULTS}/pruned/{CELL_PATTERN}/weights.safetensors",
    log:
        f"{RESULTS}/logs/cell_weights/{CELL_LOG_PATTERN}.log",
    conda:
        ENV
    params:
        code=code("cell_weights"),
        model=model_params,
        pruning=PRUNING_PARAMS,
    script:
        "scripts/cell_weights.py"


rule pruning_summary:
    input:
        pruning=[f"{cell_dir('pruned', c)}/linears.parquet" for c in CELLS]
        + [f"{dense_dir('pruned', m)}/linears.parquet" for m in grid_models()],
    output:
        pruning=f"{RESULTS}/summary/pruning.parquet",
    log:
        f"{RESULTS}/logs/pruning_summary.log",
    conda:
        ENV
    params:
        code=code("concat_tables"),
    script:
        "scripts/concat_tables.py"
