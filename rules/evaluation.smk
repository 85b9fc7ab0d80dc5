# Evaluation: perplexity (METHODS section 1) and lm-eval zero-shot of every cell and dense model.


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


rule ppl:
    output:
        f"{RESULTS}/eval/{CELL_PATTERN}/ppl.parquet",
    input:
        weights=f"{RESULTS}/pruned/{CELL_PATTERN}/weights.safetensors",
        tokens=f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
        model=model_dir,
        code=code("evaluation", "metrics"),
    params:
        model=model_params,
        evaluation=PPL_PARAMS,
    log:
        f"{RESULTS}/logs/ppl/{CELL_LOG}.log",
    conda:
        ENV
    script:
        "scripts/ppl.py"


rule ppl_dense:
    output:
        f"{RESULTS}/eval/{{model}}/dense/ppl.parquet",
    input:
        tokens=f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
        model=model_dir,
        code=code("evaluation", "metrics"),
    params:
        model=model_params,
        evaluation=PPL_PARAMS,
    log:
        f"{RESULTS}/logs/ppl/{{model}}/dense.log",
    conda:
        ENV
    script:
        "scripts/ppl.py"


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


rule zeroshot:
    output:
        table=f"{RESULTS}/eval/{CELL_PATTERN}/zeroshot.parquet",
        raw=f"{RESULTS}/eval/{CELL_PATTERN}/zeroshot.json",
    input:
        weights=f"{RESULTS}/pruned/{CELL_PATTERN}/weights.safetensors",
        data=zeroshot_data,
        model=model_dir,
        code=code("zeroshot", "evaluation"),
    params:
        model=model_params,
        zeroshot=ZEROSHOT_PARAMS,
    log:
        f"{RESULTS}/logs/zeroshot/{CELL_LOG}.log",
    conda:
        ENV
    script:
        "scripts/zeroshot.py"


rule zeroshot_dense:
    output:
        table=f"{RESULTS}/eval/{{model}}/dense/zeroshot.parquet",
        raw=f"{RESULTS}/eval/{{model}}/dense/zeroshot.json",
    input:
        data=zeroshot_data,
        model=model_dir,
        code=code("zeroshot", "evaluation"),
    params:
        model=model_params,
        zeroshot=ZEROSHOT_PARAMS,
    log:
        f"{RESULTS}/logs/zeroshot/{{model}}/dense.log",
    conda:
        ENV
    script:
        "scripts/zeroshot.py"
