# Data: the exact calibration sequences, and prefetching real models/data sets for offline compute.


rule calibration_tokens:
    input:
        model=model_dir,
        corpus=calibration_corpus,
        code=script_code("calibration_tokens"),
    output:
        f"{seed_dir('calibration')}/tokens.safetensors",
    log:
        f"{RESULTS}/logs/calibration_tokens/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        model=model_params,
        calibration={k: config["calibration"][k] for k in ("source", "n_samples", "seqlen")},
        dataset=dataset_params(config["calibration"]["source"]),
    script:
        "scripts/calibration_tokens.py"


# The audit copy of the first seed's calibration set at the path docs/results.md names.
rule audit_tokens:
    input:
        tokens=f"{seed_dir('calibration', seed=FIRST_SEED)}/tokens.safetensors",
        code=script_code("copy_file"),
    output:
        f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
    log:
        f"{RESULTS}/logs/audit_tokens/{{model}}.log",
    conda:
        ENV
    script:
        "scripts/copy_file.py"


localrules:
    prefetch,
    audit_tokens,


rule prefetch:
    input:
        code=script_code("prefetch"),
    # Run on a machine with internet (a cluster login node) sharing HF_HOME with the compute nodes:
    #   snakemake prefetch --config allow_network=true
    output:
        f"{RESULTS}/prefetch/manifest.json",
    log:
        f"{RESULTS}/logs/prefetch.log",
    conda:
        ENV
    params:
        models=config["models"],
        calibration_source=config["calibration"]["source"],
        ppl_source=config["evaluation"]["ppl_source"],
        datasets=config["datasets"],
        tasks=ZEROSHOT_TASKS,
    script:
        "scripts/prefetch.py"
