"""Text in, batches of token ids out: reading, splitting, tokenizing and batching corpora.

text.py        reading UTF-8 text and lines, splitting a text 90/10
tokenizers.py  Tokenizer: characters, words, subword pieces (sentencepiece); NFC
batching.py    streams and groups of lines for truncated BPTT
padded.py      right-padded batches of sequences of similar length
labeled.py     label<TAB>text files, CSV, folders per label; the stratified split
conllu.py      tagged sentences: CoNLL-U and two-column files
vectors.py     a vector per line (.npy)
corpus.py      the built-in Tiny Shakespeare
prepared.py    a corpus tokenised once to disk (elman prepare), read from a memory map
"""

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
