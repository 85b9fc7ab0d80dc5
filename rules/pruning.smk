# Pruning's summary. The pruning itself (sequential: block l calibrated on the pruned blocks < l,
# streamed through a GPU) runs in rules/evaluation.smk's prune_evaluate, one job per cell.


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
