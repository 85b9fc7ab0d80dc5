# Reporting (docs/methods.md 5.4-5.5, docs/results.md; src/absorbprune/reporting/): held-out
# selection, the summary tables, the paper's claims, the figures and the report's pages.


# Held-out selection (docs/methods.md 5.4), one job per selection group: it reads its candidates'
# validation perplexities only, never a test file. A checkpoint: the jobs that need a group's chosen
# cell (its zero-shot, its export) are planned once the choice is made, and depend on that group's
# choice alone.
checkpoint select:
    input:
        valid=select_inputs,
    output:
        choice_file(GROUP_PATTERN),
    log:
        f"{RESULTS}/logs/select/{GROUP_PATTERN}.log",
    conda:
        ENV
    params:
        code=code("select"),
        candidates=select_candidates,
        seeds=SEEDS,
    script:
        "scripts/select.py"


# evaluation.zeroshot.cells: selected: zero-shot on a cell some group chose (re-pruned from its
# files, its test perplexity checked against the grid's first).
rule zeroshot_cell:
    input:
        allocation=rules.allocate.output[0],
        tokens=rules.calibration_tokens.output[0],
        ppl=rules.prune_evaluate.output.ppl,
        ppl_tokens=rules.ppl_tokens.output[0],
        documents=task_documents,
        model=model_dir,
        canary=rules.zeroshot_dense.output.zeroshot,  # the dense model's tasks ran first
    output:
        zeroshot=f"{RESULTS}/eval/{CELL_PATTERN}/zeroshot_selected.parquet",
        raw=f"{RESULTS}/eval/{CELL_PATTERN}/zeroshot_selected.json",
    log:
        f"{RESULTS}/logs/zeroshot_cell/{CELL_LOG_PATTERN}.log",
    conda:
        ENV
    params:
        code=code("zeroshot_cell"),
        model=model_params,
        pruning=PRUNING_PARAMS,
        evaluation=PPL_PARAMS,
        zeroshot=ZEROSHOT_PARAMS,
    script:
        "scripts/zeroshot_cell.py"


rule aggregate:
    input:
        linears=[f"{cell_dir('pruned', c)}/linears.parquet" for c in CELLS]
        + [f"{dense_dir('pruned', m)}/linears.parquet" for m in grid_models()],
        ppl=[f"{d}/ppl.parquet" for d in eval_dirs()],
        valid=[f"{d}/valid_ppl.parquet" for d in eval_dirs()],
        zeroshot=zeroshot_tables,
        choices=[choice_file(path) for path in GROUPS],
        noise=[noise_file(c) for c in NOISE_CELLS.values()],
    output:
        grid=f"{RESULTS}/summary/grid.parquet",
        zeroshot=f"{RESULTS}/summary/zeroshot.parquet",
        headline=f"{RESULTS}/summary/headline.parquet",
        selection=f"{RESULTS}/summary/selection.parquet",
        noise_floor=f"{RESULTS}/summary/noise_floor.parquet",
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        ENV
    params:
        code=code("aggregate"),
        controls={name: hp["of"] for _, (name, hp) in CORR_VARIANTS.items() if "of" in hp},
        zeroshot_cells=ZEROSHOT["cells"],
        uncertainty=config["evaluation"]["uncertainty"],
    script:
        "scripts/aggregate.py"


# Each claim of the abstract beside what this run measured (at the findings' main sparsity).
rule paper_claims:
    input:
        headline=rules.aggregate.output.headline,
        findings=rules.sweep_summary.output.findings,
        readings=rules.coefficient_readings.output[0],
    output:
        f"{RESULTS}/summary/paper_claims.parquet",
    log:
        f"{RESULTS}/logs/paper_claims.log",
    conda:
        ENV
    params:
        code=code("paper_claims"),
        sparsity=config["sweeps"]["main_sparsity"],
    script:
        "scripts/paper_claims.py"


# The drift and transition figures show the first calibration seed's sweep; the local gains pool them.
rule sweep_figures:
    input:
        prune=expand(rules.sweep_prune.output[0], seed=FIRST_SEED, allow_missing=True),
        magnitude=expand(rules.sweep_magnitude.output[0], seed=FIRST_SEED, allow_missing=True),
        coefficients=expand(
            rules.absorption.output.coefficients,
            seed=FIRST_SEED,
            sparsity=SWEEP_SPARSITIES,
            allow_missing=True,
        ),
        gains=rules.findings.output.gains,
    output:
        drift=report(
            f"{RESULTS}/figures/{{model}}/drift_depth.png",
            caption="report/drift_depth.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
        transition=report(
            f"{RESULTS}/figures/{{model}}/transition.png",
            caption="report/transition.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
        absorption=report(
            f"{RESULTS}/figures/{{model}}/absorption.png",
            caption="report/absorption.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
        local_gains=report(
            f"{RESULTS}/figures/{{model}}/local_gains.png",
            caption="report/local_gains.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
    log:
        f"{RESULTS}/logs/sweep_figures/{{model}}.log",
    conda:
        ENV
    params:
        code=code("sweep_figures"),
        main_sparsity=config["sweeps"]["main_sparsity"],
    script:
        "scripts/sweep_figures.py"


rule readings_figures:
    input:
        readings=rules.coefficient_readings.output[0],
    output:
        readings=report(
            f"{RESULTS}/figures/{{model}}/coefficient_readings.png",
            caption="report/coefficient_readings.rst",
            category="1 Do early blocks amplify and later blocks absorb?",
            subcategory="{model}",
        ),
    log:
        f"{RESULTS}/logs/readings_figures/{{model}}.log",
    conda:
        ENV
    params:
        code=code("readings_figures"),
    script:
        "scripts/readings_figures.py"


rule grid_figures:
    input:
        allocations=rules.allocation_summary.output.allocations,
        grid=rules.aggregate.output.grid,
    output:
        allocations=report(
            f"{RESULTS}/figures/{{model}}/allocations.png",
            caption="report/allocations.rst",
            category="2 How does each correction reshape the allocation?",
            subcategory="{model}",
        ),
        grid=report(
            f"{RESULTS}/figures/{{model}}/grid.png",
            caption="report/grid.rst",
            category="3 Does the correction lower perplexity and raise accuracy?",
            subcategory="{model}",
        ),
    log:
        f"{RESULTS}/logs/grid_figures/{{model}}.log",
    conda:
        ENV
    params:
        code=code("grid_figures"),
        chance=chance_level(ZEROSHOT["tasks"], ZEROSHOT),
        controls=CONTROLS,
    script:
        "scripts/grid_figures.py"


# The report opens on what the correction did and the paper's claims against this run's numbers.
rule claims_page:
    input:
        table=rules.paper_claims.output[0],
    output:
        report(
            f"{RESULTS}/report/front/paper_claims.html",
            caption="report/claims.rst",
            category="0 The verdict and the paper's claims",
        ),
    log:
        f"{RESULTS}/logs/claims_page.log",
    conda:
        ENV
    params:
        code=code("report_table"),
    script:
        "scripts/report_table.py"


# The verdict per model and base allocation, coloured by sign and significance, then the claims.
# Each uncorrected baseline beside its published perplexity, where one exists (a set-up check).
rule reference_check:
    input:
        grid=rules.aggregate.output.grid,
    output:
        table=f"{RESULTS}/summary/reference_check.parquet",
        page=report(
            f"{RESULTS}/report/front/reference_check.html",
            caption="report/reference_check.rst",
            category="0 The verdict and the paper's claims",
        ),
    log:
        f"{RESULTS}/logs/reference_check.log",
    conda:
        ENV
    params:
        code=code("reference_check"),
        config={k: config[k] for k in ("models", "calibration", "evaluation", "allocation", "grid")},
    script:
        "scripts/reference_check.py"


rule verdict_page:
    input:
        headline=rules.aggregate.output.headline,
        claims=rules.paper_claims.output[0],
        grid=rules.aggregate.output.grid,
    output:
        report(
            f"{RESULTS}/report/front/verdict.html",
            caption="report/verdict.rst",
            category="0 The verdict and the paper's claims",
        ),
    log:
        f"{RESULTS}/logs/verdict_page.log",
    conda:
        ENV
    params:
        code=code("verdict_page"),
    script:
        "scripts/verdict_page.py"


rule report_table:
    input:
        table=f"{RESULTS}/summary/{{table}}.parquet",
    output:
        report(
            f"{RESULTS}/report/{{table}}.html",
            caption="report/table.rst",
            category="4 Every summary table",
            labels={"table": "{table}"},
        ),
    log:
        f"{RESULTS}/logs/report_table/{{table}}.log",
    conda:
        ENV
    params:
        code=code("report_table"),
    script:
        "scripts/report_table.py"
