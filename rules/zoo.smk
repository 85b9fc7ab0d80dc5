# Models the workflow writes itself, offline: built-in tiny models (stdlib corpus -> BPE tokenizer ->
# token streams -> trained models) and GGUF files converted once into a from_pretrained directory.


rule corpus:
    input:
        code=script_code("corpus"),
    output:
        splits=expand(f"{RESULTS}/corpus/{{split}}.parquet", split=["train", "valid", "test"]),
        info=f"{RESULTS}/corpus/info.json",
    log:
        f"{RESULTS}/logs/corpus.log",
    conda:
        ENV
    params:
        corpus=config["corpus"],
    script:
        "scripts/corpus.py"


rule tokenizer:
    input:
        train=f"{RESULTS}/corpus/train.parquet",
        code=script_code("tokenizer"),
    output:
        directory(f"{RESULTS}/tokenizer"),
    log:
        f"{RESULTS}/logs/tokenizer.log",
    conda:
        ENV
    params:
        tokenizer=config["tokenizer"],
    script:
        "scripts/tokenizer.py"


rule corpus_ids:
    input:
        text=f"{RESULTS}/corpus/{{split}}.parquet",
        tokenizer=f"{RESULTS}/tokenizer",
        code=script_code("corpus_ids"),
    output:
        f"{RESULTS}/corpus/{{split}}_ids.safetensors",
    log:
        f"{RESULTS}/logs/corpus_ids/{{split}}.log",
    conda:
        ENV
    script:
        "scripts/corpus_ids.py"


rule train_tiny:
    input:
        tokenizer=f"{RESULTS}/tokenizer",
        train=f"{RESULTS}/corpus/train_ids.safetensors",
        valid=f"{RESULTS}/corpus/valid_ids.safetensors",
        code=script_code("train_tiny"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}"),
        curve=f"{RESULTS}/training/{{model}}/curve.parquet",
        summary=f"{RESULTS}/training/{{model}}/summary.parquet",
    log:
        f"{RESULTS}/logs/train_tiny/{{model}}.log",
    wildcard_constraints:
        model=one_of(builtin_models()),
    conda:
        ENV
    threads: train_threads
    params:
        model=model_params,
    script:
        "scripts/train_tiny.py"


rule convert_gguf:
    input:
        gguf=gguf_file,
        code=script_code("convert_gguf"),
    output:
        model=directory(f"{RESULTS}/models/{{model}}"),
        summary=f"{RESULTS}/conversion/{{model}}/summary.parquet",
    log:
        f"{RESULTS}/logs/convert_gguf/{{model}}.log",
    wildcard_constraints:
        model=one_of(gguf_models()),
    conda:
        ENV
    params:
        model=model_params,
    script:
        "scripts/convert_gguf.py"
