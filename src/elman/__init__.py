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
"""

from elman.checkpoint import Checkpoint, load, save
from elman.config import ModelConfig, TrainConfig
from elman.data import CharTokenizer, WordTokenizer, read_text, split_text, tiny_shakespeare
from elman.errors import ElmanError
from elman.evaluate import Evaluation, evaluate, perplexity
from elman.generate import LineScore, generate, score, stream
from elman.model import LanguageModel
from elman.train import train

__version__ = "0.1.0"

__all__ = [
    "Checkpoint",
    "CharTokenizer",
    "ElmanError",
    "Evaluation",
    "LanguageModel",
    "LineScore",
    "ModelConfig",
    "TrainConfig",
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
