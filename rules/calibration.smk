# Calibration statistics (docs/methods.md section 2; src/absorbprune/calibration/): one dense pass
# per model and calibration seed.


rule calibrate:
    input:
        tokens=rules.calibration_tokens.output[0],
        model=model_dir,
    output:
        stats=f"{seed_dir('calibration')}/layer_stats.parquet",
        norms=f"{seed_dir('calibration')}/input_norms.safetensors",
    log:
        f"{RESULTS}/logs/calibrate/{{model}}_seed{{seed}}.log",
    conda:
        ENV
    params:
        code=code("calibrate"),
        model=model_params,
        batch_size=config["calibration"]["batch_size"],
        owl_m=owl_thresholds(config),
        alpha_window=config["calibration"]["alpha_xmin_window"],
    script:
        "scripts/calibrate.py"
