"""Process-level safety of a training job: one process per resume state, and a short,
honest last word when the job is stopped.

- ``owning(resume)`` takes an OS lock (``<resume>.lock``) for the whole job: a second run of
  the same job (for example after ``snakemake --unlock`` while the first still runs) stops
  at once instead of training from the same resume file.
- SIGTERM (SLURM's scancel, Snakemake stopping its jobs) ends the job with a few lines
  saying which epoch was saved and where, instead of a traceback.
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


def _on_sigterm(signum, frame):
    raise Stopped(f"stopped by signal {signal.Signals(signum).name}: {_where()}")


@contextmanager
def owning(resume):
    """Hold the lock of ``resume`` (a file or folder) for the job; stop cleanly on SIGTERM."""
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
        _job.update(resume=resume, saved=None)
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
        try:
            yield
        except Stopped as stop:
            print(stop, file=sys.stderr, flush=True)
            raise SystemExit(1) from None  # said once, here (not again by the interpreter)
        finally:
            signal.signal(signal.SIGTERM, previous)
            fcntl.flock(lock, fcntl.LOCK_UN)
