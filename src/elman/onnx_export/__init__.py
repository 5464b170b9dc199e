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

import os
from pathlib import Path
from typing import Any

import onnx

from elman.checkpoint import atomic_write
from elman.classify.checkpoint import ClassifierCheckpoint
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.kinds import load
from elman.lm.checkpoint import Checkpoint
from elman.lm.generate import line_start
from elman.onnx_export.classify import classifier_graph
from elman.onnx_export.lm import language_model_graph
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


def export(directory: str | os.PathLike, out: str | os.PathLike) -> dict[str, Any]:
    """Write the checkpoint in ``directory`` as ONNX to ``out``, its vocabulary and
    tokenisation to ``out`` with the suffix .json and the files the vocabulary needs to
    ``out`` with their own suffix (``.model``); return what that JSON holds."""
    ckpt = load(directory)
    out = Path(out)
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
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(out, lambda tmp: onnx.save(model, str(tmp)))
        for name, data in ckpt.tokenizer.files().items():
            atomic_write(out.with_suffix(f".{name}"), lambda tmp, data=data: tmp.write_bytes(data))
        atomic_write(
            sidecar_path(out),
            lambda tmp: Path(tmp).write_text(
                dumps(description, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
            ),
        )
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
