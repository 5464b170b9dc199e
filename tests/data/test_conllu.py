"""CoNLL-U and two-column reading: comments, multi-word tokens and empty nodes skipped,
UPOS or XPOS, and every malformed line refused with file and line number."""

import pytest

from elman.data.conllu import read_tagged
from elman.errors import ElmanError

CONLLU = """# sent_id = 1
# text = I can't go.
1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_
2-3\tcan't\t_\t_\t_\t_\t_\t_\t_\t_
2\tca\tcan\tAUX\tMD\t_\t4\taux\t_\t_
3\tn't\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_
4\tgo\tgo\tVERB\tVB\t_\t0\troot\t_\t_
4.1\tgone\tgo\tVERB\tVBN\t_\t_\t_\t4:conj\t_
5\t.\t.\tPUNCT\t.\t_\t4\tpunct\t_\tSpaceAfter=No

# sent_id = 2
1\t안녕\t안녕\tINTJ\tIC\t_\t0\troot\t_\t_
"""


def write(path, text):
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("column", "tags"),
    [("upos", ["PRON", "AUX", "PART", "VERB", "PUNCT"]), ("xpos", ["PRP", "MD", "RB", "VB", "."])],
)
def test_conllu_words_and_tags(tmp_path, column, tags):
    first, second = read_tagged(write(tmp_path / "a.conllu", CONLLU), column)
    assert first.words == ["I", "ca", "n't", "go", "."]
    assert first.tags == tags
    assert (first.line, second.line) == (1, 11)
    assert second.words == ["안녕"]
    assert (first.text, second.text) == ("I can't go.", "")  # as written, where it says


def test_two_column_file(tmp_path):
    text = "The\tDET\ndog\tNOUN\n\n\nbarks\tVERB\n"
    sentences = read_tagged(write(tmp_path / "a.tsv", text))
    assert [(s.words, s.tags, s.line) for s in sentences] == [
        (["The", "dog"], ["DET", "NOUN"], 1),
        (["barks"], ["VERB"], 5),
    ]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "a.conllu",
            "1\tI\tI\tPRON\n",
            r"a\.conllu line 1 has 4 tab-separated columns, expected 10",
        ),
        ("a.conllu", CONLLU.replace("\tPART\t", "\t_\t"), r"a\.conllu line 6 has no UPOS tag"),
        ("a.conllu", "# only a comment\n", "holds no sentences"),
        ("a.tsv", "The\tDET\ndog NOUN\n", r"a\.tsv line 2 is not token<TAB>tag"),
        ("a.tsv", "The\tDET\textra\n", r"a\.tsv line 1 is not token<TAB>tag"),
        ("a.tsv", "", "is empty"),
    ],
)
def test_malformed_files_are_refused_naming_file_and_line(tmp_path, name, text, message):
    with pytest.raises(ElmanError, match=message):
        read_tagged(write(tmp_path / name, text))


def test_missing_xpos_suggests_upos(tmp_path):
    text = CONLLU.replace("\tPRP\t", "\t_\t")
    with pytest.raises(ElmanError, match="line 3 has no XPOS tag.*--tag-column upos"):
        read_tagged(write(tmp_path / "a.conllu", text), "xpos")
