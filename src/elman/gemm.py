"""MKL's packed matrix products for the recurrent layers, and the choice between them
and numpy's (``--gemm auto|numpy|mkl``).

A recurrent layer's time loop multiplies by one matrix T times (``nn/products.py``).
OpenBLAS, numpy's BLAS, packs that matrix into its kernels' layout at every product;
MKL's ``cblas_sgemm_pack`` packs it once and ``cblas_sgemm_compute`` reuses the packed
copy at every step (Intel, oneMKL Developer Reference, "cblas_gemm_pack"). With the
``[mkl]`` extra installed (``pip install 'elman[mkl]'``, the ``mkl`` wheel, which holds
only the shared libraries) elman calls those three functions through ctypes; no Python
binding is needed.

MKL's threads. ``libmkl_rt`` picks its threading layer at its first call, by default
Intel's OpenMP (libiomp5). torch, and so every process that also imports torch (the
tests, the benchmarks, the torch backend), runs GNU OpenMP (libgomp); with both
runtimes in one process MKL's two-thread products came out wrong (an error of 104 on a
(32 x 512) @ (512 x 2048) product) and 7 times slower, measured on this project's
machine. So elman sets MKL's GNU threading layer (``mkl_set_threading_layer``) before
its first product: one OpenMP runtime in the process, torch's libgomp when torch is
loaded, the system's otherwise, which therefore has to be there. MKL's thread count is
then set like OpenBLAS's, by ``elman.blas`` (threadpoolctl finds ``libmkl_rt`` once it
is loaded), one thread or all, "all" being numpy's BLAS's count when MKL was loaded.

MKL chooses its kernels by the processor: on Intel's, AVX2 or AVX-512 ones; on others
(this project's AMD EPYC) its generic ones, and neither ``mkl_enable_instructions`` nor
``mkl_cbwr_set`` changes that (both refuse, measured). Whether packing once then still
beats OpenBLAS depends on the machine, so ``choose`` times both on the model's own
shapes before training and keeps the faster.
"""

from __future__ import annotations

import ctypes
import importlib.metadata
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from elman.blas import BlasThreads, blas_libraries
from elman.config import GEMMS
from elman.errors import ElmanError
from elman.nn.network import Network
from elman.nn.products import NUMPY, Gemm

# mkl_cblas.h and mkl_service.h
ROW_MAJOR, NO_TRANS, TRANS, PACKED, B_MATRIX = 101, 111, 112, 151, 162
MKL_INTERFACE_LP64, MKL_THREADING_GNU = 0, 3
ALIGNMENT = 64  # bytes: MKL's advice for its buffers


@dataclass(frozen=True)
class _Routines:
    """The pack and compute functions of one precision (cblas_s* or cblas_d*)."""

    get_size: Any
    pack: Any
    compute: Any


class Mkl:
    """``libmkl_rt`` through ctypes, set to GNU OpenMP: the three packed-GEMM functions
    in single and double precision, and what MKL says about itself."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.lib = lib = ctypes.CDLL(str(path))
        lib.MKL_Set_Interface_Layer(MKL_INTERFACE_LP64)
        layer = lib.MKL_Set_Threading_Layer(MKL_THREADING_GNU)
        if layer != MKL_THREADING_GNU:
            raise OSError(
                f"MKL was set up with threading layer {layer} before elman loaded it, and "
                "elman runs MKL on GNU OpenMP only"
            )
        c_int, ptr = ctypes.c_int, ctypes.c_void_p
        self.routines = {}
        precisions = ((np.float32, "s", ctypes.c_float), (np.float64, "d", ctypes.c_double))
        for dtype, letter, scalar in precisions:
            get_size = getattr(lib, f"cblas_{letter}gemm_pack_get_size")
            get_size.argtypes, get_size.restype = [c_int] * 4, ctypes.c_size_t
            pack = getattr(lib, f"cblas_{letter}gemm_pack")
            pack.argtypes, pack.restype = [c_int] * 6 + [scalar, ptr, c_int, ptr], None
            compute = getattr(lib, f"cblas_{letter}gemm_compute")
            compute.argtypes = [c_int] * 6 + [ptr, c_int, ptr, c_int, scalar, ptr, c_int]
            compute.restype = None
            self.routines[np.dtype(dtype)] = _Routines(get_size, pack, compute)

    def version(self) -> str:
        """MKL's version, and the processors the kernels it chose here are for: on an
        Intel processor with AVX-512 "Intel(R) Advanced Vector Extensions 512 ...", on
        others "Intel(R) Architecture processors" (its generic kernels)."""

        class Version(ctypes.Structure):  # MKLVersion, mkl_types.h
            _fields_ = [(name, ctypes.c_int) for name in ("major", "minor", "update", "patch")]
            _fields_ += [(name, ctypes.c_char_p) for name in ("status", "build", "processor")]
            _fields_ += [("platform", ctypes.c_char_p)]

        v = Version()
        self.lib.MKL_Get_Version(ctypes.byref(v))
        return f"MKL {v.major} update {v.update}, kernels for {v.processor.decode()}"


def _library_path() -> Path:
    """libmkl_rt in the installed ``mkl`` wheel (it puts its libraries in PREFIX/lib)."""
    try:
        files = importlib.metadata.distribution("mkl").files or []
    except importlib.metadata.PackageNotFoundError:
        raise OSError("the mkl package is not installed (pip install 'elman[mkl]')") from None
    for file in files:
        if file.name.startswith("libmkl_rt.so"):
            return Path(file.locate()).resolve()
    raise OSError("the mkl package holds no libmkl_rt.so (elman's MKL path runs on Linux)")


@cache
def _load() -> Mkl | str:
    """The one ``Mkl`` of this process, or why there is none (a sentence)."""
    try:
        # MKL's GNU threading layer needs it, and MKL ends a process that lacks it
        ctypes.CDLL("libgomp.so.1")
    except OSError:
        return (
            "MKL runs on GNU OpenMP here and this system has no libgomp.so.1; install it "
            "(Debian and Ubuntu: apt-get install libgomp1)"
        )
    # MKL starts with as many threads as numpy's BLAS has (OPENBLAS_NUM_THREADS, or the
    # cores), so that "all" means the same for both to elman.blas, which sets them after.
    threads = max((lib.get_num_threads() or 1 for lib in blas_libraries()), default=1)
    try:
        library = Mkl(_library_path())
    except (OSError, AttributeError) as e:
        return str(e)
    library.lib.MKL_Set_Num_Threads(threads)
    return library


def mkl() -> Mkl:
    """MKL's library, loaded once; ElmanError saying why when it cannot be used."""
    loaded = _load()
    if isinstance(loaded, str):
        raise ElmanError(f"--gemm mkl cannot run: {loaded}.")
    return loaded


def mkl_problem() -> str | None:
    """Why MKL's packed products cannot run in this process, or None when they can (and
    then MKL is loaded)."""
    loaded = _load()
    return loaded if isinstance(loaded, str) else None


class PackedMatrix:
    """W (K, N) packed once by MKL for products ``x @ W`` with x (rows, K), as many as
    wanted while W does not change; numpy multiplies it like W (``x @ P`` and
    ``np.matmul(x, P, out=y)``, through ``__array_ufunc__``). Made by ``MklGemm.fixed``.
    """

    def __init__(self, routines: _Routines, W: np.ndarray, rows: int) -> None:
        K, N = W.shape
        self.shape, self.dtype, self.rows, self._routines = W.shape, W.dtype, rows, routines
        if W.flags.c_contiguous:
            trans, source, ld = NO_TRANS, W, N
        elif W.flags.f_contiguous:  # a transposed view, W_h.T: MKL reads W_h transposed
            trans, source, ld = TRANS, W.T, K
        else:
            trans, source, ld = NO_TRANS, np.ascontiguousarray(W), N
        size = routines.get_size(B_MATRIX, rows, N, K)
        buffer = np.empty(size + ALIGNMENT, np.uint8)
        offset = -buffer.ctypes.data % ALIGNMENT
        self._packed = buffer[offset : offset + size]
        self._address = self._packed.ctypes.data
        routines.pack(
            ROW_MAJOR, B_MATRIX, trans, rows, N, K, 1.0, source.ctypes.data, ld, self._address
        )  # fmt: skip

    def __array_ufunc__(
        self, ufunc: np.ufunc, method: str, *inputs: Any, out: tuple | None = None, **kw: Any
    ) -> np.ndarray:
        if ufunc is not np.matmul or method != "__call__" or kw or inputs[1] is not self:
            return NotImplemented
        x = inputs[0]
        (K, N), rows = self.shape, self.rows
        if x.shape != (rows, K) or x.dtype != self.dtype:
            raise ValueError(
                f"expected ({rows}, {K}) {self.dtype} rows for a matrix packed for them, got "
                f"{x.shape} {x.dtype}"
            )
        x = x if x.flags.c_contiguous else np.ascontiguousarray(x)
        x_at = _address(x)
        y = None if out is None else out[0]
        if y is not None and y.shape == (rows, N) and y.dtype == x.dtype and y.flags.c_contiguous:
            result, y_at = y, _address(y)
            if y_at < x_at + x.nbytes and x_at < y_at + y.nbytes:  # overlapping: not into y
                result = np.empty_like(y)
                y_at = _address(result)
        else:
            result = np.empty((rows, N), self.dtype)
            y_at = _address(result)
        self._routines.compute(
            ROW_MAJOR, NO_TRANS, PACKED, rows, N, K, x_at, K, self._address, N, 0.0, y_at, N
        )  # fmt: skip
        if y is not None and result is not y:
            y[...] = result
            return y
        return result


def _address(a: np.ndarray) -> int:
    """Where a C-contiguous array's first element is. ctypes' view of a writable array is
    made in a fifth of the time of ``a.ctypes`` (0.7 against 3.3 µs), which counts at
    every step of a time loop."""
    try:
        return ctypes.addressof(ctypes.c_char.from_buffer(a))
    except (TypeError, ValueError):  # read-only, or empty
        return a.ctypes.data


class MklGemm:
    """The recurrent products on MKL: each time loop's matrix packed once."""

    name = "mkl"

    def __init__(self, library: Mkl) -> None:
        self.library = library

    def fixed(self, W: np.ndarray, rows: int) -> PackedMatrix | np.ndarray:
        routines = self.library.routines.get(W.dtype)
        if routines is None or W.ndim != 2:
            return W  # MKL packs float32 and float64 only
        return PackedMatrix(routines, W, rows)


# Timing ---------------------------------------------------------------------------------

STEPS = 32  # products per timed time loop, after the packing
REPEATS = 3  # timed loops per path and thread count; the fastest of each is compared
# Below this many multiply-adds (B K N) per product MKL is not even tried: a call costs
# it about 8 µs before any arithmetic (libmkl_def, this project's machine), numpy 2:
# (4 x 32) @ (32 x 128) took 21 µs against 2, (20 x 64) @ (64 x 256) 25 against 9,
# while from (20 x 256) @ (256 x 256) on MKL was faster (227 µs against 286).
SMALL = 2**20


def choose(requested: str, model: Network, rows: int, threads: int = 0) -> Gemm:
    """Who computes ``model``'s recurrent products when it trains on batches of ``rows``:
    numpy, MKL (``ElmanError`` when it cannot run), or for "auto" MKL when it can run and
    is faster here. "auto" keeps numpy for products under ``SMALL``; otherwise it times
    both on the model's recurrent matrices, a time loop of ``STEPS`` products forward and
    one backward (W_h^T), packing included, with one BLAS thread and with all
    (``threads`` N: with N only), interleaved, ``REPEATS`` times, and keeps the one whose
    fastest loops add up to less (other programs on the cores only ever add time, so the
    fastest of a few is the steadiest estimate): a fraction of a second for lstm-char."""
    if requested not in GEMMS:
        raise ElmanError(f"--gemm must be one of {', '.join(GEMMS)}, got {requested!r}.")
    if requested == "numpy" or not model.recurrent:
        return NUMPY
    if requested == "mkl":
        return MklGemm(mkl())
    largest = max(rows * layer.params["W_h"].size for layer in model.recurrent)
    if largest < SMALL or mkl_problem():
        return NUMPY
    candidate = MklGemm(mkl())
    counts = [threads] if threads else sorted({1, BlasThreads().all})
    numpy_total = mkl_total = 0.0
    for count in counts:
        with BlasThreads(fixed=count) as blas:
            blas.start()
            numpy_seconds, mkl_seconds = [], []
            _time_loops(NUMPY, model, rows)  # untimed: first calls allocate
            _time_loops(candidate, model, rows)
            for _ in range(REPEATS):
                numpy_seconds.append(_time_loops(NUMPY, model, rows))
                mkl_seconds.append(_time_loops(candidate, model, rows))
        numpy_total += min(numpy_seconds)
        mkl_total += min(mkl_seconds)
    return candidate if mkl_total < numpy_total else NUMPY


def _time_loops(gemm: Gemm, model: Network, rows: int) -> float:
    """Seconds for each recurrent layer's forward and backward time loop of ``STEPS``
    products with ``gemm`` (the products only, on the layers' own matrices)."""
    rng = np.random.default_rng(0)
    loops = []
    for layer in model.recurrent:
        W = layer.params["W_h"]
        for matrix in (W, W.T):  # forward, backward
            x = rng.standard_normal((rows, matrix.shape[0])).astype(W.dtype)
            loops.append((matrix, x, np.empty((rows, matrix.shape[1]), W.dtype)))
    start = time.perf_counter()
    for matrix, x, y in loops:
        packed = gemm.fixed(matrix, rows)
        for _ in range(STEPS):
            np.matmul(x, packed, out=y)
    return time.perf_counter() - start


def describe(gemm: Gemm) -> str:
    """The path in a line, for logs and benchmark headers."""
    if isinstance(gemm, MklGemm):
        return f"mkl ({gemm.library.version()}; {gemm.library.path})"
    return f"numpy {np.__version__}"
