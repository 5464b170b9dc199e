"""The corpus shipped with the package, so a first run needs no download."""

from __future__ import annotations

from importlib.resources import files


def tiny_shakespeare() -> str:
    """Return Tiny Shakespeare: 1,115,394 characters of Shakespeare's plays.

    Andrej Karpathy's char-rnn corpus (``data/tinyshakespeare/input.txt``), the
    usual first test of a character-level model; split it with
    ``split_text(text, 0.9)`` as char-rnn and nanoGPT do.
    """
    return (files("elman") / "corpora" / "tinyshakespeare.txt").read_text(encoding="utf-8")
