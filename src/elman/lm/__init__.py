"""The language model: p(next token | the tokens before it), trained with truncated BPTT.

model.py         LanguageModel: embedding -> recurrent layers -> affine -> softmax
task.py          how the training loop trains it, and ``train``
evaluate.py      perplexity on held-out text
generate.py      sampling and scoring, with explicit state
dynamic_eval.py  dynamic evaluation
checkpoint.py    its checkpoint
"""
