"""elman: recurrent-network language models in NumPy, from the equations to a tool.

A notebook session::

    import elman
    text = elman.tiny_shakespeare()
    train_text, valid_text = elman.split_text(text, 0.9)
    tokenizer = elman.CharTokenizer.fit(train_text)
    model = elman.LanguageModel(elman.ModelConfig(vocab_size=len(tokenizer), hidden=128))
    elman.train(model, tokenizer, train_text, valid_text, elman.TrainConfig(max_steps=200))
    elman.perplexity(model, tokenizer, valid_text)
    print(elman.generate(model, tokenizer, "ROMEO:", length=100))

``elman.load(DIR)`` reads a checkpoint of any kind (language model, classifier,
tagger); ``elman.save`` writes a language model's.
"""

from elman.config import ModelConfig, TrainConfig
from elman.data import (
    CharTokenizer,
    SubwordTokenizer,
    Tokenizer,
    WordTokenizer,
    read_text,
    split_text,
    tiny_shakespeare,
)
from elman.errors import ElmanError
from elman.kinds import load
from elman.lm.checkpoint import Checkpoint, save
from elman.lm.evaluate import Evaluation, evaluate, perplexity
from elman.lm.generate import LineScore, generate, score, stream
from elman.lm.model import LanguageModel
from elman.lm.task import train

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "CharTokenizer",
    "ElmanError",
    "Evaluation",
    "LanguageModel",
    "LineScore",
    "ModelConfig",
    "SubwordTokenizer",
    "TrainConfig",
    "Tokenizer",
    "WordTokenizer",
    "evaluate",
    "generate",
    "load",
    "perplexity",
    "read_text",
    "save",
    "score",
    "split_text",
    "stream",
    "tiny_shakespeare",
    "train",
]
