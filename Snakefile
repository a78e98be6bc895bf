# ensemble-distill: deep-ensemble teachers -> distilled students -> predictions -> metrics
# -> tables and figures. Paths: results/{exp}/{stage}/..., logs/{rule}/{exp}/...,
# benchmarks/{rule}/{exp}/... All logic lives in workflow/ensemble_distill (python -m ...).
import os
import sys

from snakemake.utils import min_version

min_version("9.20")

# Jobs run `python -m ensemble_distill...`: make the package importable in every job (also
# in conda envs that lack it), and let `python` be the interpreter running Snakemake unless
# a rule's conda env (--sdm conda) puts its own first.
PACKAGE_ROOT = os.path.join(workflow.basedir, "workflow")
sys.path.insert(0, PACKAGE_ROOT)
for var, path in (("PYTHONPATH", PACKAGE_ROOT), ("PATH", os.path.dirname(sys.executable))):
    os.environ[var] = os.pathsep.join(filter(None, [path, os.environ.get(var)]))

from ensemble_distill.config import load_yaml, validate_config
from ensemble_distill.jobguard import PARENT_ENV, pass_stop_signals_on

# Training jobs stop when this process is gone (jobguard.py): a SIGKILLed Snakemake cannot
# stop them itself.
os.environ[PARENT_ENV] = str(os.getpid())

load_yaml("config.yaml")  # a syntax error names the file and line (Snakemake's does not)


configfile: "config.yaml"


report: "workflow/report/workflow.rst"


validate_config(config)


onstart:
    # SIGTERM/SIGINT to Snakemake stop the running jobs, which save their state (jobguard.py).
    pass_stop_signals_on(local=workflow.local_exec)
    if workflow.local_exec and config["device"] == "cuda":  # jobs run here: a missing GPU
        from ensemble_distill.jobs import pick_device  # is known before the first one

        pick_device(config["device"])


include: "workflow/rules/common.smk"


# From a results bundle (bundle.py) only tables, figures and the report: its files are
# their inputs, and no job that needs data or checkpoints exists to be planned.
if not config["bundle"]:

    include: "workflow/rules/data.smk"
    include: "workflow/rules/teachers.smk"
    include: "workflow/rules/distill.smk"
    include: "workflow/rules/evaluate.smk"
    include: "workflow/rules/analysis.smk"


include: "workflow/rules/tables.smk"
include: "workflow/rules/figures.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        PLAN.results,
        [] if config["bundle"] else PLAN.manifests,  # changed folders rebuilt (manifest.py)
        out("provenance_summary", "csv"),
    default_target: True
