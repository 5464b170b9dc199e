"""Parts of the machine some tests need beyond the Python packages (a browser) or from
optional extras: missing locally, such a test skips and says why; in CI (CI=true), which
installs everything, a missing part fails the test instead of hiding it."""

from __future__ import annotations

import importlib
import os
import shutil
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
