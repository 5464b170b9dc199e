"""MKL's packed products against numpy's, MKL's threads beside torch's OpenMP, and the
choice of the product path (--gemm)."""

import subprocess
import sys

import numpy as np
import pytest
import threadpoolctl

from elman import gemm as gemm_module
from elman.blas import BlasThreads
from elman.config import ModelConfig
from elman.errors import ElmanError
from elman.gemm import MklGemm, choose
from elman.lm.model import LanguageModel
from elman.nn.products import NUMPY
from tests.numeric import assert_close


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("transposed", [False, True])
def test_packed_products_equal_numpy_products(mkl_gemm, dtype, transposed):
    """x @ P and np.matmul(x, P, out=y) for W and for a transposed view W_h.T, with
    contiguous rows and with strided ones (copied first), into ``out`` and not."""
    rng = np.random.default_rng(0)
    W = rng.normal(size=(24, 40)).astype(dtype)
    W = W.T if transposed else W  # (40, 24) F-contiguous, or (24, 40)
    K, N = W.shape
    P = mkl_gemm.fixed(W, 5)
    assert isinstance(P, gemm_module.PackedMatrix)
    tol = {"rtol": 1e-5, "atol": 1e-5} if dtype == np.float32 else {"rtol": 1e-12}
    x = rng.normal(size=(5, K)).astype(dtype)
    assert_close(x @ P, x @ W, **tol)
    y = np.empty((5, N), dtype)
    assert np.matmul(x, P, out=y) is y
    assert_close(y, x @ W, **tol)
    strided = rng.normal(size=(5, 2 * K)).astype(dtype)[:, ::2]
    assert_close(strided @ P, strided @ W, **tol)
    read_only = x.copy()
    read_only.flags.writeable = False
    assert_close(read_only @ P, x @ W, **tol)


def test_a_packed_product_into_memory_overlapping_its_input_is_right(mkl_gemm):
    rng = np.random.default_rng(1)
    W = rng.normal(size=(4, 6))
    buffer = rng.normal(size=30)
    x, y = buffer[:12].reshape(3, 4), buffer[:18].reshape(3, 6)
    expected = x @ W
    np.matmul(x, mkl_gemm.fixed(W, 3), out=y)
    assert_close(y, expected, rtol=1e-12)


def test_a_packed_matrix_refuses_rows_it_was_not_packed_for(mkl_gemm):
    P = mkl_gemm.fixed(np.ones((4, 6)), 3)
    with pytest.raises(ValueError, match=r"expected \(3, 4\) float64 rows"):
        np.ones((2, 4)) @ P
    with pytest.raises(ValueError, match="float64"):
        np.ones((3, 4), np.float32) @ P


def test_other_dtypes_are_left_to_numpy(mkl_gemm):
    W = np.ones((4, 6), np.float16)
    assert mkl_gemm.fixed(W, 3) is W


def test_mkl_runs_on_gnu_openmp_beside_torch_and_its_two_threads_are_right(mkl_gemm):
    """torch brings GNU OpenMP (libgomp); MKL's default, Intel's OpenMP, gave wrong
    two-thread products beside it. On the GNU layer both run in one OpenMP runtime, and
    a product large enough to be split over two threads is right."""
    torch = pytest.importorskip("torch")
    a = torch.ones(300, 300)
    assert float((a @ a)[0, 0]) == 300.0  # torch's OpenMP threads have run
    info = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "mkl"]
    assert [i["threading_layer"] for i in info] == ["gnu"]
    rng = np.random.default_rng(2)
    W = rng.normal(size=(512, 2048)).astype(np.float32)
    x = rng.normal(size=(32, 512)).astype(np.float32)
    with BlasThreads(fixed=2) as blas:
        blas.start()
        product = x @ mkl_gemm.fixed(W, 32)
    assert_close(product, x.astype(np.float64) @ W, rtol=1e-4, atol=1e-3)


def test_blas_threads_sets_mkls_thread_count_too(mkl_gemm):
    """Once MKL is loaded, elman.blas's one-or-all choice holds for it as for OpenBLAS."""
    library = mkl_gemm.library.lib
    before = library.MKL_Get_Max_Threads()
    with BlasThreads(fixed=1) as blas:
        blas.start()
        assert library.MKL_Get_Max_Threads() == 1
    assert library.MKL_Get_Max_Threads() == before


def test_mkl_starts_with_as_many_threads_as_numpys_blas(mkl_gemm):
    """Loaded while numpy's BLAS runs one thread (as OPENBLAS_NUM_THREADS=1 would have
    it), MKL runs one too, so that elman.blas's "all" is 1 for both."""
    script = (
        "import numpy, threadpoolctl\n"
        "threadpoolctl.threadpool_limits(1, user_api='blas')\n"
        "from elman.gemm import mkl\n"
        "print(mkl().lib.MKL_Get_Max_Threads())\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "1"


def lstm_model(hidden):
    return LanguageModel(ModelConfig(vocab_size=10, embed=8, hidden=hidden, cell="lstm"))


def test_choose_numpy_mkl_and_a_wrong_name(mkl_gemm):
    model = lstm_model(8)
    assert choose("numpy", model, 4) is NUMPY
    assert isinstance(choose("mkl", model, 4), MklGemm)
    with pytest.raises(ElmanError, match="--gemm must be one of auto, numpy, mkl"):
        choose("blis", model, 4)


def test_auto_keeps_numpy_for_small_products_without_timing(mkl_gemm, monkeypatch):
    monkeypatch.setattr(gemm_module, "_time_loops", pytest.fail)
    assert choose("auto", lstm_model(16), 4) is NUMPY  # 4 x 16 x 64 products


@pytest.mark.parametrize("faster", ["numpy", "mkl"])
def test_auto_keeps_the_path_whose_loops_ran_faster(mkl_gemm, monkeypatch, faster):
    seconds = {"numpy": 2.0, "mkl": 1.0} if faster == "mkl" else {"numpy": 1.0, "mkl": 2.0}
    timed = []

    def fake(gemm, model, rows):
        timed.append(gemm.name)
        return seconds[gemm.name]

    monkeypatch.setattr(gemm_module, "_time_loops", fake)
    chosen = choose("auto", lstm_model(256), 32, threads=1)  # 32 x 256 x 1024 products
    assert chosen.name == faster
    assert timed == ["numpy", "mkl"] * (1 + gemm_module.REPEATS)


def test_without_mkl_auto_is_numpy_and_mkl_says_why(monkeypatch):
    reason = "the mkl package is not installed (pip install 'elman[mkl]')"
    monkeypatch.setattr(gemm_module, "_load", lambda: reason)
    model = lstm_model(256)
    assert choose("auto", model, 32) is NUMPY
    with pytest.raises(ElmanError, match=r"^--gemm mkl cannot run: the mkl package is not"):
        choose("mkl", model, 32)


def test_the_timing_runs_both_paths_on_the_models_matrices(mkl_gemm):
    model = lstm_model(64)
    for gemm in (NUMPY, mkl_gemm):
        assert gemm_module._time_loops(gemm, model, 4) > 0
