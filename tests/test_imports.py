"""What a process loads: ``import elman`` loads neither NumPy nor a kind of model,
``elman --help`` lists every command from the kinds' registrations alone (no NumPy, no
model), and a command loads the kind it uses and no other. Each case runs in a fresh
interpreter and reads its ``sys.modules``."""

from __future__ import annotations

import json
import subprocess
import sys

KINDS = ("elman.lm", "elman.classify", "elman.tag", "elman.translate")


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running ``code``."""
    script = f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return set(json.loads(result.stdout.splitlines()[-1]))


def kind_modules(modules: set[str]) -> set[str]:
    """The modules of the kinds' packages, but their registrations (the packages)."""
    return {m for m in modules if any(m.startswith(kind + ".") for kind in KINDS)}


def test_import_elman_loads_no_numpy_and_no_kind():
    modules = loaded_after("import elman")
    assert "numpy" not in modules
    assert not kind_modules(modules) and not set(KINDS) & modules


def test_help_lists_every_command_without_numpy_or_a_model():
    code = "from elman.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass"
    modules = loaded_after(code)
    assert "numpy" not in modules and not kind_modules(modules)
    assert set(KINDS) <= modules  # their registrations, which name their commands


def test_a_name_of_the_package_loads_its_kind_when_used():
    modules = loaded_after("import elman\nelman.LanguageModel")
    assert "elman.lm.model" in modules and "numpy" in modules
    assert not any(
        m.startswith(("elman.classify.", "elman.tag.", "elman.translate.")) for m in modules
    )


def test_loading_a_checkpoint_loads_its_kind_only(tmp_path):
    from elman.classify.checkpoint import ClassifierCheckpoint, save
    from elman.classify.model import Classifier
    from elman.config import ModelConfig
    from elman.data.tokenizers import WordTokenizer

    tokenizer = WordTokenizer.fit("a b c\n")
    model = Classifier(ModelConfig(vocab_size=len(tokenizer), embed=2, hidden=2), 2, "final")
    save(tmp_path, ClassifierCheckpoint(model, tokenizer, ["x", "y"]))
    modules = loaded_after(f"import elman\nelman.load({str(tmp_path)!r})")
    assert "elman.classify.model" in modules
    assert not any(m.startswith(("elman.tag.", "elman.translate.", "elman.cli")) for m in modules)
    assert json.loads((tmp_path / "config.json").read_text())["kind"] == "classifier"
