"""A character n-gram count model with Witten-Bell interpolation: the baseline a
character-level (or subword) network must beat before it has learnt much.

    P(c | h) = (n(h c) + u(h) P(c | h')) / (n(h) + u(h))        Witten & Bell 1991;
                                                                 Chen & Goodman 1998, 2.4
h is the n - 1 characters before c, h' is h without its first character, n(.) counts in the
training text, and u(h) is the number of distinct characters seen after h (how often h was
followed by something new). A context never seen gives all its weight to P(c | h'). The
recursion ends at the uniform distribution over the training text's characters and one
more for any character it lacks. The text is one stream: a line end is a character (as in
bits per character, ``elman.lm.evaluate``), and a context may reach over it.
"""

from __future__ import annotations

import math
from collections import Counter

import numpy as np


class CharNgram:
    """Counts of every 1..``order``-gram of ``text``, and their contexts'."""

    def __init__(self, text: str, order: int = 4) -> None:
        if order < 1:
            raise ValueError(f"order must be at least 1, got {order}")
        self.order = order
        self.grams: Counter[str] = Counter()
        for n in range(1, order + 1):
            self.grams.update(text[i : i + n] for i in range(len(text) - n + 1))
        self.context: Counter[str] = Counter()  # n(h): how often h was followed by anything
        self.distinct: Counter[str] = Counter()  # u(h): by how many different characters
        for gram, count in self.grams.items():
            self.context[gram[:-1]] += count
            self.distinct[gram[:-1]] += 1
        self.characters = self.distinct[""]

    def probability(self, history: str, char: str) -> float:
        """P(char | the last order - 1 characters of history)."""
        p = 1.0 / (self.characters + 1)
        start = max(0, len(history) - self.order + 1)
        for h in (history[i:] for i in range(len(history), start - 1, -1)):
            seen = self.context.get(h, 0)
            if seen:
                new = self.distinct[h]
                p = (self.grams.get(h + char, 0) + new * p) / (seen + new)
        return p

    def bits(self, text: str) -> float:
        """The negative log-likelihood of ``text`` in bits, character by character, each
        given the characters before it."""
        n = self.order - 1
        logs = [math.log2(self.probability(text[max(0, i - n) : i], c)) for i, c in enumerate(text)]
        return -float(np.sum(logs))

    def bits_per_char(self, text: str) -> float:
        return self.bits(text) / max(len(text), 1)
