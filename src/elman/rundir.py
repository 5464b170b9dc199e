"""The directory a training run writes to (``--out DIR``): checked before anything is
read, claimed only after every input has been checked, and locked while a run uses it.

A run that is refused for bad input must leave DIR exactly as it was, and
``--overwrite`` must not delete the old run before the new one is known to start.
So a command first calls ``check_out_directory`` (nothing is written), reads and
checks all its input, and only then enters ``claim_run_directory``, which creates
DIR, locks it, and with ``--overwrite`` removes the old run's training state and metrics
(its checkpoint is replaced whole by the new run's first save).

The lock is ``flock`` on the directory itself: the kernel releases it when the
process ends, however it ends (SIGKILL included), so a killed run can be resumed at
once, and no lock file is left in the run's directory.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from elman.errors import ElmanError

# The files of a run besides its checkpoint, whatever its kind: --overwrite removes them
# and nothing else when it claims the directory. The old checkpoint (config.json, the
# vocabularies, model.safetensors and any file config.json lists) stays until the new
# run's first save replaces it whole (elman.checkpoint), so that a run stopped at any
# moment leaves the old checkpoint or the new one, never a part of each or none.
RUN_FILES = ("metrics.jsonl", "resume.safetensors")


def default_out() -> Path:
    """runs/DATE-TIME, for a run started without --out."""
    return Path("runs") / time.strftime("%Y%m%d-%H%M%S")


def check_out_directory(out: Path, overwrite: bool, resumable: bool = True) -> None:
    """Refuse an ``out`` that already holds a run, unless ``overwrite``; writes nothing."""
    if out.exists() and not out.is_dir():
        raise ElmanError(f"--out {out} is a file, not a directory; choose another --out.")
    if not overwrite and _holds_run(out):
        resume = f" continue it with --resume {out}," if resumable else ""
        raise ElmanError(
            f"{out} already holds a training run; choose another --out,{resume} or pass "
            "--overwrite to replace it."
        )


@contextmanager
def claim_run_directory(out: Path, overwrite: bool, resumable: bool = True) -> Iterator[Path]:
    """Create ``out`` if needed, lock it for this process, check it again under the lock
    and, with ``overwrite``, remove the old run's training state and metrics (the new
    run's first save replaces its checkpoint); yields ``out``. Call it once every input
    has been checked."""
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ElmanError(
            f"cannot create --out {out}: {e.strerror or e}; choose a directory you can write to."
        ) from e
    with locked(out):
        check_out_directory(out, overwrite, resumable)  # another run may have started
        if overwrite:
            for name in RUN_FILES:
                (out / name).unlink(missing_ok=True)
        yield out


@contextmanager
def locked(directory: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``directory`` for the duration, or refuse at once when
    another process holds it."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise
            raise ElmanError(
                f"another elman process is training in {directory} right now; wait for it to "
                "finish, or choose another --out."
            ) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def _holds_run(out: Path) -> bool:
    return any((out / name).exists() for name in ("config.json", "metrics.jsonl"))
