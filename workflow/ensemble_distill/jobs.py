"""What every stage's job shares: the device, torch's thread count, log lines, the
command-line options of the training jobs, and the fingerprint tying resume state to one
job's settings."""

import hashlib
import json
import os
import time

import torch

from . import jobguard


def pick_device(name="auto"):
    """The job's torch device; ``cuda`` where torch sees no GPU stops with the config key
    (not at ``snakemake -n``: a cluster's login node has no GPU, its jobs do; a local run
    checks before its first job: the Snakefile's ``onstart``)."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise SystemExit(
            f"config key 'device' is '{name}', but torch sees no GPU on {os.uname().nodename}: "
            "run this job where a GPU is (configs/gpu.yaml asks SLURM for one) or set "
            "device: auto"
        )
    return torch.device(name)


def configure_torch(threads):
    """Pin intra-op threads to the job's share of cores (Snakemake's ``{threads}``)."""
    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)


def log(message):
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def fingerprint(*parts):
    """A short stable hash of JSON-able settings, to tie resume state to one job."""
    blob = json.dumps(parts, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def add_job_arguments(parser, resume_help, seeds=False):
    """Options every training CLI takes: data, seed (or seeds of a pack), device, threads,
    resume state, output."""
    parser.add_argument("--data", required=True, help="dataset splits (.npz, see datasets.py)")
    if seeds:
        parser.add_argument("--seeds", type=int, nargs="+", required=True)
    else:
        parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--resume", required=True, help=resume_help)
    parser.add_argument("--out", required=True)
    jobguard.add_log_argument(parser)
