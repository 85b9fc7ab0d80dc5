# Models the workflow writes itself, offline (docs/methods.md 1.2; src/absorbprune/models/): the
# built-in tiny models, trained on the built-in corpus, and GGUF files converted once into a
# from_pretrained directory.


rule train_tiny:
    input:
        tokenizer=f"{RESULTS}/tokenizer",
        train=f"{RESULTS}/corpus/train_ids.safetensors",
        valid=f"{RESULTS}/corpus/valid_ids.safetensors",
    output:
        model=directory(f"{RESULTS}/models/{{model}}"),
        curve=f"{RESULTS}/training/{{model}}/curve.parquet",
        summary=f"{RESULTS}/training/{{model}}/summary.parquet",
    log:
        f"{RESULTS}/logs/train_tiny/{{model}}.log",
    wildcard_constraints:
        model=one_of(models_of("builtin")),
    conda:
        ENV
    threads: train_threads
    params:
        code=code("train_tiny"),
        model=model_params,
    script:
        "scripts/train_tiny.py"


rule convert_gguf:
    input:
        gguf=gguf_files,
    output:
        model=directory(f"{RESULTS}/models/{{model}}"),
        summary=f"{RESULTS}/conversion/{{model}}/summary.parquet",
    log:
        f"{RESULTS}/logs/convert_gguf/{{model}}.log",
    wildcard_constraints:
        model=one_of(models_of("gguf")),
    conda:
        ENV
    params:
        code=code("convert_gguf"),
        model=model_params,
    script:
        "scripts/convert_gguf.py"


# A chunked GGUF file's sha256 is checked before any job while its conversion is pending:
# validation read only the headers, and this reads the whole file (about a second per 500 MB).
_wrong_chunks = pending_chunk_problems(
    config, lambda m: os.path.exists(rules.convert_gguf.output.summary.format(model=m))
)
if _wrong_chunks:
    raise ConfigError("invalid configuration:\n  " + "\n  ".join(_wrong_chunks))
