"""Training with truncated backpropagation through time.

The loop is the one from the textbook, in plain sight:
batch -> zero grads -> forward -> backward -> clip -> update -> log.
"""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

from tqdm import tqdm

from elman import checkpoint
from elman.config import TrainConfig
from elman.data.batching import make_batches
from elman.data.tokenizers import CharTokenizer, WordTokenizer
from elman.errors import ElmanError
from elman.evaluate import evaluate_ids
from elman.model import LanguageModel
from elman.optim import clip_grad_norm, make_optimizer


def train(
    model: LanguageModel,
    tokenizer: CharTokenizer | WordTokenizer,
    train_text: str,
    valid_text: str | None = None,
    config: TrainConfig | None = None,
    out_dir: str | Path | None = None,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Train ``model`` on ``train_text`` and return one record per epoch.

    After each epoch (and when a step or time limit stops training) the model is
    evaluated on ``valid_text``; when validation perplexity does not improve the
    learning rate is divided by ``config.lr_decay``. With ``out_dir``, the best
    model so far (by validation perplexity, or the latest without validation
    text) is saved there and metrics are appended to ``out_dir/metrics.jsonl``.
    On return ``model`` holds the best weights seen, the ones saved.
    """
    config = config or TrainConfig()
    if config.epochs == 0 and config.max_steps == 0 and config.max_minutes == 0:
        raise ElmanError("training would never stop; give --epochs, --max-steps or --max-minutes.")
    train_ids = tokenizer.encode(train_text)
    if len(train_ids) - 1 < config.batch:
        raise ElmanError(
            f"the training text has {len(train_ids)} tokens, too few for --batch "
            f"{config.batch} streams; use a smaller --batch or a longer text."
        )
    valid_ids = tokenizer.encode(valid_text) if valid_text is not None else None
    if valid_ids is not None and len(valid_ids) < 2:
        raise ElmanError("the validation text has fewer than two tokens; give a longer one.")
    batches = make_batches(
        train_ids, model.config.state, tokenizer.eos_id, config.batch, config.bptt
    )
    optimizer = make_optimizer(config.optimizer, model.flat_params, config.learning_rate)
    metrics = None
    if out_dir is not None:
        Path(out_dir).mkdir(parents=True, exist_ok=True)
        metrics = Path(out_dir) / "metrics.jsonl"

    def log(record: dict[str, Any]) -> None:
        if metrics is not None:
            with open(metrics, "a", encoding="utf-8") as f:
                f.write(json.dumps(record) + "\n")

    history: list[dict[str, Any]] = []
    best, best_params = math.inf, model.flat_params.copy()
    step = 0
    start = time.perf_counter()
    stop = False
    epoch = 0
    while not stop:
        epoch += 1
        model.training = True  # dropout on
        total_loss, total_tokens = 0.0, 0
        epoch_start = time.perf_counter()
        bar = tqdm(
            batches,
            desc=f"epoch {epoch}",
            unit="batch",
            disable=not progress,
            dynamic_ncols=True,
            mininterval=0.5,
        )
        for batch in bar:
            if batch.reset:  # a new epoch (carry) or a new group of lines (reset)
                model.reset_state()
            model.zero_grad()
            loss = model.forward(batch.inputs, batch.targets, batch.mask)
            if not math.isfinite(loss):
                raise ElmanError(
                    f"the training loss became {loss} at step {step + 1}, so the weights "
                    f"were not updated; lower --lr (now {optimizer.lr:g})"
                    + (" or --clip." if config.clip else " or set --clip, e.g. 1.")
                )
            # Truncated BPTT: the state carries into the next chunk (in each layer),
            # but backward stops at this chunk's first step.
            model.backward()
            grad_norm = clip_grad_norm(model.flat_grads, config.clip)
            optimizer.step(model.flat_grads)
            step += 1

            total_loss += model.loss_layer.total
            total_tokens += model.loss_layer.count
            elapsed = time.perf_counter() - epoch_start
            mean_loss = total_loss / total_tokens
            bar.set_postfix(
                loss=f"{mean_loss:.3f}",
                ppl=f"{math.exp(min(mean_loss, 50)):.1f}",
                tok_s=f"{total_tokens / elapsed:,.0f}",
                refresh=False,
            )
            if step % config.log_every == 0:
                log(
                    {
                        "event": "step",
                        "epoch": epoch,
                        "step": step,
                        "loss": loss,
                        "grad_norm": grad_norm,
                        "lr": optimizer.lr,
                        "tokens_per_s": total_tokens / elapsed,
                    }
                )
            if (config.max_steps and step >= config.max_steps) or (
                config.max_minutes and time.perf_counter() - start >= 60 * config.max_minutes
            ):
                stop = True
                break
        bar.close()
        if config.epochs and epoch >= config.epochs:
            stop = True

        train_loss = total_loss / max(total_tokens, 1)
        record: dict[str, Any] = {
            "event": "epoch",
            "epoch": epoch,
            "step": step,
            "train_loss": train_loss,
            "train_ppl": math.exp(min(train_loss, 50)),
            "lr": optimizer.lr,
            "tokens_per_s": total_tokens / (time.perf_counter() - epoch_start),
            "seconds": time.perf_counter() - start,
        }
        if valid_ids is not None:
            valid = evaluate_ids(model, valid_ids, config.eval_batch, config.bptt, tokenizer.eos_id)
            record.update(
                valid_loss=valid.loss, valid_ppl=valid.perplexity, valid_tokens=valid.tokens
            )
            improved = valid.perplexity < best
            if improved:
                best = valid.perplexity
            elif config.lr_decay > 1:
                optimizer.lr /= config.lr_decay
        else:
            improved = True  # nothing to compare with: keep the latest
        if improved:
            best_params[...] = model.flat_params
        record["saved"] = improved and out_dir is not None
        if record["saved"]:
            checkpoint.save(
                out_dir,
                model,
                tokenizer,
                config,
                info={k: v for k, v in record.items() if k not in ("event", "saved")},
            )
        history.append(record)
        log(record)
        if progress:
            valid_part = f", valid ppl {record['valid_ppl']:.2f}" if "valid_ppl" in record else ""
            tqdm.write(
                f"epoch {epoch}: train ppl {record['train_ppl']:.2f}{valid_part}"
                f"{' (saved)' if record['saved'] else ''}, lr {record['lr']:g}"
                + (f", now {optimizer.lr:g}" if optimizer.lr != record["lr"] else "")
            )
    model.flat_params[...] = best_params
    model.training = False
    return history
