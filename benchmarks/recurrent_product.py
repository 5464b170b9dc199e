"""The LSTM's recurrent product one step at a time, against the same FLOPs in one product.

    python benchmarks/recurrent_product.py [--repeats N] [--threads 1,2] [--out FILE.md]

lstm-char (bench.py) spends most of its time in the recurrence: at every one of T = 100
steps, forward computes h_{t-1} (B x H) @ W_h (H x 4H) and backward da_t (B x 4H) @ W_h^T,
with B = 32, H = 512. This script times those products, T of them in a row as the layer
computes them, next to one (T B x H) @ (H x 4H) product of the same FLOPs, which a BLAS
runs at its full rate. The question it answers: how much of the per-step product's
slowness is the BLAS re-packing the 4 MB W_h at every call (which a packed-once W_h would
avoid), and does any library installed here do better?

Rows, each in GFLOP/s (2 m n k per product), median over repeats:

- numpy (OpenBLAS) forward: ``np.matmul(h, W_h, out=a)`` per step; backward: the same
  with ``W_h.T``, the view the layer uses;
- numpy, one product of T B rows: the rate the same FLOPs reach in one call;
- torch: ``torch.mm`` per step and in one product (torch's own BLAS);
- torch nn.LSTM: one layer's forward over T steps as PyTorch's CPU kernel runs it, for
  reference (its input product and its recurrence: twice the FLOPs of the others);
- blis (``pip install blis``, single-threaded build): per step and in one product;
- MKL (``pip install mkl``, through ctypes): ``cblas_sgemm`` per step, and
  ``cblas_sgemm_pack`` once then ``cblas_sgemm_compute`` per step (W_h packed once per
  sequence, what the issue proposes), and one product.

A library that is not installed is skipped. MKL is looked for as libmkl_rt.so.* in
``--mkl-lib DIR`` (default: the lib directory of this Python's prefix). Every product's
result is checked against numpy's (relative difference below 1e-4).

Each (library, thread count) is timed in a block of T products after a rest of 0.3 s
(bench.py's SETTLE_SECONDS: the previous library's threads stop spinning), blocks taken
in turn, ``--repeats`` of each. The header gives the BLAS kernel OpenBLAS chose
(threadpoolctl's ``architecture``) and the load average before and after.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import threadpoolctl
import torch

B, H, T = 32, 512, 100  # lstm-char: batch, hidden units, steps per chunk
G = 4 * H  # gate columns
SETTLE_SECONDS = 0.3
RTOL = 1e-4

# cblas enums (mkl_cblas.h) and MKL's threading layers (mkl_service.h).
ROW_MAJOR, NO_TRANS, TRANS, PACKED, B_MATRIX = 101, 111, 112, 151, 162
MKL_THREADING_GNU = 3  # the OpenMP runtime torch also uses (libgomp)


class Mkl:
    """The few MKL functions timed here, through ctypes (no Python binding needed)."""

    def __init__(self, path: Path) -> None:
        self.lib = lib = ctypes.CDLL(str(path))
        lib.MKL_Set_Threading_Layer.argtypes = [ctypes.c_int]
        lib.MKL_Set_Threading_Layer(MKL_THREADING_GNU)
        lib.MKL_Set_Num_Threads.argtypes = [ctypes.c_int]
        c_int, c_float, ptr = ctypes.c_int, ctypes.c_float, ctypes.c_void_p
        lib.cblas_sgemm.argtypes = [c_int] * 6 + [c_float, ptr, c_int, ptr, c_int, c_float]
        lib.cblas_sgemm.argtypes += [ptr, c_int]
        lib.cblas_sgemm_pack_get_size.argtypes = [c_int] * 4
        lib.cblas_sgemm_pack_get_size.restype = ctypes.c_size_t
        lib.cblas_sgemm_pack.argtypes = [c_int] * 6 + [c_float, ptr, c_int, ptr]
        lib.cblas_sgemm_compute.argtypes = [c_int] * 6 + [ptr, c_int, ptr, c_int, c_float]
        lib.cblas_sgemm_compute.argtypes += [ptr, c_int]

    def threads(self, n: int) -> None:
        self.lib.MKL_Set_Num_Threads(n)

    def gemm(self, a: np.ndarray, b: np.ndarray, out: np.ndarray, trans_b: bool) -> None:
        """out = a @ (b.T if trans_b else b), all C-contiguous float32."""
        m, k = a.shape
        n = out.shape[1]
        self.lib.cblas_sgemm(
            ROW_MAJOR, NO_TRANS, TRANS if trans_b else NO_TRANS, m, n, k, 1.0,
            a.ctypes.data, k, b.ctypes.data, b.shape[1], 0.0, out.ctypes.data, n,
        )  # fmt: skip

    def pack(self, b: np.ndarray, m: int, trans_b: bool) -> np.ndarray:
        """b (or b.T) packed for products with m rows on the left."""
        k, n = (b.shape[1], b.shape[0]) if trans_b else b.shape
        size = self.lib.cblas_sgemm_pack_get_size(B_MATRIX, m, n, k)
        packed = np.empty(size // 4 + 16, np.float32)  # 64-byte aligned below
        offset = (-packed.ctypes.data % 64) // 4
        packed = packed[offset:]
        self.lib.cblas_sgemm_pack(
            ROW_MAJOR, B_MATRIX, TRANS if trans_b else NO_TRANS, m, n, k, 1.0,
            b.ctypes.data, b.shape[1], packed.ctypes.data,
        )  # fmt: skip
        return packed

    def compute(self, a: np.ndarray, packed: np.ndarray, out: np.ndarray) -> None:
        m, k = a.shape
        n = out.shape[1]
        self.lib.cblas_sgemm_compute(
            ROW_MAJOR, NO_TRANS, PACKED, m, n, k,
            a.ctypes.data, k, packed.ctypes.data, n, 0.0, out.ctypes.data, n,
        )  # fmt: skip


def find_mkl(directory: Path) -> Path | None:
    found = sorted(directory.glob("libmkl_rt.so*"))
    return found[0] if found else None


def candidates(mkl: Mkl | None) -> dict[str, tuple[Callable[[int], Callable[[], None]], float]]:
    """name -> (setup(threads) returning a block to time, FLOPs of the block)."""
    rng = np.random.default_rng(0)
    W_h = rng.standard_normal((H, G), dtype=np.float32) / np.float32(np.sqrt(H))
    W_hT = np.ascontiguousarray(W_h.T)  # (G, H): is the layer's transposed view slower?
    hs = rng.standard_normal((T, B, H), dtype=np.float32)  # a different h at every step
    das = rng.standard_normal((T, B, G), dtype=np.float32)
    a, dh = np.empty((B, G), np.float32), np.empty((B, H), np.float32)
    big_a = np.empty((T * B, G), np.float32)
    flops = 2.0 * T * B * H * G  # T products of (B x H) @ (H x G); the same for backward
    expected_a, expected_dh = hs[-1] @ W_h, das[-1] @ W_h.T

    def check(name: str, got: np.ndarray, want: np.ndarray) -> None:
        diff = np.abs(got - want).max() / np.abs(want).max()
        if diff > RTOL:
            raise SystemExit(f"{name}: result differs from numpy's by {diff:.1e}")

    def numpy_threads(n: int) -> None:
        threadpoolctl.threadpool_limits(n, user_api="blas")

    def numpy_forward(n: int):
        numpy_threads(n)

        def block() -> None:
            for t in range(T):
                np.matmul(hs[t], W_h, out=a)

        return block

    def numpy_backward(n: int):
        numpy_threads(n)

        def block() -> None:
            for t in range(T):
                np.matmul(das[t], W_h.T, out=dh)

        return block

    def numpy_backward_copy(n: int):
        numpy_threads(n)

        def block() -> None:
            for t in range(T):
                np.matmul(das[t], W_hT, out=dh)

        return block

    def numpy_one(n: int):
        numpy_threads(n)
        rows = hs.reshape(T * B, H)
        return lambda: np.matmul(rows, W_h, out=big_a)

    t_W_h = torch.from_numpy(W_h)
    t_hs, t_das = torch.from_numpy(hs), torch.from_numpy(das)
    t_a, t_dh, t_big = torch.from_numpy(a), torch.from_numpy(dh), torch.from_numpy(big_a)

    def torch_forward(n: int):
        torch.set_num_threads(n)

        def block() -> None:
            for t in range(T):
                torch.mm(t_hs[t], t_W_h, out=t_a)

        return block

    def torch_backward(n: int):
        torch.set_num_threads(n)

        def block() -> None:
            for t in range(T):
                torch.mm(t_das[t], t_W_h.T, out=t_dh)

        return block

    def torch_one(n: int):
        torch.set_num_threads(n)
        rows = t_hs.reshape(T * B, H)
        return lambda: torch.mm(rows, t_W_h, out=t_big)

    lstm = torch.nn.LSTM(H, H, 1, batch_first=False)
    xs = torch.from_numpy(rng.standard_normal((T, B, H), dtype=np.float32))

    def torch_lstm(n: int):
        """One layer's forward over T steps: its input product and its recurrence."""
        torch.set_num_threads(n)

        def block() -> None:
            with torch.no_grad():
                lstm(xs)

        return block

    runs: dict[str, tuple[Callable, float]] = {
        "numpy forward, per step": (numpy_forward, flops),
        "numpy backward (W_h.T view), per step": (numpy_backward, flops),
        "numpy backward (contiguous copy of W_h.T), per step": (numpy_backward_copy, flops),
        "numpy, one (T B x H) @ (H x 4H) product": (numpy_one, flops),
        "torch.mm forward, per step": (torch_forward, flops),
        "torch.mm backward, per step": (torch_backward, flops),
        "torch.mm, one product": (torch_one, flops),
        # The layer computes the input product too: the same FLOPs again (D = H here).
        "torch nn.LSTM forward, whole layer (2x the FLOPs: input + recurrent)": (
            torch_lstm,
            2 * flops,
        ),
    }

    numpy_forward(1)()
    check("numpy forward", a, expected_a)
    numpy_backward(1)()
    check("numpy backward", dh, expected_dh)
    torch_forward(1)()
    check("torch forward", a, expected_a)
    torch_backward(1)()
    check("torch backward", dh, expected_dh)

    try:
        import blis.py as blis_py
    except ImportError:
        print("blis not installed: skipped (pip install blis)", file=sys.stderr)
    else:

        def blis_forward(n: int):
            def block() -> None:
                for t in range(T):
                    blis_py.gemm(hs[t], W_h, out=a, beta=0.0)

            return block

        def blis_backward(n: int):
            def block() -> None:
                for t in range(T):
                    blis_py.gemm(das[t], W_h, out=dh, trans2=True, beta=0.0)

            return block

        def blis_one(n: int):
            rows = hs.reshape(T * B, H)
            return lambda: blis_py.gemm(rows, W_h, out=big_a, beta=0.0)

        blis_forward(1)()
        check("blis forward", a, expected_a)
        blis_backward(1)()
        check("blis backward", dh, expected_dh)
        runs |= {
            "blis forward, per step (1 thread build)": (blis_forward, flops),
            "blis backward, per step": (blis_backward, flops),
            "blis, one product": (blis_one, flops),
        }

    if mkl is not None:

        def mkl_forward(n: int):
            mkl.threads(n)

            def block() -> None:
                for t in range(T):
                    mkl.gemm(hs[t], W_h, a, trans_b=False)

            return block

        def mkl_backward(n: int):
            mkl.threads(n)

            def block() -> None:
                for t in range(T):
                    mkl.gemm(das[t], W_h, dh, trans_b=True)

            return block

        def mkl_packed_forward(n: int):
            """W_h packed once per sequence (the packing inside the block)."""
            mkl.threads(n)

            def block() -> None:
                packed = mkl.pack(W_h, B, trans_b=False)
                for t in range(T):
                    mkl.compute(hs[t], packed, a)

            return block

        def mkl_packed_backward(n: int):
            mkl.threads(n)

            def block() -> None:
                packed = mkl.pack(W_h, B, trans_b=True)
                for t in range(T):
                    mkl.compute(das[t], packed, dh)

            return block

        def mkl_one(n: int):
            mkl.threads(n)
            rows = hs.reshape(T * B, H)
            return lambda: mkl.gemm(rows, W_h, big_a, trans_b=False)

        for name, setup, out, want in (
            ("mkl forward", mkl_forward, a, expected_a),
            ("mkl backward", mkl_backward, dh, expected_dh),
            ("mkl packed forward", mkl_packed_forward, a, expected_a),
            ("mkl packed backward", mkl_packed_backward, dh, expected_dh),
        ):
            setup(1)()
            check(name, out, want)
        runs |= {
            "MKL cblas_sgemm forward, per step": (mkl_forward, flops),
            "MKL cblas_sgemm backward, per step": (mkl_backward, flops),
            "MKL packed W_h (pack once + compute) forward, per step": (mkl_packed_forward, flops),
            "MKL packed W_h backward, per step": (mkl_packed_backward, flops),
            "MKL, one product": (mkl_one, flops),
        }
    return runs


def blas_kernel() -> str:
    pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    return ", ".join(
        f"{p['internal_api']} {p['version']} {p.get('architecture', '?')} ({p['filepath']})"
        for p in pools
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per row")
    parser.add_argument("--threads", default="1,2", help="thread counts, comma-separated")
    parser.add_argument(
        "--mkl-lib",
        type=Path,
        default=Path(sys.prefix) / "lib",
        help="directory holding libmkl_rt.so.* (pip install mkl puts it in PREFIX/lib)",
    )
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    threads = [int(x) for x in args.threads.split(",")]
    mkl_path = find_mkl(args.mkl_lib)
    if mkl_path is None:
        print(f"no libmkl_rt.so* in {args.mkl_lib}: MKL skipped (pip install mkl)", file=sys.stderr)
    mkl = Mkl(mkl_path) if mkl_path else None
    load_start = os.getloadavg()
    runs = candidates(mkl)
    rates: dict[tuple[str, int], list[float]] = {}
    for _ in range(args.repeats):
        for n in threads:
            for name, (setup, flops) in runs.items():
                if name.startswith("blis") and n != 1:
                    continue  # the PyPI build is single-threaded
                block = setup(n)
                block()  # warm-up: threads started, memory touched
                time.sleep(SETTLE_SECONDS)
                start = time.perf_counter()
                block()
                seconds = time.perf_counter() - start
                rates.setdefault((name, n), []).append(flops / seconds / 1e9)
    load_end = os.getloadavg()
    lines = [
        "# The LSTM's recurrent product, per step and in one product (lstm-char shapes)",
        "",
        f"- command: `{shlex.join(['python', *sys.argv])}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}; cpus: {os.cpu_count()}",
        f"- numpy {np.__version__}, BLAS: {blas_kernel()}",
        f"- torch {torch.__version__}, MKL {torch.backends.mkl.is_available()}, "
        f"oneDNN {torch.backends.mkldnn.is_available()}",
        f"- MKL (ctypes): {mkl_path or 'not found'}",
        f"- load average (1, 5, 15 min) at start {', '.join(f'{x:.2f}' for x in load_start)}, "
        f"at end {', '.join(f'{x:.2f}' for x in load_end)}",
        f"- B = {B}, H = {H}, 4H = {G}, T = {T}: {T} products of ({B} x {H}) @ ({H} x {G}) "
        f"= {2 * T * B * H * G / 1e9:.2f} GFLOP per block",
        "",
        "| product | "
        + " | ".join(f"{n} thread{'s' if n > 1 else ''} GFLOP/s" for n in threads)
        + " |",
        "|---|" + "---:|" * len(threads),
    ]
    for name in runs:
        cells = []
        for n in threads:
            r = rates.get((name, n))
            cells.append(
                "-" if r is None else f"{statistics.median(r):.1f} ({min(r):.0f}..{max(r):.0f})"
            )
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "Medians over repeats, (lowest..highest) beside them. Per step: T = 100 products of "
        "B = 32 rows in a row, as the layer's time loop computes them; one product: the same "
        "FLOPs as one (3200 x 512) @ (512 x 2048) product.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        args.out.write_text(text, encoding="utf-8")


if __name__ == "__main__":
    main()
