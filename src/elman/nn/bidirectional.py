"""Two recurrent layers reading one sequence in opposite directions."""

from __future__ import annotations

import numpy as np

from elman.nn.gru import GRU
from elman.nn.lstm import LSTM
from elman.nn.recurrent import RNN


class Bidirectional:
    """A bidirectional recurrent layer (Schuster & Paliwal 1997): ``forward_layer``
    reads x_1..x_T, ``reverse_layer`` reads x_T..x_1, and their outputs at each
    position are concatenated, [forward | reverse] (B, T, 2H), as in
    ``torch.nn.LSTM(bidirectional=True)``.

    Both directions start from zero states on every call: the reverse direction
    would need the future to carry a state across chunks, so an encoder reads
    whole sequences. That is also why a language model cannot use it.
    """

    def __init__(self, forward_layer: RNN | LSTM | GRU, reverse_layer: RNN | LSTM | GRU) -> None:
        self.forward_layer = forward_layer
        self.reverse_layer = reverse_layer
        self.state = None

    def sublayers(self) -> list[tuple[str, RNN | LSTM | GRU]]:
        """The two directions, named as in a model's parameter names."""
        return [("forward", self.forward_layer), ("reverse", self.reverse_layer)]

    def reset_state(self) -> None:
        self.forward_layer.reset_state()
        self.reverse_layer.reset_state()

    def forward(self, xs: np.ndarray) -> np.ndarray:
        """xs (B, T, D) -> hs (B, T, 2H)."""
        self.reset_state()
        forward = self.forward_layer.forward(xs)
        reverse = self.reverse_layer.forward(xs[:, ::-1])[:, ::-1]
        self.reset_state()
        return np.concatenate([forward, reverse], axis=-1)

    def backward(self, dhs: np.ndarray) -> tuple[np.ndarray, tuple]:
        """dhs (B, T, 2H) -> (dxs, (dstate0 forward, dstate0 reverse))."""
        H = dhs.shape[-1] // 2
        dxs, dstate_forward = self.forward_layer.backward(dhs[..., :H])
        dxs_reverse, dstate_reverse = self.reverse_layer.backward(dhs[..., H:][:, ::-1])
        dxs += dxs_reverse[:, ::-1]
        return dxs, (dstate_forward, dstate_reverse)
