"""What saving and loading a checkpoint costs: a 10 M-parameter language model saved over
the checkpoint already in a directory, as a training run keeps its best model.

    python benchmarks/checkpoint_save.py [--repeats N] [--dir DIR] [--out FILE]

Times, in turn, ``elman.lm.checkpoint.save`` (over the previous save, the case of every
save but a run's first), ``elman.load`` (most of which is building the model, whose
initialisation is then overwritten), reading and checking the checkpoint's files alone
(``elman.checkpoint.read_checkpoint``) and, as the floor any writer pays, the same
tensors written by ``safetensors.numpy.save_file`` and flushed to disk with fsync. Each is
repeated ``--repeats`` times after a pause and the median is printed, with every repeat
in ``--out`` (JSON). The directory (default: a temporary one beside this script, on the
disk the runs are on, not a tmpfs) decides what fsync costs. Run it with
``PYTHONPATH=OTHER/src`` to time another checkout the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import safetensors.numpy

import elman
from elman import checkpoint as files
from elman.config import ModelConfig
from elman.data.tokenizers import WordTokenizer
from elman.lm import checkpoint
from elman.lm.model import LanguageModel

SETTLE_SECONDS = 0.3  # rest before each timed repeat (bench.py says why)
# V 10,000, embedding 400, two LSTM layers of 400: 10,625,600 parameters, 42.5 MB.
CONFIG = ModelConfig(vocab_size=10_000, embed=400, hidden=400, cell="lstm", layers=2)


def timed(action) -> float:
    time.sleep(SETTLE_SECONDS)
    start = time.perf_counter()
    action()
    return time.perf_counter() - start


def read_files(directory: Path) -> None:
    files.read_checkpoint(directory, checkpoint.KIND, checkpoint.SECTIONS, ("tokens",))


def bare_save(path: Path, tensors: dict[str, np.ndarray]) -> None:
    safetensors.numpy.save_file(tensors, path)
    with open(path, "rb+") as f:
        os.fsync(f.fileno())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=9)
    parser.add_argument("--dir", type=Path, default=None, help="where to save (default: temp)")
    parser.add_argument("--out", type=Path, default=None, help="write every repeat as JSON")
    args = parser.parse_args()
    tokenizer = WordTokenizer.fit(" ".join(f"w{i}" for i in range(CONFIG.vocab_size - 2)))
    models = [LanguageModel(CONFIG, seed=seed) for seed in (1, 2)]  # saved in turn
    parameters = models[0].flat_params.size
    parent = args.dir or Path(__file__).parent
    with tempfile.TemporaryDirectory(dir=parent, prefix=".checkpoint-bench-") as tmp:
        out = Path(tmp) / "run"
        checkpoint.save(out, models[1], tokenizer, info={"epoch": 0})  # the one replaced
        times: dict[str, list[float]] = {
            "save": [],
            "load": [],
            "read_checkpoint": [],
            "safetensors save_file": [],
        }
        for i in range(args.repeats):
            model = models[i % 2]
            times["save"].append(
                timed(lambda m=model: checkpoint.save(out, m, tokenizer, info={"epoch": 1}))
            )
            times["load"].append(timed(lambda: elman.load(out)))
            times["read_checkpoint"].append(timed(lambda: read_files(out)))
            times["safetensors save_file"].append(
                timed(lambda m=model: bare_save(Path(tmp) / "bare.safetensors", m.params))
            )
    medians = {name: statistics.median(values) for name, values in times.items()}
    print(f"elman {elman.__file__}")
    print(f"{parameters:,} parameters ({4 * parameters / 1e6:.1f} MB), {args.repeats} repeats")
    for name, value in medians.items():
        print(f"  {name:<22} median {1000 * value:8.1f} ms")
    if args.out:
        record = {
            "elman": elman.__file__,
            "parameters": parameters,
            "machine": platform.processor() or platform.machine(),
            "load_average": os.getloadavg(),
            "seconds": times,
            "median_seconds": medians,
        }
        args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
