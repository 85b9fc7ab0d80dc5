# Evaluation: perplexity of every cell and dense model (METHODS section 1).


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
        f"{RESULTS}/eval/{{model}}/{{pruner}}/{{structure}}/{{allocation}}/{{correction}}/s{{sparsity}}/ppl.parquet",
    input:
        weights=f"{RESULTS}/pruned/{{model}}/{{pruner}}/{{structure}}/{{allocation}}/{{correction}}/s{{sparsity}}/weights.safetensors",
        tokens=f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
        model=model_dir,
        code=code("evaluation", "metrics"),
    params:
        model=model_params,
        evaluation=config["evaluation"],
    log:
        f"{RESULTS}/logs/ppl/{{model}}/{{pruner}}_{{structure}}_{{allocation}}_{{correction}}_s{{sparsity}}.log",
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
        evaluation=config["evaluation"],
    log:
        f"{RESULTS}/logs/ppl/{{model}}/dense.log",
    conda:
        ENV
    script:
        "scripts/ppl.py"


rule ppl_summary:
    output:
        f"{RESULTS}/summary/ppl.parquet",
    input:
        [f"{RESULTS}/eval/{c.model}/{c.pruner}/{c.structure}/{c.allocation}/{c.correction}/s{c.sparsity}/ppl.parquet"
         for c in CELLS]
        + [f"{RESULTS}/eval/{m}/dense/ppl.parquet" for m in grid_models()],
    log:
        f"{RESULTS}/logs/ppl_summary.log",
    conda:
        ENV
    script:
        "scripts/concat_tables.py"
