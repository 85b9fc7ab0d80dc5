# Calibration statistics: one dense pass per model (docs/methods.md section 2).


rule calibrate:
    input:
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        model=model_dir,
        code=script_code("calibrate"),
    output:
        stats=f"{RESULTS}/calibration/{{model}}/layer_stats.parquet",
        norms=f"{RESULTS}/calibration/{{model}}/input_norms.safetensors",
    log:
        f"{RESULTS}/logs/calibrate/{{model}}.log",
    conda:
        ENV
    params:
        model=model_params,
        batch_size=config["calibration"]["batch_size"],
        owl_m=owl_thresholds(config),
        alpha_window=config["calibration"]["alpha_xmin_window"],
    script:
        "scripts/calibrate.py"
