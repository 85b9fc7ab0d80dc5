# Aggregation: the grid tables of docs/results.md, the grid figures, and HTML tables for the report.

SUMMARY_TABLES = [
    "grid",
    "headline",
    "selection",
    "paper_claims",
    "zeroshot",
    "findings",
    "local_gains",
    "absorption",
    "paper_coefficients",
    "allocations",
    "drift",
    "pruning",
]
UNSTRUCTURED = [c for c in CELLS if c.structure == "unstructured"]


# Held-out selection (docs/methods.md 5.4): reads the validation perplexities only, never a test file.
rule select:
    input:
        valid=[f"{RESULTS}/eval/{c.path()}/valid_ppl.parquet" for c in UNSTRUCTURED],
        code=script_code("select"),
    output:
        f"{RESULTS}/selection/choices.parquet",
    log:
        f"{RESULTS}/logs/select.log",
    conda:
        ENV
    params:
        candidates=[asdict(c) for c in selection_candidates(config)],
        seeds=config["calibration"]["seeds"],
    script:
        "scripts/select.py"


rule aggregate:
    input:
        linears=[f"{cell_dir(c)}/linears.parquet" for c in CELLS]
        + [f"{RESULTS}/pruned/{m}/dense/linears.parquet" for m in grid_models()],
        ppl=[f"{d}/ppl.parquet" for d in eval_dirs()],
        valid=[f"{d}/valid_ppl.parquet" for d in eval_dirs()],
        zeroshot=[f"{d}/zeroshot.parquet" for d in eval_dirs()] if ZEROSHOT_TASKS else [],
        choices=f"{RESULTS}/selection/choices.parquet",
        code=script_code("aggregate"),
    output:
        grid=f"{RESULTS}/summary/grid.parquet",
        zeroshot=f"{RESULTS}/summary/zeroshot.parquet",
        headline=f"{RESULTS}/summary/headline.parquet",
        selection=f"{RESULTS}/summary/selection.parquet",
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        ENV
    params:
        names={
            "allocation": {v: name for v, (name, _) in ALLOC_VARIANTS.items()},
            "correction": {v: name for v, (name, _) in CORR_VARIANTS.items()},
        },
        controls={name: hp["of"] for _, (name, hp) in CORR_VARIANTS.items() if "of" in hp},
    script:
        "scripts/aggregate.py"


# Each claim of the abstract beside what this run measured (at the findings' main sparsity).
rule paper_claims:
    input:
        headline=f"{RESULTS}/summary/headline.parquet",
        findings=f"{RESULTS}/summary/findings.parquet",
        code=script_code("paper_claims"),
    output:
        f"{RESULTS}/summary/paper_claims.parquet",
    log:
        f"{RESULTS}/logs/paper_claims.log",
    conda:
        ENV
    params:
        sparsity=config["sweeps"]["main_sparsity"],
    script:
        "scripts/paper_claims.py"


rule grid_figures:
    input:
        allocations=f"{RESULTS}/summary/allocations.parquet",
        grid=f"{RESULTS}/summary/grid.parquet",
        code=script_code("grid_figures"),
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
        chance=chance_level(
            config["evaluation"]["zeroshot"]["tasks"],
            config["evaluation"]["zeroshot"]["codeline"]["n_choices"],
        ),
    script:
        "scripts/grid_figures.py"


# The report opens on the paper's claims against this run's numbers (category 0).
rule claims_page:
    input:
        table=f"{RESULTS}/summary/paper_claims.parquet",
        code=script_code("report_table"),
    output:
        report(
            f"{RESULTS}/report/front/paper_claims.html",
            caption="report/claims.rst",
            category="0 The paper's claims, measured",
        ),
    log:
        f"{RESULTS}/logs/claims_page.log",
    conda:
        ENV
    params:
        table="paper_claims",
    script:
        "scripts/report_table.py"


# The report's first page (Snakefile: `report:` reads it once it exists): the verdict per model and
# base allocation, coloured by sign and significance, the claims, then the workflow description.
rule verdict_page:
    input:
        headline=f"{RESULTS}/summary/headline.parquet",
        claims=f"{RESULTS}/summary/paper_claims.parquet",
        description="rules/report/workflow.rst",
        code=script_code("verdict_page"),
    output:
        VERDICT_PAGE,
    log:
        f"{RESULTS}/logs/verdict_page.log",
    conda:
        ENV
    script:
        "scripts/verdict_page.py"


rule report_table:
    input:
        table=f"{RESULTS}/summary/{{table}}.parquet",
        code=script_code("report_table"),
    output:
        report(
            f"{RESULTS}/report/{{table}}.html",
            caption="report/table.rst",
            category="4 Every summary table",
            labels={"table": "{table}"},
        ),
    log:
        f"{RESULTS}/logs/report_table/{{table}}.log",
    wildcard_constraints:
        table="|".join(SUMMARY_TABLES),
    conda:
        ENV
    params:
        table=lambda w: w.table,
    script:
        "scripts/report_table.py"
