"""Text in, batches of token ids out: reading, splitting, tokenizing and batching corpora."""

from __future__ import annotations

from elman.data.batching import Batch, StreamBatches
from elman.data.corpus import tiny_shakespeare
from elman.data.text import read_text, split_text
from elman.data.tokenizers import (
    EOS,
    UNK,
    CharTokenizer,
    EncodedText,
    SubwordTokenizer,
    Tokenizer,
    WordTokenizer,
    load_vocab,
    make_tokenizer,
    save_vocab,
    tokenizer_from_json,
)

__all__ = [
    "EOS",
    "UNK",
    "Batch",
    "CharTokenizer",
    "EncodedText",
    "StreamBatches",
    "SubwordTokenizer",
    "Tokenizer",
    "WordTokenizer",
    "load_vocab",
    "make_tokenizer",
    "read_text",
    "save_vocab",
    "split_text",
    "tiny_shakespeare",
    "tokenizer_from_json",
]
