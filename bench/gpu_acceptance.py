"""GPU acceptance check: one command, no network, about 8 minutes on one H100/H200.

Usage::

    python bench/gpu_acceptance.py --out acceptance/                  # on a GPU node
    python bench/gpu_acceptance.py --device cpu --tiny --out /tmp/acc  # its plumbing (CI)

Writes ``<out>/acceptance.json`` and ``<out>/acceptance.md``, and keeps the workflow run it
made under ``<out>/workflow/`` (results, logs, benchmarks) and its output in
``<out>/workflow.log``. Four parts (``--parts``):

- ``throughput``: images/s of the pipeline's own training and evaluation code
  (bench/cifar_throughput.py) with bf16 autocast and channels_last: ResNet-20 teachers
  (eager and compiled, one network and a pack of 8), ResNet-32 and WRN-28-10 teachers,
  BatchEnsemble-4 distillation from 4 ResNet-32 teachers with KD and with ODS, and a
  4-network ensemble's evaluation; with each, the peak GPU memory, the wall time and the
  host synchronisations in the last training epoch (CUDA's sync debug mode).
- ``draws``: what the training step's random draws cost when drawn on CPU generators and
  copied to the device (as the pipeline does, transfer.py), against drawing them there.
- ``resources``: each CIFAR config's declared ``runtime`` for teacher training and BE-4
  distillation against the full job's time at the measured rate (45k images x epochs x
  networks), the measured peaks against the GPU's memory, and each rule's peak host memory
  in the workflow run against its declared ``mem_mb``.
- ``workflow``: every CIFAR config shrunk onto stand-in files in the official formats
  (``ensemble_distill.standin``: real network sizes, ~2k training images, one epoch, a
  representative subset of students) through ``snakemake --cores all`` on the device: every
  rule once, to catch device errors.

``--tiny`` makes every network tiny and every dataset a few hundred images: the figures
then say nothing about speed; CI runs it on CPU to keep the script working.
"""

import argparse
import contextlib
import json
import math
import os
import platform
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from contextlib import contextmanager
from datetime import date
from pathlib import Path

import torch
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cifar_throughput import (  # noqa: E402
    cifar_spec,
    distill_rate,
    eval_rate,
    frozen_teachers,
    hardware,
    random_images,
    teacher_rate,
    train_settings,
)
from ensemble_distill import cifar, provenance, train  # noqa: E402
from ensemble_distill.config import validate_config  # noqa: E402
from ensemble_distill.plan import Plan  # noqa: E402
from ensemble_distill.standin import (  # noqa: E402
    REPRESENTATIVE_STUDENTS,
    mark_unverified,
    shrunk_config,
    write_standin_data,
)
from ensemble_distill.tables.format import markdown as table  # noqa: E402
from ensemble_distill.transfer import to_device  # noqa: E402
from pipeline import benchmarks, copy_workflow  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
CONFIGS = ["hydra-cifar10.yaml", "dm-cifar10.yaml", "dm-cifar100.yaml"]
TRAIN_IMAGES = 50_000 - cifar.VALIDATION  # every CIFAR config's training split
SAMPLED_AFTER_S = 2  # benchmark: reads a job's memory now and then; shorter jobs go unseen
AIMS = [  # on one H200, bf16: (what, whether images/s ``r`` meet it)
    ("ResNet-20 teacher ≥ 40,000 images/s", lambda r: r["teacher"] >= 40_000),
    ("pack of 8 ≥ 2 × one teacher", lambda r: r["teacher_pack8"] >= 2 * r["teacher"]),
    ("BE-4 + ODS ≥ 0.4 × one teacher", lambda r: r["distill_ods"] >= 0.4 * r["teacher"]),
]


# ----------------------------------------------------------------------------- sizes
def sizes(tiny):
    """Networks and image counts: the paper's, or tiny ones for the CPU plumbing check."""
    if tiny:
        small = {"depth": 8, "width": 4}
        return {"resnet20": small, "resnet32": small, "wrn": {"arch": "wrn", "depth": 10,
                "width": 1}, "images": 128, "slice": 64, "batch": 32, "standin": {},
                "shrink": {"networks": "tiny"}, "note": " [tiny networks]"}  # fmt: skip
    return {"resnet20": {"depth": 20}, "resnet32": {"depth": 32},
            "wrn": {"arch": "wrn", "depth": 28, "width": 10}, "images": 16_384, "slice": 2048,
            "batch": 128, "standin": {"per_batch": 410, "test": 500, "svhn": 200},
            "shrink": {"networks": "real", "train": 1792, "val": 256}, "note": ""}  # fmt: skip


# ----------------------------------------------------------------------------- throughput
@contextmanager
def measured(device, record):
    """Wall time and peak GPU memory of the block into ``record``; on CUDA also the host
    synchronisations of each training epoch (``record['syncs']``: one count per epoch)."""
    cuda = device.type == "cuda"
    record["syncs"] = []
    original = train.train_epoch

    def counted(*args, **kwargs):  # fit looks train_epoch up when it is called
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            torch.cuda.set_sync_debug_mode("warn")
            try:
                result = original(*args, **kwargs)
            finally:
                torch.cuda.set_sync_debug_mode("default")
        record["syncs"].append(sum("synchroniz" in str(w.message) for w in caught))
        return result

    if cuda:
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)
        train.train_epoch = counted
    tic = time.perf_counter()
    try:
        yield
    finally:
        train.train_epoch = original
        if cuda:
            torch.cuda.synchronize(device)
        record["wall_s"] = time.perf_counter() - tic
        record["peak_gpu_mib"] = torch.cuda.max_memory_allocated(device) / 2**20 if cuda else None


def throughput(device, size, folder):
    """The measured jobs: {key: record with images_per_s and what ``measured`` adds}."""
    amp = "bf16"
    gpu = {"amp": amp, "channels_last": True}
    batch, images = size["batch"], size["images"]
    data = random_images(images, device)
    specs = {k: cifar_spec(**size[k]) for k in ("resnet20", "resnet32", "wrn")}
    teachers = frozen_teachers(specs["resnet32"], 4, device)
    jobs = {
        "teacher": ("ResNet-20 teacher, eager", lambda: teacher_rate(
            specs["resnet20"], data, train_settings(batch, **gpu), folder)),
        "teacher_compiled": ("ResNet-20 teacher, compiled", lambda: teacher_rate(
            specs["resnet20"], data, train_settings(batch, **gpu, compile=True), folder)),
        "teacher_pack8": ("ResNet-20 teachers, pack of 8 (images of all 8)", lambda: teacher_rate(
            specs["resnet20"], data, train_settings(batch, **gpu), folder, pack=8)),
        "teacher_resnet32": ("ResNet-32 teacher, eager", lambda: teacher_rate(
            specs["resnet32"], data, train_settings(batch, **gpu), folder)),
        "teacher_wrn": ("WRN-28-10 teacher, eager (epoch slice)", lambda: teacher_rate(
            specs["wrn"], tuple(t[: size["slice"]] for t in data),
            train_settings(batch, **gpu), folder)),
        "distill_kd": ("BE-4 ResNet-32 from 4 teachers, KD", lambda: distill_rate(
            specs["resnet32"], teachers, data, train_settings(batch, **gpu), folder, "none")),
        "distill_ods": ("BE-4 ResNet-32 from 4 teachers, KD + ODS", lambda: distill_rate(
            specs["resnet32"], teachers, data, train_settings(batch, **gpu), folder, "ods")),
        "evaluate": ("4 ResNet-32 teachers' evaluation (float32, images x networks)",
                     lambda: eval_rate(teachers, data[0], device)),
    }  # fmt: skip
    results = {}
    for key, (label, run) in jobs.items():
        record = {"job": label + size["note"]}
        with measured(device, record):
            record["images_per_s"] = run()
        record["steps_per_epoch"] = math.ceil(len(data[0]) / batch) if key != "evaluate" else None
        print(f"{record['job']}: {record['images_per_s']:,.0f} images/s", flush=True)
        results[key] = record
    return results


# ----------------------------------------------------------------------------- draws
def draw_costs(device, batch, members=4, repeats=50):
    """Milliseconds per training step of the step's random draws: augmentation (crop
    offsets, flips) and a Gaussian perturbation of the BE-4 step's tiled batch, drawn on a
    CPU generator and copied (the pipeline) or drawn on the device (the alternative)."""
    cpu = torch.Generator().manual_seed(0)
    on_device = torch.Generator(device=device).manual_seed(0)
    shape = (members * batch, 3, 32, 32)
    ways = {
        "augmentation, CPU + copy": lambda: (
            to_device(torch.randint(0, 9, (2, batch), generator=cpu), device),
            to_device(torch.rand(batch, generator=cpu) < 0.5, device)),
        "augmentation, on device": lambda: (
            torch.randint(0, 9, (2, batch), generator=on_device, device=device),
            torch.rand(batch, generator=on_device, device=device) < 0.5),
        "Gaussian perturbation, CPU + copy": lambda: to_device(
            torch.randn(shape, generator=cpu), device),
        "Gaussian perturbation, on device": lambda: torch.randn(
            shape, generator=on_device, device=device),
    }  # fmt: skip
    costs = {}
    for name, draw in ways.items():
        draw()  # warm-up (pinned-memory cache, kernels)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tic = time.perf_counter()
        for _ in range(repeats):
            draw()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        costs[name] = (time.perf_counter() - tic) / repeats * 1000
    return costs


# ----------------------------------------------------------------------------- resources
def verdict(need, declared, slack):
    """too small / wasteful (declared > ``slack`` x need) / ok."""
    if need > declared:
        return "too small"
    return f"wasteful ({declared / need:.0f}×)" if declared > slack * need else "ok"


def paper_plans(configs, data_root):
    """{config file: Plan of the paper config}, validated against the stand-in files."""
    plans = {}
    for name in configs:
        config = mark_unverified(yaml.safe_load((REPO / "configs" / name).read_text()))
        config["data_root"] = str(data_root)
        plans[name] = Plan(validate_config(config))
    return plans


def teacher_key(teacher):
    """The measured job whose rate a config's teacher trains at, or None."""
    if teacher["arch"] == "resnet" and teacher.get("depth") in (20, 32):
        return "teacher" if teacher["depth"] == 20 else "teacher_resnet32"
    if teacher["arch"] == "wrn" and (teacher.get("depth"), teacher.get("width")) == (28, 10):
        return "teacher_wrn"
    return None


def student_key(student, teacher):
    """The measured job for a BE-4 student of ResNet-32 teachers, or None."""
    if student.get("method") != "batchensemble" or student.get("teachers") != 4:
        return None
    if teacher_key(teacher) != "teacher_resnet32":
        return None
    kind = student.get("perturbation", {}).get("kind", "none")
    return "distill_ods" if kind in ("ods", "confods") else "distill_kd"


def runtime_rows(plans, rates):
    """Declared runtime (first attempt) of teacher and BE-4 distillation jobs against the
    full job at the measured rate, and the jobs no measurement stands for."""
    rows, unmeasured = [], []
    for name, plan in plans.items():
        for exp in plan.to_run:
            teacher = exp.spec["teacher"]
            pack = len(exp.teacher_packs[0])
            key = "teacher_pack8" if pack == 8 and teacher_key(teacher) == "teacher" else None
            jobs = [("train_teacher", f"pack of {pack}", key or teacher_key(teacher),
                     pack * teacher["train"]["epochs"])]  # fmt: skip
            for student_name, student in exp.students.items():
                if "train" in student:  # LatentBE students are not trained
                    jobs.append(("distill_student", student_name, student_key(student, teacher),
                                 student["train"]["epochs"]))  # fmt: skip
            for rule, job, key, epochs in jobs:
                if key is None:
                    unmeasured.append(f"{exp.name}: {job}")
                    continue
                declared = plan.resources(rule)["runtime"](None, 1)
                need = epochs * TRAIN_IMAGES / rates[key] / 60
                rows.append({"config": name, "rule": rule, "job": f"{exp.name}: {job}",
                             "declared_min": declared, "measured_as": key, "need_min": need,
                             "verdict": verdict(need, declared, 4)})  # fmt: skip
    return rows, unmeasured


def memory_rows(plans, benchmarks):
    """Each rule's peak host memory in the workflow run (``benchmarks``: pipeline.benchmarks
    rows) against its declared mem_mb."""
    by_exp = {exp.name: (name, plan) for name, plan in plans.items() for exp in plan.to_run}
    rows = []
    peaks = benchmarks.groupby(["rule", "experiment"])[["s", "max_rss"]].max()
    for (rule, exp), peak in peaks.iterrows():
        if exp not in by_exp or rule not in by_exp[exp][1].config["resources"]:
            continue  # local rules (tables, figures) declare nothing
        name, plan = by_exp[exp]
        declared = plan.resources(rule)["mem_mb"](None, 1)
        sampled = peak["s"] >= SAMPLED_AFTER_S and peak["max_rss"] > 0
        rows.append({"config": name, "rule": rule, "declared_mb": declared,
                     "peak_rss_mb": peak["max_rss"], "wall_s": peak["s"],
                     "verdict": verdict(peak["max_rss"], declared, 8) if sampled
                     else f"not sampled (< {SAMPLED_AFTER_S} s)"})  # fmt: skip
    return rows


# ----------------------------------------------------------------------------- workflow
def run_workflow(out, device, size, configs, timeout):
    """The shrunk configs through Snakemake in a copy of the workflow under ``out``:
    ({returncode, planned, ran, failed, seconds}, the jobs' benchmark rows)."""
    shutil.rmtree(out / "workflow", ignore_errors=True)
    folder = copy_workflow(out / "workflow")
    experiments = {}
    for name in configs:
        students = REPRESENTATIVE_STUDENTS.get(name)
        shrunk = shrunk_config(REPO / "configs" / name, out / "data", students, device.type,
                               **size["shrink"])  # fmt: skip
        experiments.update(shrunk["experiments"])
    config = {**shrunk, "run": list(experiments), "experiments": experiments}
    (folder / "config.yaml").write_text(yaml.safe_dump(config))
    snakemake = [sys.executable, "-m", "snakemake"]
    dry = subprocess.run([*snakemake, "-n"], cwd=folder, capture_output=True, text=True)
    planned = job_stats(dry.stdout + dry.stderr)
    tic = time.perf_counter()
    (out / "workflow.log").write_text(dry.stdout + dry.stderr)
    returncode = snakemake_within(snakemake, folder, timeout, out / "workflow.log")
    output = (out / "workflow.log").read_text()
    jobs = benchmarks(folder / "benchmarks")
    ran = sorted(set(jobs["rule"]))
    failed = sorted(set(re.findall(r"Error in rule (\w+)", output)))
    return {"returncode": returncode, "seconds": time.perf_counter() - tic,
            "planned": planned, "ran": ran, "failed": failed}, jobs  # fmt: skip


def snakemake_within(command, folder, timeout, log):
    """Exit status (or "timeout") of ``command --cores all``, its output written to
    ``log``. At the timeout Snakemake gets SIGTERM (it stops its jobs, which keep their
    resume states), then what is left of its process group SIGKILL: no job outlives it."""
    with open(log, "a") as output:
        run = subprocess.Popen([*command, "--cores", "all"], cwd=folder, stdout=output,
                               stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        try:
            return run.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            run.terminate()
            with contextlib.suppress(subprocess.TimeoutExpired):
                run.wait(timeout=60)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.pid, signal.SIGKILL)
            run.wait()
            return "timeout"


def job_stats(text):
    """{rule: jobs} of a dry run's "Job stats" table (rule ``all`` left out)."""
    block = text.split("Job stats:")[1].split("\ntotal")[0]
    pairs = [line.split() for line in block.splitlines() if len(line.split()) == 2]
    return {rule: int(n) for rule, n in pairs if n.isdigit() and rule != "all"}


# ----------------------------------------------------------------------------- report
def markdown(report):
    made = f"`{report['command']}` · commit {report['commit']} · {report['date']}"
    lines = [f"# GPU acceptance: {report['hardware']}", "", made, ""]
    if report["tiny"]:
        lines += ["Tiny networks and datasets (`--tiny`): the plumbing check; no figure here "
                  "says anything about speed or memory.", ""]  # fmt: skip
    if rates := report.get("throughput"):
        header = ["job", "images/s", "peak GPU MiB", "wall s", "host syncs, last epoch (steps)"]
        rows = [[r["job"], f"{r['images_per_s']:,.0f}",
                 "" if r["peak_gpu_mib"] is None else f"{r['peak_gpu_mib']:,.0f}",
                 f"{r['wall_s']:.1f}",
                 f"{r['syncs'][-1]} ({r['steps_per_epoch']})" if r["syncs"] else "n/a"]
                for r in rates.values()]  # fmt: skip
        values = {k: r["images_per_s"] for k, r in rates.items()}
        aims = [f"{text}: {'met' if ok(values) else 'missed'}" for text, ok in AIMS]
        lines += ["## Throughput (bf16, channels_last)", "", table(header, rows),
                  "Aims: " + "; ".join(aims) + ".", ""]  # fmt: skip
        if "gpu_memory_mib" in report:
            top = max(rates.values(), key=lambda r: r["peak_gpu_mib"])
            lines += [f"Largest peak: {top['peak_gpu_mib']:,.0f} of "
                      f"{report['gpu_memory_mib']:,.0f} MiB ({top['job']}).", ""]  # fmt: skip
    if draws := report.get("draws"):
        rows = [[name, f"{ms:.3f}"] for name, ms in draws.items()]
        lines += ["## Random draws per training step (batch of BE-4: 4 × the batch)", "",
                  table(["draw", "ms per step"], rows)]  # fmt: skip
    if runtime := report.get("runtime"):
        header = ["config", "rule", "job", "declared min", "needed min (as)", "verdict"]
        rows = [[r["config"], r["rule"], r["job"], r["declared_min"],
                 f"{r['need_min']:,.0f} ({r['measured_as']})", r["verdict"]]
                for r in runtime]  # fmt: skip
        unmeasured = ", ".join(report["runtime_unmeasured"])
        lines += ["## Declared runtime against the full job at the measured rate", "",
                  table(header, rows), f"Not measured (no job above stands for them): "
                  f"{unmeasured}.", ""]  # fmt: skip
    if memory := report.get("memory"):
        header = ["config", "rule", "declared MB", "peak RSS MB", "longest job s", "verdict"]
        rows = [[r["config"], r["rule"], r["declared_mb"], f"{r['peak_rss_mb']:,.0f}",
                 f"{r['wall_s']:.1f}", r["verdict"]] for r in memory]  # fmt: skip
        lines += ["## Declared host memory against the workflow run's peak", "",
                  table(header, rows), "The run holds about 2k training and 500 test images: "
                  "memory that grows with the data (eval sets, predictions, metrics) is "
                  "larger at full size.", ""]  # fmt: skip
    if run := report.get("workflow"):
        missing = sorted(set(run["planned"]) - set(run["ran"]))
        lines += ["## Every CIFAR config shrunk, through Snakemake", "",
                  f"Exit status {run['returncode']} after {run['seconds']:.0f} s; "
                  f"{sum(run['planned'].values())} jobs of {len(run['planned'])} rules planned; "
                  f"rules that ran: {len(run['ran'])}; "
                  f"failed or stopped: {', '.join(run['failed']) or 'none'}; "
                  f"planned but not run: {', '.join(missing) or 'none'}.", ""]  # fmt: skip
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--tiny", action="store_true", help="tiny networks and data (CI)")
    parser.add_argument("--configs", nargs="+", default=CONFIGS, choices=CONFIGS)
    parts = ["throughput", "draws", "resources", "workflow"]
    parser.add_argument("--parts", nargs="+", default=parts, choices=parts)
    parser.add_argument("--workflow-timeout", type=int, default=300, help="seconds")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    size = sizes(args.tiny)
    args.out.mkdir(parents=True, exist_ok=True)
    write_standin_data(args.out / "data", **size["standin"])
    report = {"hardware": hardware(device), "platform": platform.platform(),
              "command": " ".join(["python", "bench/gpu_acceptance.py", *sys.argv[1:]]),
              "commit": provenance.git_state(REPO)["commit"],
              "date": date.today().isoformat(), "tiny": args.tiny}  # fmt: skip
    if device.type == "cuda":
        report["gpu_memory_mib"] = torch.cuda.get_device_properties(device).total_memory / 2**20
    if "throughput" in args.parts:
        with tempfile.TemporaryDirectory() as tmp:
            report["throughput"] = throughput(device, size, tmp)
    if "draws" in args.parts:
        report["draws"] = draw_costs(device, size["batch"])
    if "workflow" in args.parts:
        report["workflow"], jobs = run_workflow(args.out, device, size, args.configs,
                                                args.workflow_timeout)  # fmt: skip
    if "resources" in args.parts:
        plans = paper_plans(args.configs, args.out / "data")
        if "throughput" in report:
            rates = {k: r["images_per_s"] for k, r in report["throughput"].items()}
            report["runtime"], report["runtime_unmeasured"] = runtime_rows(plans, rates)
        if "workflow" in report:
            report["memory"] = memory_rows(plans, jobs)
    (args.out / "acceptance.json").write_text(json.dumps(report, indent=1) + "\n")
    (args.out / "acceptance.md").write_text(markdown(report) + "\n")
    print(markdown(report))
    run = report.get("workflow")
    return 0 if run is None or (run["returncode"] == 0 and not run["failed"]) else 1


if __name__ == "__main__":
    sys.exit(main())
