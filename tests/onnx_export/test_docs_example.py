"""The sampling example of docs/backends.md runs as written, with numpy and onnxruntime
alone, on an exported character model, and with sentencepiece too on a subword model."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("onnx", reason="ONNX export needs the onnx package")
pytest.importorskip("onnxruntime", reason="the example runs the model in onnxruntime")

from elman.config import ModelConfig  # noqa: E402
from elman.data.tokenizers import CharTokenizer, SubwordTokenizer  # noqa: E402
from elman.lm import checkpoint  # noqa: E402
from elman.lm.model import LanguageModel  # noqa: E402
from elman.onnx_export import export  # noqa: E402

DOC = Path(__file__).resolve().parents[2] / "docs" / "backends.md"


def example() -> str:
    found = re.search(r"<!-- onnx-example -->\n```python\n(.*?)```", DOC.read_text(), re.S)
    assert found, "docs/backends.md lost its marked example"
    return found.group(1)


PLAY = "".join(
    f"ROMEO:\nWhat say you, Juliet? I say {w}.\nJULIET:\nThe {w} is mine.\n"
    for w in ("love", "night", "sun", "moon", "star", "rose", "name", "sword")
)


def run_example(tmp_path, tokenizer, cell):
    model = LanguageModel(ModelConfig(vocab_size=len(tokenizer), embed=8, hidden=12, cell=cell))
    checkpoint.save(tmp_path / "ckpt", model, tokenizer)
    export(tmp_path / "ckpt", tmp_path / "model.onnx")
    # -I: isolated, so elman (installed or on the path) is not there to lean on.
    code = "import sys; sys.modules['elman'] = None\n" + example()
    result = subprocess.run(
        [sys.executable, "-I", "-c", code], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.rstrip("\n")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_the_docs_sampling_example_runs_without_elman(tmp_path, cell):
    tokenizer = CharTokenizer.fit("ROMEO:\nWhat say you, Juliet?\n")
    text = run_example(tmp_path, tokenizer, cell)
    assert text.startswith("ROMEO:") and len(text) == len("ROMEO:") + 200
    assert set(text) <= set(tokenizer.tokens)


def test_the_docs_sampling_example_reads_a_subword_model_with_sentencepiece(tmp_path):
    tokenizer = SubwordTokenizer.fit(PLAY, vocab_size=295)
    text = run_example(tmp_path, tokenizer, "lstm")
    assert (tmp_path / "model.model").read_bytes() == tokenizer.files()["model"]
    assert text.startswith("ROMEO:") and len(text) > len("ROMEO:") + 50
