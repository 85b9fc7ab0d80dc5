# Calibration statistics: one dense pass per model (METHODS section 2).


rule calibrate:
    output:
        stats=f"{RESULTS}/calibration/{{model}}/layer_stats.parquet",
        norms=f"{RESULTS}/calibration/{{model}}/input_norms.safetensors",
    input:
        tokens=f"{RESULTS}/calibration/{{model}}/tokens.safetensors",
        model=model_dir,
        code=code("calibration", "families"),
    params:
        model=model_params,
        batch_size=config["calibration"]["batch_size"],
        owl_m=config["calibration"]["owl_M"],
        alpha_window=config["calibration"]["alpha_xmin_window"],
    log:
        f"{RESULTS}/logs/calibrate/{{model}}.log",
    conda:
        ENV
    script:
        "scripts/calibrate.py"
