"""Scores from a confusion matrix, against counts worked out by hand and against their
definitions on random labels."""

import numpy as np
import pytest

from elman.metrics import confusion_matrix, confusion_report, report, scores


def test_confusion_matrix_rows_are_gold_columns_predicted():
    c = confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3)
    assert c.tolist() == [[1, 1, 0], [0, 1, 0], [1, 0, 2]]


def test_scores_by_hand():
    """gold  0 0 1 2 2 2, predicted 0 1 1 2 0 2:
    class 0: precision 1/2, recall 1/2; class 1: 1/2, 1/1; class 2: 2/2, 2/3."""
    s = scores(confusion_matrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3))
    assert s.accuracy == pytest.approx(4 / 6)
    assert s.precision.tolist() == pytest.approx([0.5, 0.5, 1.0])
    assert s.recall.tolist() == pytest.approx([0.5, 1.0, 2 / 3])
    f1 = [0.5, 2 / 3, 0.8]
    assert s.f1.tolist() == pytest.approx(f1)
    assert s.macro_f1 == pytest.approx(np.mean(f1))
    assert s.support.tolist() == [2, 1, 3]


def test_absent_classes_score_zero_and_stay_out_of_the_macro_mean():
    """Class 2 is neither gold nor predicted: it does not count. Class 1 is never
    predicted: precision 0 (not NaN), F1 0, and it does count."""
    s = scores(confusion_matrix([0, 0, 1], [0, 0, 0], 3))
    assert s.precision.tolist() == [pytest.approx(2 / 3), 0.0, 0.0]
    assert s.f1[1] == 0.0
    assert s.macro_f1 == pytest.approx((0.8 + 0.0) / 2)


def test_random_labels_against_definitions():
    rng = np.random.default_rng(0)
    gold, predicted = rng.integers(0, 4, 500), rng.integers(0, 4, 500)
    s = scores(confusion_matrix(gold, predicted, 4))
    assert s.accuracy == pytest.approx(np.mean(gold == predicted))
    for k in range(4):
        tp = np.sum((gold == k) & (predicted == k))
        p, r = tp / np.sum(predicted == k), tp / np.sum(gold == k)
        assert s.f1[k] == pytest.approx(2 * p * r / (p + r))


def test_reports_and_json():
    s = scores(confusion_matrix([0, 1, 1], [0, 1, 0], 2))
    text = report(s, ["ham", "spam"])
    assert "ham" in text and "macro F1" in text and "0.6667" in text
    assert confusion_report(s, ["ham", "spam"]).splitlines()[2].split() == ["spam", "1", "1"]
    d = s.as_dict(["ham", "spam"])
    assert d["classes"]["spam"]["recall"] == 0.5 and d["confusion"] == [[1, 0], [1, 1]]
