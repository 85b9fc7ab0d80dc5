# Evaluation: perplexity (METHODS section 1) and lm-eval zero-shot of every cell and dense model,
# in the same job that prunes the cell.


rule ppl_tokens:
    output:
        f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
    input:
        model=model_dir,
        corpus=ppl_corpus,
        code=code("data"),
    params:
        model=model_params,
        source=config["evaluation"]["ppl_source"],
        dataset=dataset_params(config["evaluation"]["ppl_source"]),
    log:
        f"{RESULTS}/logs/ppl_tokens/{{model}}.log",
    conda:
        ENV
    script:
        "scripts/ppl_tokens.py"


# One job per cell prunes it in memory and measures it: loading the model once saves a start-up of
# torch + transformers + the model per cell, and at paper scale a multi-GB weights file per cell.
rule prune_evaluate:
    output:
        **cell_outputs(f"{RESULTS}/pruned/{CELL_PATTERN}", f"{RESULTS}/eval/{CELL_PATTERN}"),
    input:
        allocation=f"{RESULTS}/allocations/{{model}}/{{allocation}}/{{correction}}/s{{sparsity}}.parquet",
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        ppl_tokens=f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
        data=zeroshot_data,
        model=model_dir,
        code=code("pruning", "families", "evaluation", "metrics", "zeroshot"),
    params:
        model=model_params,
        pruning=PRUNING_PARAMS,
        evaluation=PPL_PARAMS,
        zeroshot=ZEROSHOT_PARAMS,
    log:
        f"{RESULTS}/logs/prune_evaluate/{CELL_LOG}.log",
    conda:
        ENV
    script:
        "scripts/prune_evaluate.py"


rule evaluate_dense:
    # The dense reference: its zeros per linear, perplexity and zero-shot accuracy.
    output:
        **cell_outputs(f"{RESULTS}/pruned/{{model}}/dense", f"{RESULTS}/eval/{{model}}/dense", dense=True),
    input:
        ppl_tokens=f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
        data=zeroshot_data,
        model=model_dir,
        code=code("pruning", "families", "evaluation", "metrics", "zeroshot"),
    params:
        model=model_params,
        evaluation=PPL_PARAMS,
        zeroshot=ZEROSHOT_PARAMS,
    log:
        f"{RESULTS}/logs/prune_evaluate/{{model}}/dense.log",
    conda:
        ENV
    script:
        "scripts/prune_evaluate.py"


rule zeroshot_data:
    # The built-in multiple-choice task's documents, once for every model.
    output:
        f"{RESULTS}/eval/zeroshot/codeline.parquet",
    input:
        corpus=f"{RESULTS}/corpus/test.parquet",
        code=code("zeroshot"),
    params:
        codeline=config["evaluation"]["zeroshot"]["codeline"],
    log:
        f"{RESULTS}/logs/zeroshot_data.log",
    conda:
        ENV
    script:
        "scripts/zeroshot_data.py"
