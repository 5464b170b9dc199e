"""The translator as the training loop sees it (shuffled batches of pairs of similar
length, the best model by validation perplexity), and ``build``, a new translator for
some pairs (``elman.translate.kind.train`` trains it)."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from elman import training
from elman.config import ModelConfig, TokenizerConfig, TrainConfig, extended
from elman.errors import ElmanError
from elman.metrics import perplexity
from elman.translate import checkpoint
from elman.translate.data import (
    Pair,
    ParallelBatch,
    ParallelData,
    build_vocabularies,
    encode,
    make_batches,
)
from elman.translate.decode import translate_ids
from elman.translate.evaluate import loss_of
from elman.translate.model import (
    TranslateConfig,
    Translator,
    TranslatorModelConfig,
    check_memory,
    parameter_count,
)


class TranslatorTask(training.WholeSequenceTask):
    """Every pair is read whole from a zero state; validation reports the references'
    perplexity (which picks the best model) and the exact matches of greedy translations."""

    command = "translate train"
    unit = "tokens"
    headline = "exact"

    def __init__(
        self,
        ckpt: checkpoint.TranslatorCheckpoint,
        train: ParallelData,
        valid: ParallelData | None,
    ) -> None:
        if len(train) == 0:
            raise ElmanError("there are no training pairs; give more data.")
        super().__init__(ckpt, train, valid if valid is not None and len(valid) else None)
        self.uniform_loss = math.log(self.model.config.vocab_size)
        self.eos_id = ckpt.target.eos_id
        check_training_memory(ckpt, [train, *([self.valid_data] if self.valid_data else [])])

    def epoch_batches(self, rng: np.random.Generator) -> Sequence[ParallelBatch]:
        return make_batches(self.train_data, self.ckpt.train_config.batch, self.eos_id, rng)

    def forward(self, batch: ParallelBatch) -> tuple[float, float, float]:
        loss = self.model.forward(
            batch.source, batch.source_lengths, batch.inputs, batch.targets, batch.mask
        )
        return loss, self.model.loss_sum, self.model.loss_count

    def work(self, batch: ParallelBatch) -> float:
        return batch.source.size + batch.inputs.size  # padded tokens, both sides

    def validate(self) -> dict[str, float] | None:
        if self.valid_data is None:
            return None
        batch = self.ckpt.train_config.eval_batch
        total, count = loss_of(self.model, self.valid_data, self.eos_id, batch)
        loss = total / max(count, 1)
        if not math.isfinite(loss):  # training diverged: the loop stops or rolls back
            return {"loss": loss, "ppl": math.nan, "exact": 0.0}
        greedy = translate_ids(
            self.model,
            self.valid_data.sources,
            self.eos_id,
            beam=1,
            max_ratio=self.model.translate.max_ratio,
            max_extra=self.model.translate.max_extra,
            batch=batch,
        )
        exact = np.mean(
            [
                np.array_equal(t.ids, reference[:-1]) and t.finished
                for t, reference in zip(greedy, self.valid_data.targets, strict=True)
            ]
        )
        return {"loss": loss, "ppl": perplexity(loss), "exact": float(exact)}

    def score(self, figures: dict[str, float]) -> tuple[float, ...]:
        return (-figures["loss"],)

    def train_figures(self, mean_loss: float) -> dict[str, float]:
        return {"train_ppl": perplexity(mean_loss)}

    def describe(self, record: dict[str, Any]) -> str:
        valid = ""
        if "valid_loss" in record:
            valid = f", valid ppl {record['valid_ppl']:.2f}, exact {record['valid_exact']:.4f}"
        return f"train ppl {record['train_ppl']:.2f}{valid}"

    def lengths(self, data: ParallelData) -> np.ndarray:
        """A translation's memory grows with its source and its longest allowed output."""
        return np.array([len(s) + len(t) for s, t in zip(data.sources, data.targets, strict=True)])

    def rows(self, data: ParallelData, rows: np.ndarray) -> ParallelData:
        return ParallelData([data.sources[i] for i in rows], [data.targets[i] for i in rows])

    def rehearse(self) -> None:
        """Validation on the longest pairs, and their translation at the beam translating
        will use (its memory grows with the beam and --max-extra)."""
        super().rehearse()
        if self.valid_data is None:
            return
        rows = np.argsort(-self.lengths(self.valid_data), kind="stable")[:1]
        config = self.model.translate
        translate_ids(
            self.model, [self.valid_data.sources[i] for i in rows], self.eos_id, config.beam,
            config.length_penalty, config.max_ratio, config.max_extra, 1,
        )  # fmt: skip

    def save_checkpoint(self, out: Path) -> None:
        checkpoint.save(out, self.ckpt)


def check_training_memory(
    ckpt: checkpoint.TranslatorCheckpoint, parts: Sequence[ParallelData]
) -> None:
    """Refuse to train ``ckpt``'s model on ``parts`` (the training and validation pairs)
    when a step on a batch of its longest pairs, with validation and the final test's
    decoding, would not fit in the memory available (``model.memory_needed``)."""
    source = max(len(s) for part in parts for s in part.sources)
    target = max(len(t) - 1 for part in parts for t in part.targets)
    config = ckpt.train_config
    check_memory(
        ckpt.model.config,
        ckpt.translate_config,
        f"training this translator on its longest sentences ({source:,} source and "
        f"{target:,} target {ckpt.target.unit})",
        "choose a smaller --batch, --eval-batch, --beam or --hidden, or split the longest "
        "sentences",
        source,
        target,
        train_batch=config.batch,
        decode_batch=config.eval_batch,
        beam=ckpt.translate_config.beam,
    )


def build(
    pairs: Sequence[Pair],
    model_config: ModelConfig | None = None,
    translate_config: TranslateConfig | None = None,
    train_config: TrainConfig | None = None,
    tokenizer_config: TokenizerConfig | None = None,
) -> checkpoint.TranslatorCheckpoint:
    """A new translator for ``pairs``: the two vocabularies fitted on them as
    ``tokenizer_config`` says (words by default), and the model, initialised with
    ``train_config.seed``."""
    model_config = extended(model_config or ModelConfig(), TranslatorModelConfig)
    translate_config = translate_config or TranslateConfig()
    train_config = train_config or TrainConfig()
    tokenizer_config = tokenizer_config or TokenizerConfig(level="word")
    source, target = build_vocabularies(
        pairs, tokenizer_config.level, **tokenizer_config.tokenizer_settings()
    )
    model_config = dataclasses.replace(model_config, vocab_size=len(target))
    translate_config = dataclasses.replace(translate_config, source_vocab_size=len(source))
    count = parameter_count(model_config, translate_config)
    check_memory(  # before the weights are allocated: the sentences are checked later
        model_config,
        translate_config,
        f"this translator has about {count:,} parameters and training it",
        "choose a smaller --hidden, --embed or --layers",
        train_batch=train_config.batch,
    )
    model = Translator(model_config, translate_config, seed=train_config.seed)
    return checkpoint.TranslatorCheckpoint(
        model, source, target, train_config, tokenizer_config=tokenizer_config
    )


def encode_pairs(ckpt: checkpoint.TranslatorCheckpoint, pairs: Sequence[Pair]) -> ParallelData:
    """``pairs`` as the checkpoint's model reads them (its vocabularies, its direction)."""
    return encode(pairs, ckpt.source, ckpt.target, ckpt.translate_config.reverse_source)
