"""Who computes the recurrent layers' products: numpy's path leaves the matrix as it is,
and a network hands its gemm to every recurrent layer, both directions of a pair."""

import numpy as np

from elman.config import ModelConfig
from elman.lm.model import LanguageModel
from elman.nn.products import NUMPY
from elman.translate.model import TranslateConfig, Translator, TranslatorModelConfig


def test_numpy_gemm_gives_the_matrix_itself_and_a_transpose_in_c_order():
    W = np.arange(12.0).reshape(3, 4)
    assert NUMPY.fixed(W, 2) is W
    W_T = NUMPY.fixed(W.T, 2)
    assert W_T.flags.c_contiguous and not np.shares_memory(W_T, W)
    assert np.array_equal(W_T, W.T)


class Recording:
    """A gemm that says which matrices the loops asked it for."""

    name = "recording"

    def __init__(self):
        self.asked = []

    def fixed(self, W, rows):
        self.asked.append((W.shape, rows))
        return W


def test_every_recurrent_layer_asks_the_networks_gemm_once_per_loop():
    model = Translator(
        TranslatorModelConfig(vocab_size=9, embed=4, hidden=5, cell="gru", bidirectional=True),
        TranslateConfig(source_vocab_size=8, attention="general"),
    )
    assert model.gemm is NUMPY
    gemm = Recording()
    model.use_gemm(gemm)
    assert model.gemm is gemm
    assert len(model.recurrent) == 3  # the encoder's two directions and the decoder
    assert all(layer.gemm is gemm for layer in model.recurrent)
    source, lengths = np.array([[2, 3, 4], [5, 6, 0]]), np.array([3, 2])
    inputs, targets = np.array([[1, 2], [1, 3]]), np.array([[2, 3], [3, 0]])
    model.forward(source, lengths, inputs, targets, targets > 0)
    model.backward()
    # Forward W_h (H, 3H) and backward W_h^T (3H, H), per layer, for the batch of 2.
    assert sorted(gemm.asked) == sorted([((5, 15), 2)] * 3 + [((15, 5), 2)] * 3)


def test_a_language_model_without_a_gemm_set_runs_on_numpy():
    model = LanguageModel(ModelConfig(vocab_size=5, embed=3, hidden=4, cell="lstm", layers=2))
    assert model.gemm is NUMPY and [layer.gemm for layer in model.recurrent] == [NUMPY] * 2
