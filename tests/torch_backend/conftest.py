"""The torch backend's tests run torch on one thread.

Their models are tiny: on two cores shared with other work, torch's OpenMP threads
spend more time waiting for each other than computing (an LSTM test took 5 s on two
threads and 0.4 s on one). One thread changes no result these tests compare.
"""

import pytest

try:
    import torch
except ImportError:  # the tests here skip themselves, saying why
    torch = None


@pytest.fixture(autouse=True)
def one_thread():
    if torch is None:
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
