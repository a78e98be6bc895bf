"""ensemble-distill: train deep-ensemble teachers and distill them into compact students.

Every stage of the Snakemake pipeline is a ``python -m ensemble_distill.<module>`` command;
the modules here hold all of the logic and are unit-tested without Snakemake.
"""

__version__ = "0.1.0"
