# Models the workflow writes itself, offline: built-in tiny models (stdlib corpus -> BPE tokenizer ->
# token streams -> trained models) and GGUF files converted once into a from_pretrained directory.


rule corpus:
    output:
        splits=expand(f"{RESULTS}/corpus/{{split}}.parquet", split=["train", "valid", "test"]),
        info=f"{RESULTS}/corpus/info.json",
    input:
        code=code("corpus"),
    params:
        corpus=config["corpus"],
    log:
        f"{RESULTS}/logs/corpus.log",
    conda:
        ENV
    script:
        "scripts/corpus.py"


rule tokenizer:
    output:
        directory(f"{RESULTS}/tokenizer"),
    input:
        train=f"{RESULTS}/corpus/train.parquet",
        code=code("corpus"),
    params:
        tokenizer=config["tokenizer"],
    log:
        f"{RESULTS}/logs/tokenizer.log",
    conda:
        ENV
    script:
        "scripts/tokenizer.py"


rule corpus_ids:
    output:
        f"{RESULTS}/corpus/{{split}}_ids.safetensors",
    input:
        text=f"{RESULTS}/corpus/{{split}}.parquet",
        tokenizer=f"{RESULTS}/tokenizer",
        code=code("corpus", "data"),
    log:
        f"{RESULTS}/logs/corpus_ids/{{split}}.log",
    conda:
        ENV
    script:
        "scripts/corpus_ids.py"


rule train_tiny:
    output:
        model=directory(f"{RESULTS}/models/{{model}}"),
        curve=f"{RESULTS}/training/{{model}}/curve.parquet",
        summary=f"{RESULTS}/training/{{model}}/summary.parquet",
    input:
        tokenizer=f"{RESULTS}/tokenizer",
        train=f"{RESULTS}/corpus/train_ids.safetensors",
        valid=f"{RESULTS}/corpus/valid_ids.safetensors",
        code=code("zoo", "architectures", "metrics"),
    params:
        model=model_params,
    wildcard_constraints:
        model=one_of(builtin_models()),
    threads: train_threads
    log:
        f"{RESULTS}/logs/train_tiny/{{model}}.log",
    conda:
        ENV
    script:
        "scripts/train_tiny.py"


rule convert_gguf:
    output:
        model=directory(f"{RESULTS}/models/{{model}}"),
        summary=f"{RESULTS}/conversion/{{model}}/summary.parquet",
    input:
        gguf=gguf_file,
        code=code("gguf_source", "families", "zoo"),
    params:
        model=model_params,
    wildcard_constraints:
        model=one_of(gguf_models()),
    log:
        f"{RESULTS}/logs/convert_gguf/{{model}}.log",
    conda:
        ENV
    script:
        "scripts/convert_gguf.py"
