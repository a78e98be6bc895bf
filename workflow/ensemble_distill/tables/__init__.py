"""Paper-style tables from Parquet (``python -m ensemble_distill.tables <table> ...``).

- ``format``: the formatting kernel (mean ± std, Markdown, paired intervals);
- ``hydra``: the Hydra paper's tables (summary/Table 2, MU gap/Table 1, OOD, cost/Table 5,
  regression and UCI/Table 4);
- ``diversity``: the Diversity Matters tables (DE-k, calibrated metrics, DEE, mean-KLD,
  paired differences; corruptions/Table 3);
- ``__main__``: the command line, one sub-command per table.
"""
