# Evaluation: perplexity and lm-eval zero-shot (docs/methods.md section 1). A pruned cell is measured
# in the job that prunes it (rules/pruning.smk, prune_evaluate); the dense reference here.


# The test text (perplexity) and the validation text (selection), each tokenized once per model.
rule ppl_tokens:
    input:
        model=model_dir,
        corpus=ppl_corpus,
        code=script_code("ppl_tokens"),
    output:
        f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
    log:
        f"{RESULTS}/logs/ppl_tokens/{{model}}.log",
    conda:
        ENV
    params:
        model=model_params,
        source=config["evaluation"]["ppl_source"],
        split="test",
        seqlen=config["evaluation"]["seqlen"],
        dataset=dataset_params(config["evaluation"]["ppl_source"]),
    script:
        "scripts/ppl_tokens.py"


rule valid_tokens:
    input:
        model=model_dir,
        corpus=valid_corpus,
        code=script_code("ppl_tokens"),
    output:
        f"{RESULTS}/eval/{{model}}/valid_tokens.safetensors",
    log:
        f"{RESULTS}/logs/valid_tokens/{{model}}.log",
    conda:
        ENV
    params:
        model=model_params,
        source=config["evaluation"]["valid_source"],
        split="validation",
        seqlen=config["evaluation"]["seqlen"],
        dataset=dataset_params(config["evaluation"]["valid_source"]),
    script:
        "scripts/ppl_tokens.py"


rule evaluate_dense:
    input:
        ppl_tokens=f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
        valid_tokens=f"{RESULTS}/eval/{{model}}/valid_tokens.safetensors",
        data=zeroshot_data,
        model=model_dir,
        code=script_code("evaluate_dense"),
    # The dense reference: its zeros per linear, perplexity and zero-shot accuracy.
    output:
        **cell_outputs(f"{RESULTS}/pruned/{{model}}/dense", f"{RESULTS}/eval/{{model}}/dense", dense=True),
    log:
        f"{RESULTS}/logs/evaluate_dense/{{model}}.log",
    conda:
        ENV
    params:
        model=model_params,
        evaluation=PPL_PARAMS,
        zeroshot=ZEROSHOT_PARAMS,
    script:
        "scripts/evaluate_dense.py"


rule zeroshot_data:
    input:
        corpus=f"{RESULTS}/corpus/test.parquet",
        code=script_code("zeroshot_data"),
    # The built-in multiple-choice task's documents, once for every model.
    output:
        f"{RESULTS}/eval/zeroshot/codeline.parquet",
    log:
        f"{RESULTS}/logs/zeroshot_data.log",
    conda:
        ENV
    params:
        codeline=config["evaluation"]["zeroshot"]["codeline"],
    script:
        "scripts/zeroshot_data.py"
