"""The documentation's code runs: every ```python block of a tutorial page, in order, in
one namespace, as a reader would type them (so the page cannot drift from elman)."""

import re
from pathlib import Path

import pytest

DOCS = Path(__file__).parent.parent / "docs"
TUTORIALS = ["tutorial-hello.md"]
BLOCK = re.compile(r"^```python\n(.*?)^```$", re.MULTILINE | re.DOTALL)


def python_blocks(page: Path) -> list[str]:
    return BLOCK.findall(page.read_text(encoding="utf-8"))


@pytest.mark.parametrize("name", TUTORIALS)
def test_tutorial_runs(name, capsys):
    blocks = python_blocks(DOCS / name)
    assert len(blocks) >= 10
    namespace: dict = {"__name__": f"docs.{name}"}
    for number, code in enumerate(blocks, start=1):
        try:
            exec(compile(code, f"{name}, block {number}", "exec"), namespace)
        except Exception as e:  # say which block broke
            raise AssertionError(f"{name}, block {number} failed: {e!r}\n{code}") from e
    assert "hello" in capsys.readouterr().out


def test_the_block_finder_sees_every_block():
    page = "text\n```python\na = 1\n```\n```\nnot python\n```\n```python\nb = a\n```\n"
    assert re.findall(BLOCK, page) == ["a = 1\n", "b = a\n"]
