"""Process-level safety of a job: one process per resume state or output folder, and a
short, honest last word when the job is stopped.

- ``owning(path, log)`` takes an OS lock (``<path>.lock``) for the whole job: a second run
  of the same job (for example after ``snakemake --unlock`` while the first still runs)
  stops at once instead of training from the same resume file or writing into the same
  folder. Only then is the job's log opened, so a refused run leaves the running one's log
  as it is; the lock file is removed when the job ends.
- SIGTERM or SIGINT (SLURM's scancel, Snakemake stopping its jobs, Ctrl-C) ends the job with
  a few lines saying which epoch was saved and where, instead of a traceback.
- ``pass_stop_signals_on`` (called from the Snakefile's ``onstart``) makes SIGTERM and SIGINT
  sent to Snakemake reach its running jobs. Snakemake alone answers SIGTERM by waiting for
  them to finish (hours for a CIFAR job) and a SIGINT sent to its process alone leaves them
  running.
- When the Snakemake process that started the job is gone (killed with SIGKILL, which it
  cannot pass on), the job stops at the next epoch instead of writing on alone. The
  Snakefile exports that process's id as ``ENSEMBLE_DISTILL_SNAKEMAKE_PID``.
"""

import fcntl
import os
import signal
import sys
from contextlib import contextmanager
from pathlib import Path

import psutil

PARENT_ENV = "ENSEMBLE_DISTILL_SNAKEMAKE_PID"
_job = {"resume": None, "saved": None}


class Stopped(SystemExit):
    """The job was told to stop; the message says what was kept (printed by ``owning``)."""


def _where():
    saved = _job["saved"]
    kept = f"the state after epoch {saved} is kept" if saved else "no epoch had finished; state"
    return f"{kept} in {_job['resume']}; rerun to continue from there"


def saved(epoch):
    """Record that the resume state now holds ``epoch`` (for the last word)."""
    _job["saved"] = epoch


def stop_if_orphaned():
    """Stop when the Snakemake process named in the environment no longer exists."""
    pid = os.environ.get(PARENT_ENV)
    if not pid:
        return
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        raise Stopped(f"Snakemake (pid {pid}) is gone, so this job stops: {_where()}") from None
    except PermissionError:
        pass  # alive, owned by someone else


def _on_stop(signum, frame):
    raise Stopped(f"stopped by signal {signal.Signals(signum).name}: {_where()}")


def job_processes(pid=None):
    """The running jobs under process ``pid`` (default: this one): the ``python -m
    ensemble_distill.<job>`` processes, not the shells around them, which wait for them."""
    found = []
    for child in psutil.Process(pid).children(recursive=True):
        try:
            argv = child.cmdline()
        except psutil.Error:
            continue  # ended meanwhile
        pairs = zip(argv, argv[1:], strict=False)
        if any(a == "-m" and b.startswith("ensemble_distill.") for a, b in pairs):
            found.append(child)
    return found


def stop_jobs():
    """Send SIGTERM to every running job of this process: each saves and stops (``owning``)."""
    for job in job_processes():
        try:
            job.terminate()
        except psutil.Error:
            pass


def pass_stop_signals_on(local):
    """Make SIGTERM and SIGINT sent to this (Snakemake) process stop its running jobs.

    Local jobs get SIGTERM, save their state and fail; Snakemake then exits as it does when a
    job fails (outputs of the stopped jobs removed). Under a cluster executor (``local``
    false) SIGTERM is turned into SIGINT, on which Snakemake cancels its cluster jobs
    (SLURM sends them SIGTERM, then SIGKILL after its KillWait). Call after Snakemake has
    installed its own handlers (``onstart``): they are chained, not replaced."""
    snakemake_on_term = signal.getsignal(signal.SIGTERM)
    snakemake_on_int = signal.getsignal(signal.SIGINT)

    def on_term(signum, frame):
        stop_jobs()
        if local and callable(snakemake_on_term):
            snakemake_on_term(signum, frame)  # "finish the running jobs": they are stopping
        else:
            raise KeyboardInterrupt

    def on_int(signum, frame):
        stop_jobs()
        if callable(snakemake_on_int):
            snakemake_on_int(signum, frame)
        else:
            raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_int)


def add_log_argument(parser):
    parser.add_argument("--log", help="the job's log, opened once the job holds its lock")


def log_to(path):
    """Send this process's stdout and stderr to ``path`` (the job's log), from now on."""
    sys.stdout.flush()
    sys.stderr.flush()
    with open(path, "w") as log:
        os.dup2(log.fileno(), 1)
        os.dup2(log.fileno(), 2)


@contextmanager
def owning(resume, log=None):
    """Hold the lock of ``resume`` (a resume file, or an output folder) for the job, then
    write to ``log``; stop cleanly on SIGTERM and SIGINT."""
    resume = Path(resume)
    lock_path = resume.with_name(resume.name + ".lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "w") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise SystemExit(
                f"another process is already running this job: it holds {lock_path}. Two "
                "runs must not train from the same resume state; wait for the other run (or "
                "stop it) and rerun."
            ) from None
        if log is not None:
            log_to(log)
        _job.update(resume=resume, saved=None)
        previous = {s: signal.signal(s, _on_stop) for s in (signal.SIGTERM, signal.SIGINT)}
        try:
            yield
        except Stopped as stop:
            print(stop, file=sys.stderr, flush=True)
            raise SystemExit(1) from None  # said once, here (not again by the interpreter)
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)
            lock_path.unlink(missing_ok=True)  # while still held: no empty lock files left
            fcntl.flock(lock, fcntl.LOCK_UN)
