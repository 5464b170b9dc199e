"""Parts of the machine some tests need beyond the Python packages (a browser, a small
file system to fill) or from optional extras: missing locally, such a test skips and says
why; in CI (CI=true), which installs everything, a missing part fails the test instead of
hiding it."""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

import pytest

CHROMIUM = "/usr/bin/chromium"  # Debian's package; nothing downloads a browser
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"  # screenshots


def missing(reason: str) -> None:
    """Skip with ``reason``, or fail in CI, where every part must be there."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: CI installs it, so this is a failure)")
    pytest.skip(reason, allow_module_level=True)


def require_module(name: str, hint: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{name} is not installed; {hint}")


def chromium_path() -> str:
    path = shutil.which("chromium") or (CHROMIUM if Path(CHROMIUM).exists() else None)
    if path is None:
        missing("Debian's chromium is not installed; apt-get install chromium")
    return path


def artifact(name: str) -> Path:
    """Where a test keeps a file for people to look at (a screenshot)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS / name


@contextmanager
def small_disk(where: Path, size: str = "4m") -> Iterator[Path]:
    """A file system of ``size`` of its own (tmpfs) mounted at ``where`` for the duration,
    for the cases of a full disk: it needs root (or CAP_SYS_ADMIN); where it cannot be
    made the test skips, saying why, and in CI (CI=true) it fails."""
    where.mkdir(parents=True, exist_ok=True)
    mount = ["mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "elman-test", str(where)]
    try:
        made = subprocess.run(mount, capture_output=True, text=True, timeout=30)
    except (OSError, subprocess.SubprocessError) as e:
        made = subprocess.CompletedProcess(mount, 1, "", str(e))
    if made.returncode != 0:
        missing(
            f"cannot mount a {size} tmpfs here for the full-disk cases "
            f"({made.stderr.strip() or 'mount failed'}); they need root or CAP_SYS_ADMIN"
        )
    try:
        yield where
    finally:
        subprocess.run(["umount", str(where)], check=False, capture_output=True, timeout=60)


def fill(disk: Path) -> None:
    """Fill the file system of ``disk`` to the last byte."""
    fd = os.open(disk / "filler", os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        for size in (1 << 20, 65536, 4096, 512, 1):
            try:
                while True:
                    os.write(fd, b"\0" * size)
            except OSError:
                pass
    finally:
        os.close(fd)
