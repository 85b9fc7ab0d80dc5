# Calibration statistics (docs/methods.md section 2; src/absorbprune/calibration/): the weights'
# statistics once per model (AlphaPruning's alpha: no calibration data), then one dense pass per
# calibration seed.


rule weight_stats:
    input:
        model=model_dir,
    output:
        f"{RESULTS}/calibration/{{model}}/weight_stats.parquet",
    log:
        f"{RESULTS}/logs/weight_stats/{{model}}.log",
    conda:
        ENV
    params:
        code=code("weight_stats"),
        model=model_params,
        alpha_window=config["calibration"]["alpha_xmin_window"],
    script:
        "scripts/weight_stats.py"


rule calibrate:
    input:
        tokens=rules.calibration_tokens.output[0],
        weights=rules.weight_stats.output[0],
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
    script:
        "scripts/calibrate.py"
