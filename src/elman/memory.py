"""Whether the machine has the memory a piece of work needs: each kind of model estimates
its own need before it allocates anything (``elman.lm.model.check_memory``,
``elman.translate.model.check_memory``); this module says what is available and refuses,
with the figures and the settings to change, instead of failing part-way (a MemoryError,
or the kernel killing the process without a word)."""

from __future__ import annotations

from elman.errors import ElmanError

TRAINING_COPIES = 5  # of every parameter: weights, gradients, best weights, Adam's two moments


def available_memory() -> int | None:
    """Bytes of memory available to a new process (Linux's MemAvailable, which counts the
    page cache that can be given back), or None where the system does not tell."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def require_memory(needed: int, what: str, fix: str) -> None:
    """Refuse ``what`` ("training this model", ...) when it needs more than the memory
    available (``needed`` bytes), saying both and ``fix`` (the settings to lower)."""
    available = available_memory()
    if available is not None and needed > available:
        raise ElmanError(
            f"{what} needs about {needed / 2**30:,.1f} GiB of memory, but "
            f"{available / 2**30:,.1f} GiB is available; {fix}."
        )
