# Perturbation sweeps (METHODS section 5): one magnitude job per model, one prune job per sparsity.


rule sweep_magnitude:
    output:
        f"{RESULTS}/sweeps/{{model}}/magnitude.parquet",
    input:
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        norms=f"{RESULTS}/calibration/{{model}}/input_norms.safetensors",
        model=model_dir,
        code=code("sweeps", "pruning", "families"),
    params:
        model=model_params,
        sweeps=sweep_params(),
    log:
        f"{RESULTS}/logs/sweep_magnitude/{{model}}.log",
    conda:
        ENV
    script:
        "scripts/sweep_magnitude.py"


rule sweep_prune:
    output:
        f"{RESULTS}/sweeps/{{model}}/prune_s{{sparsity}}.parquet",
    input:
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        norms=f"{RESULTS}/calibration/{{model}}/input_norms.safetensors",
        model=model_dir,
        code=code("sweeps", "pruning", "families"),
    params:
        model=model_params,
        sweeps={k: config["sweeps"][k] for k in ("n_sweep", "memory_budget_gb", "max_tokens_per_forward")},
    log:
        f"{RESULTS}/logs/sweep_prune/{{model}}_s{{sparsity}}.log",
    conda:
        ENV
    script:
        "scripts/sweep_prune.py"
