import math

import pytest

from elman.lm.ngram import CharNgram

TEXT = "abracadabra\nabba\n"


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize("history", ["", "a", "ab", "zzz", "\nab", "bra"])
def test_each_context_gives_a_distribution(order: int, history: str) -> None:
    model = CharNgram(TEXT, order)
    seen = set(TEXT)
    total = sum(model.probability(history, c) for c in seen) + model.probability(history, "?")
    assert total == pytest.approx(1.0, abs=1e-12)


def test_witten_bell_by_hand() -> None:
    model = CharNgram("abab", order=2)
    # unigram level: n(a)=2, n(b)=2, 4 grams seen after "", 2 of them distinct; base 1/3
    p_b = (2 + 2 / 3) / (4 + 2)
    # after "a": b twice, one distinct character
    assert model.probability("a", "b") == pytest.approx((2 + 1 * p_b) / (2 + 1))
    # "b" was followed once (by a): the unseen "b" after "b" gets the backed-off share
    assert model.probability("b", "b") == pytest.approx(1 * p_b / 2)
    # a context never seen falls back to the unigram level
    assert model.probability("z", "b") == pytest.approx(p_b)


def test_bits_are_the_sum_over_characters() -> None:
    model = CharNgram(TEXT, order=3)
    text = "cab\nra"
    expected = -sum(
        math.log2(model.probability(text[max(0, i - 2) : i], c)) for i, c in enumerate(text)
    )
    assert model.bits(text) == pytest.approx(expected)
    assert model.bits_per_char(text) == pytest.approx(expected / len(text))
    assert CharNgram(TEXT, order=4).bits_per_char(TEXT) < CharNgram(TEXT, order=1).bits_per_char(
        TEXT
    )
