# Aggregation: the grid tables of docs/results.md, the grid figures, and HTML tables for the report.

SUMMARY_TABLES = ["grid", "headline", "zeroshot", "findings", "absorption", "allocations", "drift", "pruning"]


rule aggregate:
    input:
        linears=[f"{cell_dir(c)}/linears.parquet" for c in CELLS]
        + [f"{RESULTS}/pruned/{m}/dense/linears.parquet" for m in grid_models()],
        ppl=[f"{d}/ppl.parquet" for d in eval_dirs()],
        zeroshot=[f"{d}/zeroshot.parquet" for d in eval_dirs()] if ZEROSHOT_TASKS else [],
        code=script_code("aggregate"),
    output:
        grid=f"{RESULTS}/summary/grid.parquet",
        zeroshot=f"{RESULTS}/summary/zeroshot.parquet",
        headline=f"{RESULTS}/summary/headline.parquet",
    log:
        f"{RESULTS}/logs/aggregate.log",
    conda:
        ENV
    script:
        "scripts/aggregate.py"


rule grid_figures:
    input:
        allocations=f"{RESULTS}/summary/allocations.parquet",
        grid=f"{RESULTS}/summary/grid.parquet",
        code=script_code("grid_figures"),
    output:
        allocations=report(
            f"{RESULTS}/figures/{{model}}/allocations.png",
            caption="report/allocations.rst",
            category="2 Allocation",
            subcategory="{model}",
        ),
        grid=report(
            f"{RESULTS}/figures/{{model}}/grid.png",
            caption="report/grid.rst",
            category="3 Evaluation",
            subcategory="{model}",
        ),
    log:
        f"{RESULTS}/logs/grid_figures/{{model}}.log",
    conda:
        ENV
    script:
        "scripts/grid_figures.py"


rule report_table:
    input:
        table=f"{RESULTS}/summary/{{table}}.parquet",
        code=script_code("report_table"),
    output:
        report(
            f"{RESULTS}/report/{{table}}.html",
            caption="report/table.rst",
            category="4 Tables",
            labels={"table": "{table}"},
        ),
    log:
        f"{RESULTS}/logs/report_table/{{table}}.log",
    wildcard_constraints:
        table="|".join(SUMMARY_TABLES),
    conda:
        ENV
    script:
        "scripts/report_table.py"
