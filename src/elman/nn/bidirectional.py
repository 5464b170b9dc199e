"""Two recurrent layers reading one sequence in opposite directions."""

from __future__ import annotations

import numpy as np

from elman.nn.gru import GRU
from elman.nn.lstm import LSTM
from elman.nn.recurrent import RNN


def reversal(lengths: np.ndarray, steps: int) -> np.ndarray:
    """For right-padded sequences, the (B, T) positions that read each one backwards:
    row b is lengths[b]-1, ..., 1, 0, then the padding in place. It is its own inverse.

    With T = 5 and lengths (5, 3):

        [[4 3 2 1 0]
         [2 1 0 3 4]]
    """
    t = np.arange(steps)
    last = np.asarray(lengths, dtype=np.int64)[:, None] - 1
    return np.where(t <= last, last - t, t)


def _gather(xs: np.ndarray, order: np.ndarray) -> np.ndarray:
    """xs (B, T, D) with row b's steps in the order ``order[b]`` (B, T)."""
    return np.take_along_axis(xs, order[:, :, None], axis=1)


class Bidirectional:
    """A bidirectional recurrent layer (Schuster & Paliwal 1997): ``forward_layer``
    reads x_1..x_T, ``reverse_layer`` reads x_T..x_1, and their outputs at each
    position are concatenated, [forward | reverse] (B, T, 2H), as in
    ``torch.nn.LSTM(bidirectional=True)``.

    Both directions start from zero states on every call: the reverse direction
    would need the future to carry a state across chunks, so an encoder reads
    whole sequences. That is also why a language model cannot use it.

    With ``lengths`` (B,), the batch is right-padded: sequence b is its first
    lengths[b] steps. The reverse direction then starts at each sequence's last
    real step, x_L..x_1, and reads the padding only after it, so at every real
    step both halves equal those of the unpadded sequence (as PyTorch's
    ``pack_padded_sequence``), and the reverse direction's final state is its
    output at t = 0. Outputs at padded steps are left over and must be masked.
    """

    def __init__(self, forward_layer: RNN | LSTM | GRU, reverse_layer: RNN | LSTM | GRU) -> None:
        self.forward_layer = forward_layer
        self.reverse_layer = reverse_layer
        self.state = None
        self.order: np.ndarray | None = None  # the reversal of the last forward, if padded

    def sublayers(self) -> list[tuple[str, RNN | LSTM | GRU]]:
        """The two directions, named as in a model's parameter names."""
        return [("forward", self.forward_layer), ("reverse", self.reverse_layer)]

    def reset_state(self) -> None:
        self.forward_layer.reset_state()
        self.reverse_layer.reset_state()

    def forward(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """xs (B, T, D), optional lengths (B,) of right-padded sequences -> hs (B, T, 2H)."""
        self.reset_state()
        forward = self.forward_layer.forward(xs)
        if lengths is None:
            self.order = None
            reverse = self.reverse_layer.forward(xs[:, ::-1])[:, ::-1]
        else:
            self.order = reversal(lengths, xs.shape[1])
            reverse = _gather(self.reverse_layer.forward(_gather(xs, self.order)), self.order)
        self.reset_state()
        return np.concatenate([forward, reverse], axis=-1)

    def apply(self, xs: np.ndarray, lengths: np.ndarray | None = None) -> np.ndarray:
        """As ``forward``, pure: nothing cached (see ``RNN.apply``)."""
        forward, _ = self.forward_layer.apply(xs)
        if lengths is None:
            reverse = self.reverse_layer.apply(xs[:, ::-1])[0][:, ::-1]
        else:
            order = reversal(lengths, xs.shape[1])
            reverse = _gather(self.reverse_layer.apply(_gather(xs, order))[0], order)
        return np.concatenate([forward, reverse], axis=-1)

    def backward(self, dhs: np.ndarray) -> tuple[np.ndarray, tuple]:
        """dhs (B, T, 2H) -> (dxs, (dstate0 forward, dstate0 reverse))."""
        H = dhs.shape[-1] // 2
        dxs, dstate_forward = self.forward_layer.backward(dhs[..., :H])
        if self.order is None:
            dxs_reverse, dstate_reverse = self.reverse_layer.backward(dhs[..., H:][:, ::-1])
            dxs += dxs_reverse[:, ::-1]
        else:
            # The reversal is its own inverse, so the same gather undoes it.
            dxs_reverse, dstate_reverse = self.reverse_layer.backward(
                _gather(dhs[..., H:], self.order)
            )
            dxs += _gather(dxs_reverse, self.order)
        return dxs, (dstate_forward, dstate_reverse)
