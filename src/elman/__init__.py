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
tagger, translator, or a kind another package registers); ``elman.save`` writes a
language model's; ``elman.resume(DIR)`` continues any kind's interrupted run. Nothing
is imported until it is used: ``import elman`` loads neither NumPy nor a kind of model.
"""

from elman.lazy import exports

__version__ = "0.1.0"

__getattr__, __dir__ = exports(
    __name__,
    {
        "elman.config": "ModelConfig TokenizerConfig TrainConfig",
        "elman.data": (
            "CharTokenizer EncodedText SubwordTokenizer Tokenizer WordTokenizer read_text "
            "split_text tiny_shakespeare"
        ),
        "elman.errors": "ElmanError",
        "elman.kinds": "load resume",
        "elman.lm.checkpoint": "Checkpoint save",
        "elman.lm.config": "LanguageModelConfig LanguageModelTrainConfig",
        "elman.lm.evaluate": "Evaluation evaluate perplexity",
        "elman.lm.generate": "LineScore generate score stream",
        "elman.lm.model": "LanguageModel",
        "elman.lm.kind": "train",
    },
)

__all__ = sorted(__dir__())
