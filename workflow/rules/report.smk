localrules:
    provenance_summary,


# For the HTML report: which commit, host and SLURM job made each table and figure.
rule provenance_summary:
    input:
        code=code("provenance"),
        records=get_result_records,
    output:
        csv=report(
            out("provenance_summary", "csv"),
            caption="../report/provenance_summary.rst",
            category="Provenance",
            labels={"table": "provenance of tables and figures"},
        ),
        provenance=out("provenance_summary", "provenance"),
    log:
        "logs/provenance_summary/provenance_summary.log",
    benchmark:
        "benchmarks/provenance_summary/provenance_summary.tsv"
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.provenance --records {input.records} "
        "--out {output.csv} > {log} 2>&1"
