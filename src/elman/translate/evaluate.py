"""How well a translator does: perplexity of the reference translations, exact matches and
corpus BLEU of its own translations.

- **Perplexity**: exp of the mean cross-entropy of each reference's tokens and of the
  <eos> that ends it, read with teacher forcing (every token predicted from the source
  and the reference's tokens before it).
- **Exact**: the fraction of translations equal to their reference, both stripped of
  spaces at the ends (the book's padding), words compared one by one.
- **BLEU**: corpus BLEU on sacreBLEU's 0-100 scale (Papineni et al. 2002; Post 2018),
  when sacrebleu is installed (``pip install 'elman[mt]'``). On text that is already
  tokenised (``TranslateConfig.tokenized``, e.g. Multi30k's *.lc.norm.tok.* files) the
  tokens are scored as they are (``tokenize='none'``); on raw text after sacreBLEU's
  default 13a tokenisation. The result says which. BLEU is the geometric mean of the
  matching 1- to 4-gram fractions, so where no reference has four words (the addition
  recipe's answers are one each) it is 0 whatever the translations are: it is left out
  there, and the result says why ("BLEU n/a").
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from elman.data.tokenizers import Tokenizer
from elman.metrics import perplexity
from elman.translate.data import ParallelData, make_batches
from elman.translate.decode import Translation, translate_ids
from elman.translate.model import Translator

BLEU_EXTRA = "pip install 'elman[mt]'"


def bleu_available() -> bool:
    """Whether sacrebleu can be imported (the optional extra [mt])."""
    return importlib.util.find_spec("sacrebleu") is not None


BLEU_SHORT = "n/a: no reference has the 4 words BLEU's 4-grams need"


def corpus_bleu(
    hypotheses: Sequence[str], references: Sequence[str], tokenize: str
) -> float | None:
    """sacreBLEU's corpus BLEU (0-100) of ``hypotheses`` against one reference each; None
    when no reference has four words (tokenised as ``tokenize`` says): BLEU is then 0
    for any translations, and means nothing."""
    import sacrebleu  # the optional extra [mt]: only this function needs it

    # force: sacreBLEU warns on stderr when 100 hypotheses end in " ." that the text looks
    # tokenised. Whether it is, the user says (--tokenized, which picks tokenize="none");
    # and a word-level translator writes its tokens joined by spaces whichever it is, so
    # the warning would only be noise in elman's output, with advice about a parameter
    # elman's users do not have.
    references = list(references)
    alone = sacrebleu.corpus_bleu(references, [references], tokenize=tokenize, force=True)
    if alone.totals[3] == 0:  # the references hold no 4-gram
        return None
    result = sacrebleu.corpus_bleu(list(hypotheses), [references], tokenize=tokenize, force=True)
    return float(result.score)


def reference_text(text: str, tokenizer: Tokenizer) -> str:
    """A reference as a translation would be written: stripped, as the vocabulary writes
    text back (``Tokenizer.normal_text``: NFC, a word vocabulary's words single-spaced)."""
    return tokenizer.normal_text(text.strip())


def loss_of(model: Translator, data: ParallelData, eos_id: int, batch: int) -> tuple[float, int]:
    """(summed cross-entropy in nats, tokens) of the references, teacher forced."""
    total, count = 0.0, 0
    for b in make_batches(data, batch, eos_id):
        batch_total, batch_count = model.nll(
            b.source, b.source_lengths, b.inputs, b.targets, b.mask
        )
        total += batch_total
        count += batch_count
    return total, count


@dataclass(frozen=True)
class TranslationEvaluation:
    sentences: int
    loss: float  # mean cross-entropy per reference token, <eos> included (nats)
    tokens: int  # reference tokens scored
    exact: float  # fraction of translations equal to their reference
    bleu: float | None  # corpus BLEU 0-100, None without sacrebleu or 4-word references
    bleu_tokenize: str  # "none" or "13a"
    beam: int
    unknown_source: int  # source tokens the vocabulary lacks
    unknown_target: int
    translations: list[str]
    bleu_note: str = ""  # why ``bleu`` is None: not asked for, no sacrebleu, short references

    @property
    def perplexity(self) -> float:
        return perplexity(self.loss)

    def as_dict(self) -> dict[str, Any]:
        record = {
            "bleu": self.bleu,
            "bleu_tokenize": self.bleu_tokenize,
            "exact": self.exact,
            "perplexity": self.perplexity,
            "loss": self.loss,
            "tokens": self.tokens,
            "sentences": self.sentences,
            "beam": self.beam,
            "unknown_source": self.unknown_source,
            "unknown_target": self.unknown_target,
        }
        if self.bleu is None:
            record["bleu_note"] = self.bleu_note
        return record


def evaluate(
    model: Translator,
    data: ParallelData,
    references: Sequence[str],
    target: Tokenizer,
    beam: int,
    batch: int,
    bleu: bool = True,
) -> TranslationEvaluation:
    """Perplexity of the references, and exact match and BLEU of the model's translations
    (beam search of width ``beam``, the model's length settings) of ``data``'s sources;
    ``references`` are the target texts. ``bleu`` False skips BLEU (as does a missing
    sacrebleu)."""
    config = model.translate
    total, count = loss_of(model, data, target.eos_id, batch)
    found = translate_ids(
        model,
        data.sources,
        target.eos_id,
        beam,
        config.length_penalty,
        config.max_ratio,
        config.max_extra,
        batch,
    )
    hypotheses = [target_text(t, target) for t in found]
    refs = [reference_text(r, target) for r in references]
    exact = float(np.mean([h == r for h, r in zip(hypotheses, refs, strict=True)])) if refs else 0.0
    tokenize = "none" if config.tokenized else "13a"
    score, note = None, "BLEU not computed"
    if bleu and not bleu_available():
        note = f"BLEU needs sacrebleu: {BLEU_EXTRA}"
    elif bleu:
        score, note = corpus_bleu(hypotheses, refs, tokenize), f"BLEU {BLEU_SHORT}"
    return TranslationEvaluation(
        sentences=len(refs),
        loss=total / max(count, 1),
        tokens=count,
        exact=exact,
        bleu=score,
        bleu_note="" if score is not None else note,
        bleu_tokenize=tokenize,
        beam=beam,
        unknown_source=data.unknown_source,
        unknown_target=data.unknown_target,
        translations=hypotheses,
    )


def target_text(translation: Translation, target: Tokenizer) -> str:
    """A translation's text: its tokens decoded (words joined by single spaces)."""
    return target.decode(translation.ids.tolist())


def summary(result: TranslationEvaluation) -> str:
    """A result in one line."""
    if result.bleu is not None:
        bleu = f"BLEU {result.bleu:.2f} (tokenize {result.bleu_tokenize})"
    elif result.bleu_note.startswith(f"BLEU {BLEU_SHORT}"):
        bleu = "BLEU n/a (no reference has 4 words)"
    else:
        bleu = result.bleu_note
    return (
        f"{result.sentences:,} sentences, beam {result.beam}: exact {result.exact:.4f}, {bleu}, "
        f"perplexity {result.perplexity:.3f} over {result.tokens:,} reference tokens"
    )
