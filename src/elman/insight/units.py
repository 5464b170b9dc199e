"""Hidden units over a text: every unit's value at every token, simple features of the
text, which units follow which feature, and how saturated the gates are.

Karpathy, Johnson & Fei-Fei (2015), "Visualizing and Understanding Recurrent Networks":
a character model's units that turn on inside quotes or count the position in a line
(their Fig. 2), and the fraction of steps each gate spends below 0.1 or above 0.9
(their Fig. 3), here measured on any of elman's language models.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from elman.data.text import read_text
from elman.data.tokenizers import Tokenizer
from elman.errors import ElmanError
from elman.kinds import load
from elman.lm.checkpoint import Checkpoint
from elman.lm.conditioned import ConditionedLanguageModel
from elman.lm.generate import line_start
from elman.lm.model import LanguageModel
from elman.nn import AdaptiveSoftmax, log_softmax

GATES = {"lstm": ("i", "f", "g", "o"), "gru": ("r", "z", "n")}  # PyTorch's order
SIGMOID_GATES = frozenset("ifozr")  # values in (0, 1); g and n are tanh, in (-1, 1)
SATURATION = (0.1, 0.9)  # a gate below 0.1 is "left-saturated", above 0.9 "right" (Fig. 3)
MAX_TOKENS = 10_000  # default: tokens a report covers
MAX_VALUES = 16_000_000  # units x tokens a report may hold: ~21 MB in the page
TOP_GUESSES = 5
CHUNK = 512  # tokens whose next-token distribution is computed at once (T x V floats)
QUOTES_OPEN, QUOTES_CLOSE = "\u201c", "\u201d"  # typographic double quotes
BRACKETS_OPEN, BRACKETS_CLOSE = "([{", ")]}"
FEATURES = (
    "in_quotes",
    "in_brackets",
    "line_position",
    "line_length",
    "word_start",
    "digit",
    "hangul",
)


@dataclass
class TokenText:
    """A text as a model reads it: the tokens (strings), their ids, and what was left out."""

    tokens: list[str]  # as the tokenizer splits the text (unknown ones too)
    ids: np.ndarray  # (T,) int64
    total: int  # tokens in the whole text, before any cut
    note: str = ""  # why fewer than ``total`` tokens are here, or ""

    def __len__(self) -> int:
        return len(self.tokens)


def read_tokens(
    tokenizer: Tokenizer, text: str, max_tokens: int = MAX_TOKENS, units: int = 0
) -> TokenText:
    """``text`` as tokens, cut to its first ``max_tokens`` and to what a report of
    ``units`` units can hold (``MAX_VALUES``), with a note saying so when cut. A long text
    is tokenized a piece at a time, so only the tokens kept are ever held at once."""
    if max_tokens < 1:
        raise ElmanError(f"--max-tokens must be a positive integer, got {max_tokens}.")
    keep, reason = max_tokens, f"--max-tokens {max_tokens:,}"
    if units and keep * units > MAX_VALUES:
        keep = max(2, MAX_VALUES // units)
        reason = (
            f"{units:,} units x tokens is capped at {MAX_VALUES:,} values, so that the page "
            "opens quickly"
        )
    tokens: list[str] = []
    total = 0
    for piece in pieces(text):  # the whole text is counted, only the tokens kept are held
        split = tokenizer.tokenize(piece)
        if len(tokens) < keep:
            tokens.extend(split[: keep - len(tokens)])
        total += len(split)
    if total < 2:
        raise ElmanError(f"the text has {total} token(s), too few to look at; give a longer text.")
    note = ""
    if total > keep:
        note = (
            f"the text has {total:,} tokens; this covers the first {keep:,} ({reason}); "
            "give a part of the text to see the rest."
        )
    ids = np.array([tokenizer.id_of(t) for t in tokens], dtype=np.int64)
    return TokenText(tokens, ids, total, note)


PIECE = 1 << 20  # characters tokenized at once by read_tokens and count_tokens


def count_tokens(tokenizer: Tokenizer, text: str) -> int:
    """How many tokens ``text`` has, a piece at a time (see ``read_tokens``)."""
    return sum(len(tokenizer.tokenize(piece)) for piece in pieces(text))


def pieces(text: str) -> list[str]:
    """``text`` in pieces of about ``PIECE`` characters, each ending with a line end (but
    the last): tokenizers split lines alike whether they get them together or apart."""
    out, start = [], 0
    while start < len(text):
        end = text.find("\n", start + PIECE)
        end = len(text) if end < 0 else end + 1
        out.append(text[start:end])
        start = end
    return out


@dataclass
class Activations:
    """Every unit's value at every token: ``values[(layer, state)]`` (T, H), with state
    "h", "c" or a gate's letter; and the model's top guesses for the next token."""

    cell: str
    values: dict[tuple[int, str], np.ndarray]
    guesses: np.ndarray  # (T, TOP_GUESSES) token ids, likeliest first
    probabilities: np.ndarray  # (T, TOP_GUESSES)
    blocks: list[tuple[int, str]] = field(default_factory=list)  # the keys, in order

    @property
    def units(self) -> int:
        """How many units there are, over every layer and state."""
        return sum(v.shape[1] for v in self.values.values())


def states_of(cell: str) -> tuple[str, ...]:
    """The states a layer of ``cell`` shows: h, and for an LSTM c, then its gates."""
    return ("h", "c", *GATES["lstm"]) if cell == "lstm" else ("h", *GATES.get(cell, ()))


def activations(
    model: LanguageModel | ConditionedLanguageModel,
    ids: np.ndarray,
    tokenizer: Tokenizer,
    condition: np.ndarray | None = None,
) -> Activations:
    """Run ``model`` over ``ids`` (T,) after a line start, as generation reads a prompt,
    from its start state (zeros, or a conditioned model's from ``condition``: a label id
    (1,) or a vector (1, C)), and keep every unit's value at every token (each layer's
    ``trace``) and the model's ``TOP_GUESSES`` likeliest next tokens after each."""
    start = np.array([[line_start(tokenizer)]])
    _, state = model.logits(start, model.prepare(1, condition))
    network, layer_states, peeky = _reading(model, state)
    x = network.embedding.apply(np.asarray(ids)[None, :])  # (1, T, D)
    values: dict[tuple[int, str], np.ndarray] = {}
    for layer, (rnn, layer_state) in enumerate(zip(network.rnns, layer_states, strict=True)):
        if layer == 0 and peeky is not None:  # [x_t; c] at every step
            x = np.concatenate([x, np.repeat(peeky[:, None, :], x.shape[1], axis=1)], axis=-1)
        traced = rnn.trace(x, layer_state)
        for name, value in traced.items():
            values[(layer, name)] = np.ascontiguousarray(value[0], dtype=np.float32)
        x = traced["h"]
    guesses, probabilities = top_guesses(network, x[0])
    return Activations(model.config.cell, values, guesses, probabilities, list(values))


def _reading(model: Any, state: Any) -> tuple[Any, list, np.ndarray | None]:
    """What ``activations`` reads through: the network with the embedding, recurrent
    layers and output layer (a conditioned model's decoder), each layer's state, and the
    condition a peeky first layer reads beside every token (else None)."""
    if isinstance(model, ConditionedLanguageModel):
        return model.decoder, state.layers, state.conditioning.condition
    return model, state, None


def top_guesses(model: Any, h: np.ndarray, k: int = TOP_GUESSES) -> tuple[np.ndarray, np.ndarray]:
    """The top layer's outputs h (T, H) -> the k likeliest next tokens after each (T, k)
    and their probabilities, computed ``CHUNK`` tokens at a time (a word model's
    (T, V) logits would not fit in memory at once). ``model`` is a language model, or a
    conditioned one's decoder: what holds its ``output`` layer."""
    T = h.shape[0]
    k = min(k, model.config.vocab_size)
    ids = np.empty((T, k), np.int64)
    probs = np.empty((T, k), np.float32)
    output = model.output
    for start in range(0, T, CHUNK):
        part = h[start : start + CHUNK]
        adaptive = isinstance(output, AdaptiveSoftmax)
        logits = output.log_prob(part) if adaptive else output.apply(part)
        logp = log_softmax(logits.astype(np.float64))
        top = np.argpartition(-logp, k - 1, axis=1)[:, :k]
        order = np.argsort(-np.take_along_axis(logp, top, axis=1), axis=1, kind="stable")
        top = np.take_along_axis(top, order, axis=1)
        ids[start : start + CHUNK] = top
        probs[start : start + CHUNK] = np.exp(np.take_along_axis(logp, top, axis=1))
    return ids, probs


# Features of the text ------------------------------------------------------------------


def text_features(texts: list[str]) -> dict[str, np.ndarray]:
    """The built-in features, one value per token, each describing the text once the
    token has been read (what the hidden state after it can know). ``texts`` are what
    the tokens write (``Tokenizer.surface``: a character, a word and its space, a piece),
    a line end "\\n":

    in_quotes      1 inside double quotes: after an opening " or \u201c, up to the token
                   before the closing one (the opening quote is inside, the closing not)
    in_brackets    1 while a ( [ or { is open
    line_position  tokens since the line's start (0 for its first token)
    line_length    tokens in the token's line, its line end included
    word_start     1 for a token in which a word starts (a non-space after a space or a
                   line start)
    digit          1 for a token with a digit (0-9 or any Unicode digit)
    hangul         1 for a token with a Korean syllable block (U+AC00-U+D7A3)
    """
    T = len(texts)
    f = {name: np.zeros(T, np.float64) for name in FEATURES}
    inside, depth, position, line_begin, previous_space = False, 0, 0, 0, True
    for t, token in enumerate(texts):
        starts = False
        for ch in token:
            if ch == '"':
                inside = not inside
            elif ch == QUOTES_OPEN:
                inside = True
            elif ch == QUOTES_CLOSE:
                inside = False
            elif ch in BRACKETS_OPEN:
                depth += 1
            elif ch in BRACKETS_CLOSE:
                depth = max(depth - 1, 0)
            space = ch.isspace()
            starts = starts or (previous_space and not space)
            previous_space = space
        f["in_quotes"][t] = inside
        f["in_brackets"][t] = depth > 0
        f["line_position"][t] = position
        f["word_start"][t] = starts
        f["digit"][t] = any(ch.isdigit() for ch in token)
        f["hangul"][t] = any("\uac00" <= ch <= "\ud7a3" for ch in token)
        position += 1
        if token == "\n":
            f["line_length"][line_begin : t + 1] = t + 1 - line_begin
            line_begin, position = t + 1, 0
    f["line_length"][line_begin:] = T - line_begin
    return f


def read_feature(path: str | os.PathLike, total: int, keep: int) -> np.ndarray:
    """A user's feature: one number per token of the whole text, whitespace-separated, in
    token order; the first ``keep`` are returned."""
    words = read_text(path).split()  # a directory, a missing file, not UTF-8: one sentence
    try:
        values = np.array([float(w) for w in words], dtype=np.float64)
    except ValueError as e:
        raise ElmanError(
            f"the feature file {path} should hold numbers only ({e}); write one number per "
            "token, separated by whitespace."
        ) from None
    if len(values) != total:
        raise ElmanError(
            f"the feature file {path} has {len(values):,} numbers but the text has {total:,} "
            "tokens; give one number per token, in token order."
        )
    if not np.isfinite(values).all():
        raise ElmanError(f"the feature file {path} holds a nan or inf; give finite numbers.")
    return values[:keep]


def parse_feature_flag(flag: str) -> tuple[str, str]:
    """--feature NAME=FILE -> (NAME, FILE)."""
    name, sep, path = flag.partition("=")
    if not sep or not name or not path:
        raise ElmanError(
            f"--feature expects NAME=FILE, got {flag!r}; e.g. --feature indent=indent.txt."
        )
    return name, path


# Ranking -----------------------------------------------------------------------------


@dataclass(frozen=True)
class UnitScore:
    """How well one unit's value follows a feature: ``score`` = |Pearson r| over tokens."""

    layer: int
    state: str
    unit: int
    score: float
    correlation: float  # r itself: positive when the unit rises with the feature

    def as_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer,
            "state": self.state,
            "unit": self.unit,
            "score": self.score,
            "correlation": self.correlation,
        }


def correlations(values: np.ndarray, feature: np.ndarray) -> np.ndarray:
    """Pearson r between each column of ``values`` (T, H) and ``feature`` (T,); 0 for a
    unit that never changes."""
    v = values.astype(np.float64)
    v = v - v.mean(axis=0)
    x = feature - feature.mean()
    norms = np.sqrt((v * v).sum(axis=0)) * np.sqrt(x @ x)
    r = np.zeros(v.shape[1])
    np.divide(x @ v, norms, out=r, where=norms > 0)
    return np.clip(r, -1.0, 1.0)


def rank_units(acts: Activations, features: dict[str, np.ndarray]) -> dict[str, list[UnitScore]]:
    """For each feature that varies over the text, every unit (every layer and state)
    ranked by |Pearson r| with it, best first; a feature constant over the text (it can
    say nothing) is left out."""
    ranked: dict[str, list[UnitScore]] = {}
    for name, feature in features.items():
        if feature.size < 2 or np.ptp(feature) == 0:
            continue
        scores: list[UnitScore] = []
        for (layer, state), values in acts.values.items():
            r = correlations(values, feature)
            scores.extend(
                UnitScore(layer, state, u, float(abs(r[u])), float(r[u])) for u in range(r.size)
            )
        scores.sort(key=lambda s: (-s.score, s.layer, s.state, s.unit))
        ranked[name] = scores
    return ranked


def colour_scale(cell: str, state: str) -> str:
    """How a state's values map to colours, blue below the middle, red above: "tanh" in
    (-1, 1) as they are, "gate" in (0, 1) with 0.5 in the middle, "free" (an LSTM's c, a
    ReLU RNN's h: unbounded) scaled by the largest |value| of the unit over the text."""
    if state == "c" or (state == "h" and cell == "rnn-relu"):
        return "free"
    if state in SIGMOID_GATES and cell in GATES:
        return "gate"
    return "tanh"


SWITCHING = 10  # units listed as switching on over a stretch of text


def switching_units(acts: Activations, start: int, end: int, count: int = SWITCHING) -> list:
    """The units that switch on over tokens ``start:end`` of the text (LSTMVis' selection,
    Strobelt et al. 2018): every unit of every layer and state ranked by (mean inside the
    stretch - mean outside it) / its standard deviation over the whole text, highest
    first; a unit that never changes scores 0. Returns ``count`` dicts with "layer",
    "state", "unit", "score", "inside" and "outside" (the two means)."""
    T = len(acts.guesses)
    if not 0 <= start < end <= T:
        raise ElmanError(f"the stretch must lie within the text's {T} tokens, got {start}-{end}.")
    if end - start == T:
        raise ElmanError("the stretch is the whole text; select a part of it, to compare.")
    inside = np.zeros(T, dtype=bool)
    inside[start:end] = True
    found = []
    for (layer, state), values in acts.values.items():
        v = values.astype(np.float64)
        mean_in, mean_out = v[inside].mean(axis=0), v[~inside].mean(axis=0)
        spread = v.std(axis=0)
        score = np.zeros(v.shape[1])
        np.divide(mean_in - mean_out, spread, out=score, where=spread > 0)
        found += [(float(score[u]), layer, state, u, float(mean_in[u]), float(mean_out[u]))
                  for u in range(v.shape[1])]  # fmt: skip
    found.sort(key=lambda f: (-f[0], f[1], f[2], f[3]))
    return [
        {"layer": layer, "state": state, "unit": unit, "score": score, "inside": i, "outside": o}
        for score, layer, state, unit, i, o in found[:count]
    ]


def gate_saturation(acts: Activations) -> list[dict[str, Any]]:
    """For every sigmoid gate of every layer: per unit, the fraction of tokens where it
    is below 0.1 (``left``) and above 0.9 (``right``). Empty for a plain RNN."""
    low, high = SATURATION
    out = []
    for (layer, state), values in acts.values.items():
        if state in SIGMOID_GATES and acts.cell in GATES:
            out.append(
                {
                    "layer": layer,
                    "gate": state,
                    "left": (values < low).mean(axis=0).tolist(),
                    "right": (values > high).mean(axis=0).tolist(),
                }
            )
    return out


def language_model(directory: str | os.PathLike) -> Any:
    """The plain language model in ``directory`` (what elman inspect looks at), refusing
    another kind, or a conditioned model, with the reason."""
    ckpt = load(directory)
    if not isinstance(ckpt, Checkpoint):
        raise ElmanError(
            f"{directory} holds a {ckpt.kind} checkpoint; elman inspect looks at language "
            "models (the --out of elman train)."
        )
    if ckpt.condition.conditioned:
        raise ElmanError(
            f"{directory} holds a language model conditioned on a {ckpt.condition.condition}, "
            "which elman inspect does not read yet; give a plain language model (elman train "
            "without --condition)."
        )
    return ckpt


def user_features(tokenizer: Tokenizer, text: str, flags: list[str]) -> dict[str, np.ndarray]:
    """The features of one's own that --feature NAME=FILE flags give for ``text`` (one
    number per token), refusing a name given twice or a built-in feature's."""
    features = [parse_feature_flag(flag) for flag in flags]
    names = [name for name, _ in features]
    clash = sorted({n for n in names if names.count(n) > 1 or n in FEATURES})
    if clash:
        raise ElmanError(
            f"--feature {clash[0]} is given twice or is a built-in feature's name; give each "
            "feature its own name."
        )
    total = count_tokens(tokenizer, text) if features else 0
    return {name: read_feature(path, total, total) for name, path in features}
