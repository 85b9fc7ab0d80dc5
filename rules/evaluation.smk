# Evaluation (docs/methods.md section 1; src/absorbprune/evaluation/): perplexity and lm-eval
# zero-shot. A pruned cell is measured in the job that prunes it (rules/pruning.smk,
# prune_evaluate); the dense reference here, and the noise floor of one cell per model, pruner and
# sparsity (docs/sequential.md).


# The dense model's perplexities: every cell of the model waits for it (rule prune_evaluate's
# canary), so a wrong model path or a missing data set fails once.
rule evaluate_dense:
    input:
        ppl_tokens=rules.ppl_tokens.output[0],
        valid_tokens=rules.valid_tokens.output[0],
        model=model_dir,
    output:
        linears=f"{RESULTS}/pruned/{{model}}/dense/linears.parquet",
        ppl=f"{RESULTS}/eval/{{model}}/dense/ppl.parquet",
        valid_ppl=f"{RESULTS}/eval/{{model}}/dense/valid_ppl.parquet",
    log:
        f"{RESULTS}/logs/evaluate_dense/{{model}}.log",
    conda:
        ENV
    params:
        code=code("evaluate_dense"),
        model=model_params,
        evaluation=PPL_PARAMS,
    script:
        "scripts/evaluate_dense.py"


# The dense model's zero-shot accuracy, its own job so that a zero-shot setting reruns only what
# runs tasks: the canary of every job that does (prune_evaluate under zeroshot.cells: all,
# zeroshot_cell under selected), so a broken task cache fails once.
rule zeroshot_dense:
    input:
        documents=task_documents,
        model=model_dir,
    output:
        zeroshot=f"{RESULTS}/eval/{{model}}/dense/zeroshot.parquet",
        raw=f"{RESULTS}/eval/{{model}}/dense/zeroshot.json",
    log:
        f"{RESULTS}/logs/zeroshot_dense/{{model}}.log",
    conda:
        ENV
    params:
        code=code("zeroshot_dense"),
        model=model_params,
        zeroshot=ZEROSHOT_PARAMS,
    script:
        "scripts/zeroshot_dense.py"


rule noise_floor:
    input:
        unpack(noise_inputs),
    output:
        f"{RESULTS}/noise/{{model}}/{{pruner}}/s{{sparsity}}.parquet",
    log:
        f"{RESULTS}/logs/noise_floor/{{model}}_{{pruner}}_s{{sparsity}}.log",
    conda:
        ENV
    params:
        code=code("noise_floor"),
        model=model_params,
        pruning=PRUNING_PARAMS,
        evaluation=PPL_PARAMS,
        noise=noise_params,
    script:
        "scripts/noise_floor.py"
