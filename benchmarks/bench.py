"""Speed of elman against the same models in PyTorch eager, on this machine.

    python benchmarks/bench.py [--workloads rnn-ptb,lstm-ptb,lstm-char,generate]
                               [--repeats N] [--steps N] [--out DIR]

Training workloads time a full step (zero grads, forward, backward, clip by global
norm, SGD update) of an elman model and of a PyTorch model holding the same initial
weights, measured alternately (elman block, torch block, elman block, ...) after
warm-up steps, in one process per workload with the same thread count. ``generate`` times
sampling one token at a time at batch 1. Token ids are synthetic (a seeded
``numpy.random.Generator``): uniform where the cost of a step does not depend on
which ids they are, Zipf-like (p(id) ~ 1 / (id + 1)) for the adaptive softmax, whose
cost does. See benchmarks/README.md for how to read the output.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shlex
import statistics
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from elman.blas import BlasThreads
from elman.gemm import MklGemm, choose, describe, mkl, mkl_problem
from elman.lm.config import LanguageModelConfig
from elman.lm.model import LanguageModel
from elman.nn.adaptive_softmax import projection_size
from elman.nn.products import NUMPY, Gemm
from elman.optim import SGD
from elman.sampling import sample_next
from elman.torch_names import torch_names, zeroed_biases

CLIP = 0.25  # global gradient norm, as in pytorch/examples word_language_model
LR = 1.0  # SGD learning rate; any value costs the same
SEED = 0
N_BATCHES = 4  # distinct synthetic batches, cycled
CHECK_RTOL = 1e-4  # elman and torch losses on the same weights should agree this closely
# Seconds of rest before each timed block or product. Both libraries' worker threads keep
# spinning for a while after their last call (OpenBLAS's pthreads, torch's OpenMP), and
# on two cores those spinning threads slow the other library's next call: here torch's
# lstm-ptb step ran 7,223 tokens/s right after elman's block against 7,979 after a 0.3 s
# pause, and elman's 9,146 against 9,444 (medians of 6 blocks each).
SETTLE_SECONDS = 0.3
# Untimed steps before the timed blocks. elman's choice of BLAS threads (elman.blas)
# settles within its first 8 steps: 2 untimed, 3 with one thread, 3 with all.
WARMUP_STEPS = 10


@dataclass(frozen=True)
class Workload:
    cell: str  # "rnn" (tanh), "lstm" or "gru"
    vocab: int  # V
    embed: int  # D
    hidden: int  # H, every layer
    layers: int
    batch: int  # B
    bptt: int  # T, tokens per stream per step
    softmax: str = "full"  # or "adaptive": default cutoffs V/5, V/2 and div_value 4


WORKLOADS = {
    # Word level, PTB-sized vocabulary, one tanh layer (Mikolov-style RNN LM).
    "rnn-ptb": Workload("rnn", 10_000, 256, 256, 1, 20, 35),
    # The same with an adaptive softmax (Grave et al. 2017), cutoffs 2000, 5000.
    "rnn-ptb-adaptive": Workload("rnn", 10_000, 256, 256, 1, 20, 35, softmax="adaptive"),
    # Zaremba et al. 2014 "small": 2 x 200 LSTM, batch 20, unrolled 20 steps.
    "lstm-ptb": Workload("lstm", 10_000, 200, 200, 2, 20, 20),
    # char-rnn-sized: 2 x 512 LSTM on tiny-shakespeare's 65 characters. Embedding 64
    # is torch-rnn's default -wordvec_size (karpathy/char-rnn feeds one-hot vectors,
    # i.e. an input of size 65: the same cost).
    "lstm-char": Workload("lstm", 65, 64, 512, 2, 32, 100),
    # The same with GRU cells (3 gates: three quarters of the LSTM's products).
    "gru-char": Workload("gru", 65, 64, 512, 2, 32, 100),
}
GATES = {"rnn": 1, "lstm": 4, "gru": 3}  # gate blocks in W_x and W_h, by cell
GENERATE_MODELS = ("rnn-ptb", "lstm-char")  # the models the "generate" workload samples from


# The machine.


def blas_threads() -> tuple[int, str]:
    """The thread count numpy's BLAS uses, and where the number came from."""
    try:
        import threadpoolctl
    except ImportError:
        return os.cpu_count() or 1, "os.cpu_count() (threadpoolctl not installed)"
    pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    if not pools:
        return os.cpu_count() or 1, "os.cpu_count() (threadpoolctl found no BLAS)"
    return max(p["num_threads"] for p in pools), "threadpoolctl"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def blas_info() -> dict:
    """numpy's BLAS (threadpoolctl if installed, else numpy's build configuration),
    torch's math libraries, and the BLAS/OpenMP environment variables as found."""
    try:
        import threadpoolctl

        numpy_blas = threadpoolctl.threadpool_info()
    except ImportError:
        deps = np.show_config(mode="dicts").get("Build Dependencies", {})
        numpy_blas = {k: deps.get("blas", {}).get(k) for k in ("name", "version")}
        numpy_blas["configuration"] = deps.get("blas", {}).get("openblas configuration")
    return {
        "numpy": numpy_blas,
        "torch": {
            "mkl": torch.backends.mkl.is_available(),
            "mkldnn": torch.backends.mkldnn.is_available(),
            "parallel_info": torch.__config__.parallel_info(),
        },
        "environment": {
            k: v
            for k, v in sorted(os.environ.items())
            if k.startswith(("OPENBLAS_", "OMP_", "MKL_"))
        },
    }


def matmul_rates(repeats: int = 3, clock: Callable[[], float] = time.perf_counter) -> dict:
    """float32 (n, n) @ (n, n) for n = 1024, 1536, 2048, numpy and torch alternately:
    GFLOP/s (2 n^3 per product) of each product, and the medians. With the [mkl] extra
    also MKL's (``elman.gemm``: pack, then compute); and torch's nn.LSTM over one step
    of 4096 rows (1024 -> 4 x 1024), whose products oneDNN computes with kernels of its
    own rather than torch.mm's MKL: on a processor not Intel's MKL runs its generic
    kernels, oneDNN its AVX-512 ones."""
    rng = np.random.default_rng(SEED)
    samples: dict[str, list[float]] = {"numpy": [], "torch": []}
    mkl_gemm = None if mkl_problem() else MklGemm(mkl())
    if mkl_gemm is not None:
        samples["mkl"] = []
    for n in (1024, 1536, 2048):
        a, b = (rng.standard_normal((n, n), dtype=np.float32) for _ in range(2))
        c = np.empty((n, n), np.float32)
        ta, tb, tc = torch.from_numpy(a), torch.from_numpy(b), torch.empty(n, n)
        products = {
            "numpy": lambda a=a, b=b, c=c: np.matmul(a, b, out=c),
            "torch": lambda a=ta, b=tb, c=tc: torch.mm(a, b, out=c),
        }
        if mkl_gemm is not None:
            products["mkl"] = lambda a=a, b=b, c=c, n=n: np.matmul(a, mkl_gemm.fixed(b, n), out=c)
        for product in products.values():
            product()  # warm-up
        for _ in range(repeats):
            for name, product in products.items():
                time.sleep(SETTLE_SECONDS)
                start = clock()
                product()
                samples[name].append(2 * n**3 / (clock() - start) / 1e9)
    lstm = torch.nn.LSTM(1024, 1024)
    x = torch.from_numpy(rng.standard_normal((1, 4096, 1024), dtype=np.float32))
    samples["torch_lstm"] = []
    with torch.no_grad():
        lstm(x)  # warm-up
        for _ in range(repeats):
            time.sleep(SETTLE_SECONDS)
            start = clock()
            lstm(x)
            seconds = clock() - start
            samples["torch_lstm"].append(2 * 4096 * 2048 * 4096 / seconds / 1e9)
    return {
        name: {"median_gflops": statistics.median(s), "samples": s} for name, s in samples.items()
    }


# The models.


def adaptive_cutoffs(w: Workload) -> list[int]:
    """The adaptive softmax's default cutoffs for the workload's vocabulary."""
    return LanguageModelConfig(
        vocab_size=w.vocab, hidden=w.hidden, softmax="adaptive"
    ).adaptive_cutoffs()


def target_probabilities(w: Workload) -> np.ndarray:
    """Zipf-like p(id) ~ 1 / (id + 1) over V: ids are ranks by frequency, as the word
    tokenizer orders them. Uniform ids would fall mostly in the adaptive softmax's tail
    (80% beyond a shortlist of V/5) and misstate its cost; with these, 84% fall in
    the shortlist at V = 10,000 (87% on the Penn Treebank itself)."""
    p = 1.0 / np.arange(1, w.vocab + 1)
    return p / p.sum()


def output_flops_per_token(w: Workload) -> float:
    """The output layer's forward products per token: H V for the full softmax; for the
    adaptive softmax the head (H -> shortlist + clusters) and, for the fraction of
    targets in cluster k, its two products (H -> h_k -> |C_k|), expected under
    ``target_probabilities``."""
    if w.softmax == "full":
        return 2 * w.hidden * w.vocab
    bounds = [*adaptive_cutoffs(w), w.vocab]
    p = target_probabilities(w)
    flops = 2 * w.hidden * (bounds[0] + len(bounds) - 1)
    for k in range(len(bounds) - 1):
        size = projection_size(w.hidden, 4.0, k)
        share = p[bounds[k] : bounds[k + 1]].sum()
        flops += share * 2 * (w.hidden * size + size * (bounds[k + 1] - bounds[k]))
    return flops


def forward_flops_per_token(w: Workload) -> int:
    """Matrix-product FLOPs of one forward pass per token, 2 m n k per product: each
    layer's input (D or H -> gates * H) and recurrent (H -> gates * H) products and the
    output layer (``output_flops_per_token``). Elementwise work, the softmax, the
    embedding lookup and the O(parameters) clip and update are not counted."""
    gates = GATES[w.cell]
    flops = round(output_flops_per_token(w))
    for i in range(w.layers):
        flops += 2 * ((w.embed if i == 0 else w.hidden) + w.hidden) * gates * w.hidden
    return flops


def training_flops_per_token(w: Workload) -> int:
    """Forward plus backward: backward computes, for every product, the gradient with
    respect to its input and to its weight, each as costly as the product: 3x forward."""
    return 3 * forward_flops_per_token(w)


def elman_model(w: Workload) -> LanguageModel:
    config = LanguageModelConfig(
        vocab_size=w.vocab,
        embed=w.embed,
        hidden=w.hidden,
        cell=w.cell,
        layers=w.layers,
        softmax=w.softmax,
    )
    return LanguageModel(config, seed=SEED, dtype=np.float32)


class TorchLM(torch.nn.Module):
    """nn.Embedding -> nn.RNN(tanh) / nn.LSTM / nn.GRU (batch_first) -> nn.Linear, or
    nn.AdaptiveLogSoftmaxWithLoss(head_bias=True) for the adaptive softmax (its loss
    is taken in ``torch_trainer``)."""

    def __init__(self, w: Workload) -> None:
        super().__init__()
        self.embed = torch.nn.Embedding(w.vocab, w.embed)
        if w.cell in ("lstm", "gru"):
            cell = torch.nn.LSTM if w.cell == "lstm" else torch.nn.GRU
            self.rnn = cell(w.embed, w.hidden, w.layers, batch_first=True)
        else:
            self.rnn = torch.nn.RNN(
                w.embed, w.hidden, w.layers, nonlinearity="tanh", batch_first=True
            )
        if w.softmax == "adaptive":
            self.output = torch.nn.AdaptiveLogSoftmaxWithLoss(
                w.hidden, w.vocab, adaptive_cutoffs(w), div_value=4.0, head_bias=True
            )
        else:
            self.output = torch.nn.Linear(w.hidden, w.vocab)

    def hidden_states(self, x: torch.Tensor, state=None):
        return self.rnn(self.embed(x), state)  # (B, T, H)

    def forward(self, x: torch.Tensor, state=None):
        out, state = self.hidden_states(x, state)  # (B, T, H)
        return self.output(out), state  # (B, T, V)


def torch_copy(model: LanguageModel, w: Workload) -> TorchLM:
    """A TorchLM holding ``model``'s weights, named as ``elman.torch_names`` says. elman
    has one bias per layer, so torch's bias_hh is zero and frozen: the two models then
    compute and update the same function."""
    ref = TorchLM(w)
    tparams = dict(ref.named_parameters())
    with torch.no_grad():
        for name, (tname, transposed) in torch_names(model.params).items():
            value = model.params[name].T if transposed else model.params[name]
            tparams[tname].copy_(torch.from_numpy(np.ascontiguousarray(value)))
        for tname in zeroed_biases(model.params):
            tparams[tname].zero_()
            tparams[tname].requires_grad_(False)
    return ref


def synthetic_batches(w: Workload) -> list[tuple[np.ndarray, np.ndarray]]:
    """N_BATCHES (inputs, targets) pairs of random ids, each (B, T): uniform, or
    Zipf-like (``target_probabilities``) for the adaptive softmax."""
    rng = np.random.default_rng(SEED)
    size = (N_BATCHES, w.batch, w.bptt + 1)
    if w.softmax == "adaptive":
        ids = rng.choice(w.vocab, size=size, p=target_probabilities(w))
    else:
        ids = rng.integers(0, w.vocab, size=size)
    return [(b[:, :-1], b[:, 1:]) for b in ids]


# One training step each, carrying the state across steps (truncated BPTT).


def elman_trainer(model: LanguageModel, threads: BlasThreads):
    """A training step as ``elman.train`` takes it, ``threads`` choosing the BLAS
    thread count of each."""
    optimizer = SGD(model.flat_params, LR)

    def step(inputs: np.ndarray, targets: np.ndarray) -> float:
        threads.start()
        model.zero_grad()
        loss = model.forward(inputs, targets)
        model.backward()
        optimizer.step(model.flat_grads, clip=CLIP)
        threads.stop(inputs.size)
        return loss

    return step


def torch_trainer(ref: TorchLM):
    params = [p for p in ref.parameters() if p.requires_grad]
    optimizer = torch.optim.SGD(params, lr=LR)
    state = None

    def step(inputs: torch.Tensor, targets: torch.Tensor) -> float:
        nonlocal state
        optimizer.zero_grad()
        if state is not None:  # truncated BPTT: the gradient stops at the chunk boundary
            state = tuple(s.detach() for s in state) if isinstance(state, tuple) else state.detach()
        if isinstance(ref.output, torch.nn.AdaptiveLogSoftmaxWithLoss):
            hs, state = ref.hidden_states(inputs, state)
            loss = ref.output(hs.reshape(-1, hs.shape[-1]), targets.reshape(-1)).loss
        else:
            logits, state = ref(inputs, state)
            loss = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), targets.reshape(-1))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, CLIP)
        optimizer.step()
        return loss.item()

    return step


def products_alone(w: Workload):
    """A step of only the matrix products an elman training step computes, with numpy on
    arrays of the same shapes, for a full-softmax workload (None for the adaptive
    softmax, whose products depend on the targets). Everything else, the elementwise
    work, the softmax, the embedding, clipping and the update, is left out, so this is
    the speed elman would have if it spent no time outside numpy's matrix products:
    its ceiling on this machine and BLAS."""
    if w.softmax != "full":
        return None
    rng = np.random.default_rng(SEED)
    B, T, H, V = w.batch, w.bptt, w.hidden, w.vocab
    N, G = B * T, GATES[w.cell] * w.hidden  # rows, gate columns

    def rand(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape, dtype=np.float32)

    # Per layer: its inputs (N, D), W_x (D, G), W_h (H, G), its outputs (N, H) and the
    # gradient of its gate pre-activations (N, G).
    layers = [
        (rand(N, w.embed if i == 0 else H), rand(w.embed if i == 0 else H, G), rand(H, G))
        for i in range(w.layers)
    ]
    hs, da, W_y, dy = rand(N, H), rand(N, G), rand(H, V), rand(N, V)
    h, a, dh = rand(B, H), rand(B, G), np.empty((B, H), np.float32)

    def step(_: int) -> None:
        for xs, W_x, W_h in layers:  # forward
            xs @ W_x  # the input projection of all steps
            for _ in range(T):
                np.matmul(h, W_h, out=a)  # the recurrence, one step at a time
        hs @ W_y  # logits
        hs.T @ dy, dy @ W_y.T  # output layer backward: dW_y, dh
        for xs, W_x, W_h in reversed(layers):  # backward
            W_hT = np.ascontiguousarray(W_h.T)  # as elman's numpy path copies it
            for _ in range(T):
                np.matmul(a, W_hT, out=dh)
            hs.T @ da, xs.T @ da, da @ W_x.T  # dW_h, dW_x, dxs

    return step


def clock(args: argparse.Namespace) -> Callable[[], float]:
    """The clock blocks are timed with: the wall clock, or this process's CPU time."""
    return time.process_time if getattr(args, "cpu_time", False) else time.perf_counter


def relative_difference(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-30)


def time_alternately(
    runs: dict, repeats: int, n: int, clock: Callable[[], float] = time.perf_counter
) -> dict[str, list[float]]:
    """Seconds per call of each ``runs[name](i)``, blocks of n calls taken in turn:
    A B A B ..., ``repeats`` blocks each, each after ``SETTLE_SECONDS`` of rest; by the
    wall clock, or ``time.process_time`` (``--cpu-time``)."""
    seconds: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            time.sleep(SETTLE_SECONDS)
            start = clock()
            for i in range(n):
                run(i)
            seconds[name].append((clock() - start) / n)
    return seconds


def training_steps(
    w: Workload, gemms: dict[str, Gemm], threads: dict[str, BlasThreads] | None = None
) -> dict:
    """``{"elman": step, ..., "torch": step}``: ``step(i)`` trains the framework's model
    (the same initial weights in all) on synthetic batch ``i % N_BATCHES`` and returns
    the loss, carrying the state from call to call. One elman model for each of
    ``gemms`` (its name: who computes its recurrent products, ``elman.gemm``), each
    choosing its BLAS threads as ``elman train`` does, with ``threads[name]`` if given."""
    batches = synthetic_batches(w)
    tbatches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    runs = {}
    for name, gemm in gemms.items():
        model = elman_model(w)
        model.use_gemm(gemm)
        step = elman_trainer(model, (threads or {}).get(name) or BlasThreads())
        runs[name] = lambda i, step=step: step(*batches[i % N_BATCHES])
    torch_step = torch_trainer(torch_copy(model, w))
    runs["torch"] = lambda i: torch_step(*tbatches[i % N_BATCHES])
    return runs


def elman_gemms() -> dict[str, Gemm]:
    """The product paths to time: numpy's, and MKL's where the [mkl] extra can run
    (loaded now, so that every ``BlasThreads`` made after sets its threads too)."""
    return {"elman": NUMPY} if mkl_problem() else {"elman": NUMPY, "elman-mkl": MklGemm(mkl())}


def bench_training(name: str, args: argparse.Namespace, rates: dict) -> dict:
    w = WORKLOADS[name]
    gemms = elman_gemms()
    runs = training_steps(w, gemms)
    elmans = list(gemms)

    # Warm-up, alternating; its first two steps double as the correctness check: the
    # same loss from the same weights, and again after one clipped SGD update.
    losses: dict[str, list[float]] = {fw: [] for fw in runs}
    for i in range(max(args.warmup, 2)):
        for fw in losses:
            losses[fw].append(runs[fw](i))
    diffs = [
        relative_difference(a, b)
        for fw in elmans
        for a, b in zip(losses[fw][:2], losses["torch"][:2], strict=True)
    ]

    products = products_alone(w)
    if products is not None:
        products(0)  # warm-up
        runs["products"] = products
    seconds = time_alternately(runs, args.repeats, args.steps, clock(args))
    tokens = w.batch * w.bptt
    flops = training_flops_per_token(w)
    result = {"workload": name, "config": asdict(w), "tokens_per_step": tokens}
    result["flops_per_token"] = flops
    for fw in (*elmans, "torch"):
        tok_s = statistics.median(tokens / s for s in seconds[fw])
        result[fw] = {
            "tokens_per_s": tok_s,
            "tokens_per_s_samples": [tokens / s for s in seconds[fw]],
            "gflops": tok_s * flops / 1e9,
            "fraction_of_numpy_matmul": tok_s * flops / 1e9 / rates["numpy"]["median_gflops"],
            "fraction_of_torch_matmul": tok_s * flops / 1e9 / rates["torch"]["median_gflops"],
        }
    result["ratio_elman_over_torch"] = (
        result["elman"]["tokens_per_s"] / result["torch"]["tokens_per_s"]
    )
    if "elman-mkl" in result:
        result["ratio_elman_mkl_over_torch"] = (
            result["elman-mkl"]["tokens_per_s"] / result["torch"]["tokens_per_s"]
        )
        model = elman_model(w)
        result["gemm_auto"] = choose("auto", model, w.batch).name  # what elman train would use
    if products is not None:
        tok_s = statistics.median(tokens / s for s in seconds["products"])
        result["products_alone"] = {
            "tokens_per_s": tok_s,
            "tokens_per_s_samples": [tokens / s for s in seconds["products"]],
            "elman_fraction": result["elman"]["tokens_per_s"] / tok_s,
            "ceiling_over_torch": tok_s / result["torch"]["tokens_per_s"],
        }
    result["check"] = {
        "compares": "mean cross-entropy of step 1 (same weights) and step 2 (after the update)",
        **{f"{fw}_losses": losses[fw][:2] for fw in losses},
        "max_relative_difference": max(diffs),
        "ok": max(diffs) <= CHECK_RTOL,
    }
    if not result["check"]["ok"]:
        print(f"  WARNING: {name}: losses differ by {max(diffs):.2e} relative", file=sys.stderr)
    return result


# Peak memory: each framework trains in a fresh process (spawned, so nothing is shared).
# ru_maxrss would not do: Linux carries it across exec from the forked parent, so the
# child would report this (large) process's peak. /proc/self/status VmHWM is the peak
# of the child's own address space, and writing "5" to /proc/self/clear_refs resets it
# to the current size, so the peak of the model and its steps is measured alone.


def _status_kib(field: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


def peak_rss_child(name: str, framework: str, threads: int, steps: int) -> dict:
    """Run in a subprocess: resident size after imports, then the peak resident size
    (VmHWM) while building the model and taking ``steps`` training steps."""
    torch.set_num_threads(threads)
    baseline = _status_kib("VmRSS")
    try:
        Path("/proc/self/clear_refs").write_text("5")  # peak := current (Linux >= 4.0)
        reset = True
    except OSError:
        reset = False  # the peak may then be the imports' own
    w = WORKLOADS[name]
    batches = synthetic_batches(w)
    if framework == "elman":
        step = elman_trainer(elman_model(w), BlasThreads())
    else:
        step = torch_trainer(TorchLM(w))
        batches = [(torch.from_numpy(x), torch.from_numpy(y)) for x, y in batches]
    for i in range(steps):
        step(*batches[i % N_BATCHES])
    peak = _status_kib("VmHWM")
    return {"after_imports_mib": baseline / 1024, "peak_mib": peak / 1024, "peak_reset": reset}


def peak_rss(name: str, threads: int) -> dict:
    result = {}
    for framework in ("elman", "torch"):
        r = in_fresh_process(peak_rss_child, name, framework, threads, 3)
        r["extra_mib"] = r["peak_mib"] - r["after_imports_mib"]
        result[framework] = r
    return result


def in_fresh_process(function, *args):
    """``function(*args)`` in a newly spawned Python process, and its result.

    Each workload is timed in its own process, so that what an earlier one leaves
    behind does not change its speed. It does: after ``rnn-ptb``, whose logits are
    larger, torch's ``lstm-ptb`` step ran about 25% faster than in a fresh process
    (9,600-9,950 tokens/s against 7,600-7,740; elman's was unchanged), which is what
    a process training only that model gets. (glibc's malloc raises its mmap and trim
    thresholds after freeing a large block, so later large blocks stop costing page
    faults: our reading, not measured separately.)"""
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=1, mp_context=context) as pool:
        return pool.submit(function, *args).result()


def run_workload(name: str, args: argparse.Namespace, rates: dict, threads: int) -> list[dict]:
    """The results of one workload (``generate``: one per model), with torch given
    ``threads`` threads; called in a fresh process."""
    torch.set_num_threads(threads)
    if name == "generate":
        return [bench_generate(model, args) for model in GENERATE_MODELS]
    result = bench_training(name, args, rates)
    if not args.no_memory:
        result["memory"] = peak_rss(name, threads)
    return [result]


# Generation: one token at a time at batch 1.


def generation_models(w: Workload) -> tuple[LanguageModel, TorchLM]:
    """The elman model and its torch copy, both in evaluation mode."""
    model = elman_model(w)
    model.training = False
    return model, torch_copy(model, w).eval()


def generation_steps(model: LanguageModel, ref: TorchLM, threads: BlasThreads) -> dict:
    """``{"elman": token, "torch": token}``: ``token(i)`` samples the framework's next
    token at batch 1 (one step of the model, temperature 1, no top-k) and feeds it
    back at the next call; ``threads`` sets elman's BLAS threads, as in
    ``elman.generate``."""
    rng = np.random.default_rng(SEED)
    generator = torch.Generator().manual_seed(SEED)

    state = model.initial_state(1)
    token = [0]

    def elman_token(_: int) -> None:
        nonlocal state
        threads.start()
        logits, state = model.step(np.array([token[0]]), state)  # (1, V)
        threads.stop()
        token[0] = sample_next(logits[0], 1.0, 0, rng)

    tstate = None
    ttoken = [0]

    @torch.no_grad()
    def torch_token(_: int) -> None:
        nonlocal tstate
        logits, tstate = ref(torch.tensor([[ttoken[0]]]), tstate)  # (1, 1, V)
        probs = torch.softmax(logits[0, -1], dim=-1)
        ttoken[0] = int(torch.multinomial(probs, 1, generator=generator))

    return {"elman": elman_token, "torch": torch_token}


def bench_generate(name: str, args: argparse.Namespace) -> dict:
    w = WORKLOADS[name]
    model, ref = generation_models(w)
    runs = generation_steps(model, ref, BlasThreads())

    # Check: the first step's logits from the zero state agree.
    ours, _ = model.step(np.array([0]), model.initial_state(1))
    with torch.no_grad():
        theirs = ref(torch.tensor([[0]]))[0][0, -1].numpy()
    check = float(np.abs(ours[0] - theirs).max() / np.abs(theirs).max())

    for run in runs.values():
        for i in range(10):
            run(i)
    seconds = time_alternately(runs, args.repeats, args.tokens, clock(args))
    result = {"workload": f"generate ({name})", "config": asdict(w)}
    result["forward_flops_per_token"] = forward_flops_per_token(w)
    for fw in runs:
        result[fw] = {
            "ms_per_token": statistics.median(seconds[fw]) * 1e3,
            "ms_per_token_samples": [s * 1e3 for s in seconds[fw]],
        }
    result["ratio_elman_over_torch"] = (
        result["torch"]["ms_per_token"] / result["elman"]["ms_per_token"]
    )
    result["check"] = {
        "compares": "logits of the first step, max |difference| / max |torch logit|",
        "max_relative_difference": check,
        "ok": check <= CHECK_RTOL,
    }
    return result


# Output.


def spread(result: dict, key: str, fmt: str) -> str:
    """The median and, in brackets, the lowest and highest repeat."""
    samples = result[key + "_samples"]
    return f"{result[key]:{fmt}} ({min(samples):{fmt}}..{max(samples):{fmt}})"


def markdown(report: dict) -> str:
    m, r = report["machine"], report["matmul"]
    lines = [
        "# elman vs PyTorch eager",
        "",
        f"- date: {report['date']}",
        f"- command: `{report['command']}`",
        f"- machine: {m['cpu']}, {m['cpu_count']} logical CPUs ({m['cpus_available']} available), "
        f"load average {m['load_average_start'][0]:.2f} at start, "
        f"{report['load_average_end'][0]:.2f} at end",
        f"- python {m['python']}, numpy {m['numpy']}, torch {m['torch']}",
        f"- threads: {report['threads']} ({report['threads_source']}); "
        f"torch.get_num_threads() = {report['torch_threads']}",
        f"- numpy BLAS: {json.dumps(report['blas']['numpy'])}",
        f"- torch: MKL {report['blas']['torch']['mkl']}, "
        f"oneDNN {report['blas']['torch']['mkldnn']}",
        f"- BLAS/OpenMP environment: {json.dumps(report['blas']['environment'])}",
        f"- MKL for the recurrent products (elman.gemm, [mkl] extra): {report['mkl']}",
        f"- float32 matmul, median of (1024..2048)^2 products: numpy "
        f"{r['numpy']['median_gflops']:.1f} GFLOP/s, torch.mm {r['torch']['median_gflops']:.1f} "
        "GFLOP/s"
        + (f", MKL (elman.gemm) {r['mkl']['median_gflops']:.1f} GFLOP/s" if "mkl" in r else "")
        + (
            f"; torch's nn.LSTM (oneDNN) over one step of 4096 rows "
            f"{r['torch_lstm']['median_gflops']:.1f} GFLOP/s"
            if "torch_lstm" in r
            else ""
        ),
        f"- clock: {'CPU time of the process' if report['args'].get('cpu_time') else 'wall'}; "
        f"repeats {report['args']['repeats']}, steps per repeat {report['args']['steps']}, "
        f"warm-up {report['args']['warmup']}, generate tokens per repeat "
        f"{report['args']['tokens']}",
        "",
    ]
    training = [x for x in report["results"] if "tokens_per_s" in x["elman"]]
    if training:
        lines += [
            "## Training step (zero grads, forward, backward, clip 0.25, SGD), float32",
            "",
            "| workload | B x T | MFLOP/token | elman tok/s | torch tok/s | elman/torch "
            "| elman GFLOP/s | elman % numpy matmul | torch % torch matmul "
            "| loss rel. diff | peak RSS extra MiB elman / torch |",
            "|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|",
        ]
        for x in training:
            c, e, t = x["config"], x["elman"], x["torch"]
            mem = x.get("memory")
            mem_text = (
                f"{mem['elman']['extra_mib']:.0f} / {mem['torch']['extra_mib']:.0f}" if mem else "-"
            )
            check = f"{x['check']['max_relative_difference']:.1e}"
            check += "" if x["check"]["ok"] else " MISMATCH"
            lines.append(
                f"| {x['workload']} | {c['batch']} x {c['bptt']} | "
                f"{x['flops_per_token'] / 1e6:.1f} | {spread(e, 'tokens_per_s', ',.0f')} | "
                f"{spread(t, 'tokens_per_s', ',.0f')} | {x['ratio_elman_over_torch']:.2f} | "
                f"{e['gflops']:.1f} | {100 * e['fraction_of_numpy_matmul']:.0f}% | "
                f"{100 * t['fraction_of_torch_matmul']:.0f}% | {check} | {mem_text} |"
            )
        lines.append("")
    with_mkl = [x for x in training if "elman-mkl" in x]
    if with_mkl:
        lines += [
            "## With MKL's packed recurrent products (the [mkl] extra, --gemm mkl)",
            "",
            "| workload | elman numpy tok/s | elman mkl tok/s | torch tok/s | numpy/torch "
            "| mkl/torch | mkl/numpy | --gemm auto chose |",
            "|---|---:|---:|---:|---:|---:|---:|---|",
        ]
        for x in with_mkl:
            e, k, t = x["elman"], x["elman-mkl"], x["torch"]
            lines.append(
                f"| {x['workload']} | {spread(e, 'tokens_per_s', ',.0f')} | "
                f"{spread(k, 'tokens_per_s', ',.0f')} | {spread(t, 'tokens_per_s', ',.0f')} | "
                f"{x['ratio_elman_over_torch']:.2f} | {x['ratio_elman_mkl_over_torch']:.2f} | "
                f"{k['tokens_per_s'] / e['tokens_per_s']:.2f} | {x['gemm_auto']} |"
            )
        lines.append("")
    alone = [x for x in training if "products_alone" in x]
    if alone:
        lines += [
            "## The same step's matrix products alone (numpy, same shapes)",
            "",
            "| workload | products alone tok/s | elman's speed as % of it "
            "| products alone / torch (elman's ceiling) |",
            "|---|---:|---:|---:|",
        ]
        for x in alone:
            p = x["products_alone"]
            lines.append(
                f"| {x['workload']} | {spread(p, 'tokens_per_s', ',.0f')} | "
                f"{100 * p['elman_fraction']:.0f}% | {p['ceiling_over_torch']:.2f} |"
            )
        lines.append("")
    generation = [x for x in report["results"] if "ms_per_token" in x["elman"]]
    if generation:
        lines += [
            "## Generation at batch 1 (one step + sampling per token)",
            "",
            "| workload | elman ms/token | torch ms/token | elman/torch (speed) "
            "| logits rel. diff |",
            "|---|---:|---:|---:|---|",
        ]
        for x in generation:
            check = f"{x['check']['max_relative_difference']:.1e}"
            check += "" if x["check"]["ok"] else " MISMATCH"
            lines.append(
                f"| {x['workload']} | {spread(x['elman'], 'ms_per_token', '.2f')} | "
                f"{spread(x['torch'], 'ms_per_token', '.2f')} | "
                f"{x['ratio_elman_over_torch']:.2f} | {check} |"
            )
        lines.append("")
    lines += [
        "elman/torch is elman's speed divided by torch's (below 1: elman is slower). "
        "Medians over repeats, (lowest..highest repeat) beside them. FLOPs count matrix "
        "products only (2 m n k forward, twice that backward). Peak RSS extra: peak "
        "resident size (VmHWM) of a fresh subprocess building the model and taking 3 "
        "training steps, minus its resident size after importing numpy, torch and elman. "
        "elman (numpy) and elman-mkl differ only in who computes the recurrent layers' "
        "products (elman.gemm), timed in turn with torch in the same blocks. "
        "Products alone: a step of only the matrix products elman's step computes (numpy, "
        "same shapes, the recurrence one step at a time), timed in turn with the other two; "
        "its speed over torch's is the most elman could reach with this BLAS.",
        "",
    ]
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    names = [*WORKLOADS, "generate"]
    parser.add_argument(
        "--workloads",
        default=",".join(names),
        help=f"comma-separated, from {', '.join(names)} (default: all)",
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed blocks per framework")
    parser.add_argument("--steps", type=int, default=10, help="training steps per timed block")
    parser.add_argument(
        "--warmup",
        type=int,
        default=WARMUP_STEPS,
        help=f"untimed steps first (at least 2; default {WARMUP_STEPS})",
    )
    parser.add_argument(
        "--tokens", type=int, default=200, help="generated tokens per timed block (generate)"
    )
    parser.add_argument(
        "--no-memory", action="store_true", help="skip the peak-memory subprocesses"
    )
    parser.add_argument(
        "--cpu-time",
        action="store_true",
        help="time the blocks by this process's CPU time instead of the wall clock: on a "
        "machine other jobs load, and with one thread (OPENBLAS_NUM_THREADS=1), a steadier "
        "measure; with more threads it counts their spinning as work",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).resolve().parent / "results",
        help="directory for latest.md and latest.json (default: benchmarks/results)",
    )
    args = parser.parse_args(argv)
    args.workloads = [x.strip() for x in args.workloads.split(",") if x.strip()]
    unknown = [x for x in args.workloads if x not in names]
    if unknown:
        parser.error(f"unknown workload(s) {', '.join(unknown)}; choose from {', '.join(names)}")
    for flag in ("repeats", "steps", "tokens"):
        if getattr(args, flag) < 1:
            parser.error(f"--{flag} must be at least 1, got {getattr(args, flag)}")
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    threads, source = blas_threads()
    torch.set_num_threads(threads)
    report = {
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "command": shlex.join(["python", *sys.argv]),
        "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "machine": {
            "cpu": cpu_model(),
            "cpu_count": os.cpu_count(),
            "cpus_available": len(os.sched_getaffinity(0)),
            "load_average_start": os.getloadavg(),
            "platform": platform.platform(),
            "python": platform.python_version(),
            "numpy": np.__version__,
            "torch": torch.__version__,
        },
        "threads": threads,
        "threads_source": source,
        "torch_threads": torch.get_num_threads(),
        "blas": blas_info(),
        "mkl": f"not used: {mkl_problem()}" if mkl_problem() else describe(MklGemm(mkl())),
    }
    print(f"threads: {threads} ({source}); measuring matmul rates", file=sys.stderr)
    report["matmul"] = matmul_rates(clock=clock(args))
    results = []
    for name in args.workloads:
        print(f"{name} ...", file=sys.stderr)
        results += in_fresh_process(run_workload, name, args, report["matmul"], threads)
    report["results"] = results
    report["load_average_end"] = os.getloadavg()

    text = markdown(report)
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "latest.md").write_text(text)
    (args.out / "latest.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.out / 'latest.md'} and {args.out / 'latest.json'}", file=sys.stderr)


if __name__ == "__main__":
    main()
