# Calibration statistics: one dense pass per model (docs/methods.md section 2).


rule calibrate:
    input:
        tokens=f"{seed_dir('calibration')}/tokens.safetensors",
        model=model_dir,
        code=script_code("calibrate"),
    output:
        stats=f"{seed_dir('calibration')}/layer_stats.parquet",
        norms=f"{seed_dir('calibration')}/input_norms.safetensors",
    log:
        f"{RESULTS}/logs/calibrate/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        model=model_params,
        batch_size=config["calibration"]["batch_size"],
        owl_m=owl_thresholds(config),
        alpha_window=config["calibration"]["alpha_xmin_window"],
    script:
        "scripts/calibrate.py"
