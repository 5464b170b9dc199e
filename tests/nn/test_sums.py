import numpy as np
import pytest

from elman.nn.sums import sum_columns, sum_rows
from tests.numeric import assert_close


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sums_match_numpy_in_the_arrays_dtype(dtype):
    a = np.random.default_rng(0).normal(size=(7, 5)).astype(dtype)
    assert sum_rows(a).dtype == sum_columns(a).dtype == dtype
    assert_close(sum_rows(a), a.sum(axis=1), rtol=1e-6)
    assert_close(sum_columns(a), a.sum(axis=0), rtol=1e-6)


def test_sum_columns_sums_every_axis_but_the_last_even_of_a_strided_view():
    a = np.random.default_rng(1).normal(size=(3, 4, 6))
    view = a[:, ::2, 1:]  # not contiguous: reshaped through a copy
    assert_close(sum_columns(view), view.sum(axis=(0, 1)), rtol=1e-12)


def test_sums_of_empty_arrays_are_zeros():
    assert sum_rows(np.zeros((0, 3))).shape == (0,)
    assert_close(sum_columns(np.zeros((0, 3))), np.zeros(3), rtol=0)
