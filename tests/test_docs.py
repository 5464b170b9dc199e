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


SRC = Path(__file__).parent.parent / "src" / "elman"
ENTRY = re.compile(r"^\s*(\w+(?:\.py|/)?)\s{2,}\S", re.MULTILINE)


def tree_entries(folder: Path) -> set[str]:
    """The modules and packages of a folder, as a table names them: `x.py`, `x/`."""
    names = set()
    for path in folder.iterdir():
        if path.name.startswith(("_", ".")):
            continue
        if path.suffix == ".py":
            names.add(path.name)
        elif path.is_dir():
            names.add(path.name + "/")
    return names


def table_entries(text: str) -> set[str]:
    return {name for name in ENTRY.findall(text) if name.endswith((".py", "/"))}


def test_the_layout_in_architecture_md_is_the_tree():
    page = (DOCS / "architecture.md").read_text(encoding="utf-8")
    layout = page.split("```\nsrc/elman/\n", 1)[1].split("```", 1)[0]
    assert table_entries(layout) == tree_entries(SRC)


@pytest.mark.parametrize(
    "package", sorted(p.name for p in SRC.iterdir() if (p / "__init__.py").exists())
)
def test_every_package_lists_its_modules(package):
    import ast

    init = SRC / package / "__init__.py"
    docstring = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8"))) or ""
    assert table_entries(docstring) == tree_entries(SRC / package), package


def test_the_table_reader_sees_modules_and_packages():
    text = "Intro.\n\n    a.py   first\n    b/     second\n               more\nx.py\n"
    assert table_entries(text) == {"a.py", "b/"}
