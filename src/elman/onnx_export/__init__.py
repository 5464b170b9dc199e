"""ONNX export: a trained model as OUT.onnx, runnable by ONNX Runtime without Python's
elman or torch, and OUT.json beside it with the vocabulary and the rules that turn text
into ids and ids into text (``Tokenizer.rules``), and any file the vocabulary needs
beside that (a subword vocabulary's sentencepiece model, OUT.model).

    graph.py     the node builder and the recurrent layers (gate orders, biases)
    lm.py        a language model: input_ids, h0 (c0) -> logits, hn (cn)
    classify.py  a classifier: input_ids, lengths -> logits

Built with the ``onnx`` package from the NumPy weights (``pip install 'elman[onnx]'``,
which brings onnx and onnxruntime); nothing else in elman imports it.
"""

from __future__ import annotations

import fnmatch
import json
import os
from pathlib import Path
from typing import Any

import onnx

from elman.checkpoint import atomic_write_together, check_output_file
from elman.classify.checkpoint import ClassifierCheckpoint
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.kinds import load
from elman.lm.checkpoint import Checkpoint
from elman.lm.generate import line_start
from elman.onnx_export.classify import classifier_graph
from elman.onnx_export.lm import language_model_graph
from elman.runs import RUN_FILES
from elman.strict_json import dumps

FORMAT_VERSION = 1

CLASSIFIER_NORMALIZATION = [
    "When 'normalize_text' is true, before tokenizing: lower-case the text, write every "
    "digit as 0 (regex \\d), and keep only the runs of word characters (regex \\w+) and "
    "of punctuation (regex [^\\w\\s]+), joined by single spaces.",
    "When 'max_length' is above 0, read only the first max_length ids.",
]


def sidecar_path(out: Path) -> Path:
    """OUT.json beside OUT.onnx."""
    return out.with_suffix(".json")


def check_export_paths(out: str | os.PathLike, overwrite: bool = False) -> Path:
    """Refuse, before any work, an export that would write where it must not: OUT.onnx
    must be a file in a directory that exists; OUT.json, which the export writes without
    being named, must not be a file of a training run's directory (its config.json,
    vocab.json, ...: ``elman export --model runs/lm runs/lm/config.onnx``), nor any other
    file already there but an earlier export's own sidecar, unless ``overwrite``."""
    out = check_output_file(out, "OUT.onnx")
    if out.suffix != ".onnx":
        raise ElmanError(
            f"{out} should end in .onnx (its vocabulary goes beside it, in {out.stem}.json); "
            "name the file OUT.onnx."
        )
    sidecar = sidecar_path(out)
    if sidecar.is_dir():
        raise ElmanError(
            f"{sidecar} is a directory, and the export writes its vocabulary there; name the "
            "export otherwise."
        )
    run_files = sidecar.name in RUN_FILES or fnmatch.fnmatch(sidecar.name, "vocab-*.json")
    if run_files and any((out.parent / name).exists() for name in RUN_FILES):
        raise ElmanError(
            f"{sidecar} is a file of the training run in {out.parent}, and the export would "
            "write its vocabulary over it; give OUT.onnx another name or directory."
        )
    if sidecar.exists() and not overwrite and not _own_sidecar(sidecar, out):
        raise ElmanError(
            f"{sidecar} already exists, and the export writes its vocabulary there; name the "
            "export otherwise, move the file, or pass --overwrite to replace it."
        )
    return out


def _own_sidecar(sidecar: Path, out: Path) -> bool:
    """Whether ``sidecar`` is what an earlier export to ``out`` wrote beside it."""
    try:
        written = json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (
        isinstance(written, dict)
        and written.get("format") == "elman-onnx"
        and written.get("model") == out.name
    )


def export(
    directory: str | os.PathLike, out: str | os.PathLike, overwrite: bool = False
) -> dict[str, Any]:
    """Write the checkpoint in ``directory`` as ONNX to ``out``, its vocabulary and
    tokenisation to ``out`` with the suffix .json and the files the vocabulary needs to
    ``out`` with their own suffix (``.model``), never over a file it was not named to
    write unless ``overwrite`` (``check_export_paths``); return what that JSON holds.
    The files are written under temporary names and renamed once all are whole."""
    out = check_export_paths(out, overwrite)
    ckpt = load(directory)
    if isinstance(ckpt, Checkpoint) and ckpt.condition.conditioned:
        raise ElmanError(
            f"{directory} holds a language model conditioned on a {ckpt.condition.condition}, "
            "which ONNX export does not cover yet; export a plain language model (elman train "
            "without --condition)."
        )
    if isinstance(ckpt, Checkpoint):
        model = language_model_graph(ckpt.model)
        description = language_model_description(ckpt, out)
    elif isinstance(ckpt, ClassifierCheckpoint):
        model = classifier_graph(ckpt.model, ckpt.classifier_config.pooling)
        description = classifier_description(ckpt, out)
    else:
        raise ElmanError(
            f"{directory} holds a {ckpt.kind} checkpoint, and ONNX export covers language "
            "models and classifiers; export one of those."
        )
    description = {"format": "elman-onnx", "format_version": FORMAT_VERSION, **description}
    description["model"] = out.name
    sidecar = dumps(description, indent=2, ensure_ascii=False) + "\n"
    writes = {
        out: lambda tmp: onnx.save(model, str(tmp)),
        sidecar_path(out): lambda tmp: tmp.write_text(sidecar, encoding="utf-8"),
    }
    for name, data in ckpt.tokenizer.files().items():  # what the vocabulary needs (.model)
        writes[out.with_suffix(f".{name}")] = lambda tmp, data=data: tmp.write_bytes(data)
    try:  # all renamed into place once all are whole
        atomic_write_together(writes)
    except OSError as e:
        raise ElmanError(
            f"cannot write {out}: {e.strerror or e}; check the path, its permissions and the "
            "free disk space."
        ) from e
    return description


def tokenizer_description(tokenizer: Tokenizer, out: Path) -> dict[str, Any]:
    """The vocabulary, its special ids, its rules and the files it needs beside OUT.json
    (each OUT.NAME, by name)."""
    files = {name: out.with_suffix(f".{name}").name for name in tokenizer.files()}
    return {
        **tokenizer.to_json(),
        "unk_id": tokenizer.unk_id,
        "eos_id": tokenizer.eos_id,
        **({"files": files} if files else {}),
        "tokenization": list(tokenizer.rules),
    }


def language_model_description(ckpt: Checkpoint, out: Path) -> dict[str, Any]:
    config, tokenizer = ckpt.model.config, ckpt.tokenizer
    lstm = config.cell == "lstm"
    return {
        "kind": "language-model",
        "inputs": {
            "input_ids": ["batch", "time"],
            "h0": [config.layers, "batch", config.hidden],
            **({"c0": [config.layers, "batch", config.hidden]} if lstm else {}),
        },
        "outputs": {
            "logits": ["batch", "time", config.vocab_size],
            "hn": [config.layers, "batch", config.hidden],
            **({"cn": [config.layers, "batch", config.hidden]} if lstm else {}),
        },
        "logits": "log-probabilities" if config.softmax == "adaptive" else "logits",
        "cell": config.cell,
        "layers": config.layers,
        "hidden": config.hidden,
        "state": config.state,
        "tokenizer": tokenizer_description(tokenizer, out),
        "line_start_id": line_start(tokenizer),
        "sample_unknown": tokenizer.sample_unknown,
        "generation": [
            "Start from h0 (and c0) of zeros and feed line_start_id, then the prompt's ids.",
            "Sample the next id from softmax(logits[:, -1]), feed it with hn (and cn) as the "
            "new h0 (c0), and repeat; when sample_unknown is false, never sample id 0.",
        ],
    }


def classifier_description(ckpt: ClassifierCheckpoint, out: Path) -> dict[str, Any]:
    config, classifier_config = ckpt.model.config, ckpt.classifier_config
    return {
        "kind": "classifier",
        "inputs": {"input_ids": ["batch", "time"], "lengths": ["batch"]},
        "outputs": {"logits": ["batch", len(ckpt.labels)]},
        "labels": list(ckpt.labels),
        "cell": config.cell,
        "layers": config.layers,
        "bidirectional": config.bidirectional,
        "pooling": classifier_config.pooling,
        "normalize_text": classifier_config.normalize,
        "max_length": classifier_config.max_length,
        "text_rules": CLASSIFIER_NORMALIZATION,
        "tokenizer": tokenizer_description(ckpt.tokenizer, out),
        "usage": [
            "Right-pad the texts' ids with 0 to one length; 'lengths' holds each text's "
            "number of ids (at least 1).",
            "The label of a text is labels[argmax(logits)].",
        ],
    }
