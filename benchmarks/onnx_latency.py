"""Sampling latency per token: an exported ONNX model in onnxruntime against elman's NumPy
sampler, on the same weights.

    python benchmarks/onnx_latency.py [--models rnn-ptb,lstm-char] [--repeats N]
                                      [--tokens N] [--out DIR]

Both generate one token at a time at batch 1 from the same model (initialised from a
seed, as bench.py's ``generate`` workload): elman with ``LanguageModel.step``, ONNX
Runtime with the exported graph over one step, the state fed back; each then draws the
next token with the same ``elman.sampling.sample_next`` (so the comparison is of the
network's step, plus the same sampler). Blocks of ``--tokens`` tokens are timed in turn
(elman, onnxruntime, elman, ...) after a pause, and the median block is reported, with
the BLAS kernel numpy uses (threadpoolctl's ``architecture``) and onnxruntime's version.
The first step's logits of the two are checked to agree.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from elman.config import ModelConfig
from elman.data.tokenizers import WordTokenizer
from elman.lm import checkpoint
from elman.lm.model import LanguageModel
from elman.onnx_export import export
from elman.onnx_export.lm import zeros_state
from elman.sampling import sample_next

SEED = 0
SETTLE_SECONDS = 0.3  # rest before each timed block (bench.py says why)


@dataclass(frozen=True)
class Model:
    cell: str
    vocab: int
    embed: int
    hidden: int
    layers: int


MODELS = {  # as benchmarks/bench.py's workloads of the same names
    "rnn-ptb": Model("rnn", 10_000, 256, 256, 1),
    "lstm-ptb": Model("lstm", 10_000, 200, 200, 2),
    "lstm-char": Model("lstm", 65, 64, 512, 2),
}


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def blas_kernel() -> str:
    try:
        import threadpoolctl
    except ImportError:
        return "unknown (threadpoolctl not installed)"
    pools = [p for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"]
    return ", ".join(f"{p['internal_api']} {p.get('architecture', '?')}" for p in pools)


def bench_model(name: str, repeats: int, tokens: int, tmp: Path) -> dict:
    m = MODELS[name]
    config = ModelConfig(
        vocab_size=m.vocab, embed=m.embed, hidden=m.hidden, cell=m.cell, layers=m.layers
    )
    model = LanguageModel(config, seed=SEED)
    # A vocabulary of the model's size, so that the checkpoint and the export are whole.
    tokenizer = WordTokenizer(["<unk>", "<eos>", *(f"w{i}" for i in range(m.vocab - 2))])
    checkpoint.save(tmp / name, model, tokenizer)
    export(tmp / name, tmp / f"{name}.onnx")
    session = ort.InferenceSession(str(tmp / f"{name}.onnx"), providers=["CPUExecutionProvider"])

    rng = np.random.default_rng(SEED)
    state, token = model.initial_state(1), [0]

    def elman_token() -> None:
        nonlocal state
        logits, state = model.step(np.array([token[0]]), state)
        token[0] = sample_next(logits[0], 1.0, 0, rng)

    feeds = zeros_state(model, 1)
    names = [o.name for o in session.get_outputs()]
    onnx_token_id = [0]

    def onnx_token() -> None:
        nonlocal feeds
        outputs = session.run(None, {"input_ids": np.array([[onnx_token_id[0]]]), **feeds})
        feeds = {n.replace("n", "0", 1): v for n, v in zip(names[1:], outputs[1:], strict=True)}
        onnx_token_id[0] = sample_next(outputs[0][0, 0], 1.0, 0, rng)

    ours, _ = model.step(np.array([0]), model.initial_state(1))
    theirs = session.run(["logits"], {"input_ids": np.array([[0]]), **zeros_state(model, 1)})[0]
    check = float(np.abs(ours[0] - theirs[0, 0]).max())

    runs = {"elman": elman_token, "onnxruntime": onnx_token}
    for run in runs.values():
        for _ in range(20):
            run()
    seconds: dict[str, list[float]] = {k: [] for k in runs}
    for _ in range(repeats):
        for key, run in runs.items():
            time.sleep(SETTLE_SECONDS)
            start = time.perf_counter()
            for _ in range(tokens):
                run()
            seconds[key].append((time.perf_counter() - start) / tokens)
    result = {"model": name, "config": asdict(m), "check_max_abs_logit_difference": check}
    for key, samples in seconds.items():
        result[key] = {
            "ms_per_token": statistics.median(samples) * 1e3,
            "samples_ms": [s * 1e3 for s in samples],
        }
    result["speedup_onnxruntime_over_elman"] = (
        result["elman"]["ms_per_token"] / result["onnxruntime"]["ms_per_token"]
    )
    return result


def markdown(report: dict) -> str:
    lines = [
        "# Sampling latency per token: onnxruntime vs elman's NumPy sampler",
        "",
        f"{report['machine']['cpu']}, {report['machine']['cores']} cores; numpy BLAS: "
        f"{report['machine']['blas']}; onnxruntime {report['machine']['onnxruntime']}. "
        f"Median of {report['repeats']} blocks of {report['tokens']} tokens, batch 1; load "
        f"average at the end {report['machine']['load_average_at_end'][0]:.1f} (other work "
        "on the machine slows both, not always alike).",
        "",
        "| model | elman ms/token | onnxruntime ms/token | onnxruntime speed-up |",
        "| --- | --- | --- | --- |",
    ]
    for r in report["results"]:
        lines.append(
            f"| {r['model']} | {r['elman']['ms_per_token']:.3f} | "
            f"{r['onnxruntime']['ms_per_token']:.3f} | "
            f"{r['speedup_onnxruntime_over_elman']:.2f}x |"
        )
    lines += ["", f"Command: `{report['command']}`", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default="rnn-ptb,lstm-char", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--tokens", type=int, default=200)
    parser.add_argument("--out", default=str(Path(__file__).parent / "results"))
    args = parser.parse_args(argv)
    if Path("/work/QUIET").exists():
        print("note: /work/QUIET exists: someone is measuring; figures may be disturbed")
    results = []
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.models.split(","):
            results.append(bench_model(name, args.repeats, args.tokens, Path(tmp)))
            r = results[-1]
            print(
                f"{name}: elman {r['elman']['ms_per_token']:.3f} ms/token, onnxruntime "
                f"{r['onnxruntime']['ms_per_token']:.3f} ms/token "
                f"({r['speedup_onnxruntime_over_elman']:.2f}x)"
            )
    report = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "repeats": args.repeats,
        "tokens": args.tokens,
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "blas": blas_kernel(),
            "onnxruntime": ort.__version__,
            "load_average_at_end": os.getloadavg(),
        },
        "results": results,
    }
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "onnx_latency.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "onnx_latency.md").write_text(markdown(report))
    print(f"wrote {out / 'onnx_latency.md'}")


if __name__ == "__main__":
    main()
