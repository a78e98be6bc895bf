localrules:
    provenance_summary,


# For the HTML report: which commit, host and SLURM job made each table and figure.
rule provenance_summary:
    input:
        code=code("provenance"),
        records=result_records,
    output:
        csv=report(
            "results/provenance_summary.csv",
            caption="../report/provenance_summary.rst",
            category="Provenance",
            labels={"table": "provenance of tables and figures"},
        ),
        provenance="results/provenance_summary.provenance.json",
    log:
        "logs/provenance_summary/provenance_summary.log",
    benchmark:
        "benchmarks/provenance_summary/provenance_summary.tsv"
    conda:
        "../../envs/analysis.yaml"
    shell:
        "python -m ensemble_distill.provenance --records {input.records} "
        "--out {output.csv} > {log} 2>&1"
