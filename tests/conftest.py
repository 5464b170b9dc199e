"""Settings and fixtures for the whole test suite."""

import os
import platform
import sys
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import threadpoolctl
from hypothesis import settings

from elman.errors import ElmanError
from elman.gemm import MklGemm, mkl
from elman.nn.products import NUMPY, Gemm
from tests.parts import missing

# Property tests check what holds, not how fast: on a loaded machine (CI, or the
# cores shared with a training run) one example can take longer than hypothesis's
# default 200 ms deadline, which would fail a correct test.
settings.register_profile("elman", deadline=None)
# In CI (CI=true) a run must not pass or fail by the luck of the draw: the examples are
# derived from each test alone (derandomize), no database of earlier failures is read or
# written, and more are tried than locally. Local runs keep drawing new examples, and
# replay the failures they found, so they go on exploring.
settings.register_profile(
    "ci", deadline=None, derandomize=True, database=None, max_examples=500, print_blob=True
)
settings.load_profile("ci" if os.environ.get("CI") == "true" else "elman")


def pytest_collectstart(collector: pytest.Collector) -> None:
    """In CI (CI=true), which installs every extra, ``pytest.importorskip`` of a missing
    module fails instead of skipping (tests.parts.missing's rule, for the tests that
    compare with torch or run onnx)."""
    if os.environ.get("CI") == "true" and not getattr(pytest, "_elman_strict", False):
        skip = pytest.importorskip

        def import_or_fail(name: str, *args: object, **kwargs: object) -> object:
            try:
                return skip(name, *args, **kwargs)
            except pytest.skip.Exception as e:
                pytest.fail(f"{name} is not installed ({e}); CI installs it, so this is a failure")

        pytest.importorskip = import_or_fail  # type: ignore[assignment]
        pytest._elman_strict = True  # type: ignore[attr-defined]


@pytest.fixture
def blas_at_two_threads() -> Iterator[Callable[[], set[int]]]:
    """numpy's BLAS at two threads during the test, so that one thread set by elman.blas
    shows on any machine, and a function giving the thread counts in force; the library
    gets its own count back afterwards."""
    np.ones((2, 2)) @ np.ones((2, 2))  # numpy's BLAS is loaded
    blas = threadpoolctl.ThreadpoolController().select(user_api="blas")
    if not blas.lib_controllers:
        pytest.skip("threadpoolctl finds no BLAS library in this numpy")
    with blas.limit(limits=2):
        yield lambda: {lib.get_num_threads() for lib in blas.lib_controllers}


@pytest.fixture
def mkl_gemm() -> MklGemm:
    """MKL's packed products (``elman.gemm``), where the [mkl] extra is installed; CI
    installs it on x86_64 Linux, so there a missing MKL fails instead of skipping."""
    try:
        return MklGemm(mkl())
    except ElmanError as e:
        if platform.machine() == "x86_64" and sys.platform == "linux":
            missing(str(e))
        pytest.skip(f"elman runs MKL on x86_64 Linux only ({e})")


@pytest.fixture(params=["numpy", "mkl"])
def gemm(request: pytest.FixtureRequest) -> Gemm:
    """Who computes the recurrent layers' products: numpy's matmul, and MKL's packed
    GEMM (``mkl_gemm``)."""
    return NUMPY if request.param == "numpy" else request.getfixturevalue("mkl_gemm")
