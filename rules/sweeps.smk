# Perturbation sweeps (docs/methods.md section 5), per calibration seed: one magnitude job, one prune
# job per sparsity.


rule sweep_magnitude:
    input:
        tokens=f"{seed_dir('calibration')}/tokens.safetensors",
        norms=f"{seed_dir('calibration')}/input_norms.safetensors",
        model=model_dir,
        code=script_code("sweep_magnitude"),
    output:
        f"{seed_dir('sweeps')}/magnitude.parquet",
    log:
        f"{RESULTS}/logs/sweep_magnitude/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        model=model_params,
        sweeps=sweep_params(),
    script:
        "scripts/sweep_magnitude.py"


rule sweep_prune:
    input:
        tokens=f"{seed_dir('calibration')}/tokens.safetensors",
        norms=f"{seed_dir('calibration')}/input_norms.safetensors",
        model=model_dir,
        code=script_code("sweep_prune"),
    output:
        f"{seed_dir('sweeps')}/prune_s{{sparsity}}.parquet",
    log:
        f"{RESULTS}/logs/sweep_prune/{{model}}_s{{sparsity}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        model=model_params,
        sweeps={k: config["sweeps"][k] for k in ("n_sweep", "memory_budget_gb", "max_tokens_per_forward")},
    script:
        "scripts/sweep_prune.py"
