"""The finite-difference helper itself, so a broken reference cannot pass everything."""

import numpy as np
import pytest

from tests.numeric import assert_close, numerical_gradient


def test_numerical_gradient_of_known_function():
    x = np.array([0.5, -1.0, 2.0])
    assert_close(numerical_gradient(lambda: float((x**3).sum()), x), 3 * x**2, rtol=1e-6)


def test_assert_close_fails_on_wrong_gradient():
    with pytest.raises(AssertionError):
        assert_close(np.array([1.0, 2.0]), np.array([1.0, 2.1]))
