# Perturbation sweeps (docs/methods.md section 5): one magnitude job per model, one prune job per sparsity.


rule sweep_magnitude:
    input:
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        norms=f"{RESULTS}/calibration/{{model}}/input_norms.safetensors",
        model=model_dir,
        code=script_code("sweep_magnitude"),
    output:
        f"{RESULTS}/sweeps/{{model}}/magnitude.parquet",
    log:
        f"{RESULTS}/logs/sweep_magnitude/{{model}}.log",
    conda:
        ENV
    params:
        model=model_params,
        sweeps=sweep_params(),
    script:
        "scripts/sweep_magnitude.py"


rule sweep_prune:
    input:
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        norms=f"{RESULTS}/calibration/{{model}}/input_norms.safetensors",
        model=model_dir,
        code=script_code("sweep_prune"),
    output:
        f"{RESULTS}/sweeps/{{model}}/prune_s{{sparsity}}.parquet",
    log:
        f"{RESULTS}/logs/sweep_prune/{{model}}_s{{sparsity}}.log",
    conda:
        ENV
    params:
        model=model_params,
        sweeps={k: config["sweeps"][k] for k in ("n_sweep", "memory_budget_gb", "max_tokens_per_forward")},
    script:
        "scripts/sweep_prune.py"
