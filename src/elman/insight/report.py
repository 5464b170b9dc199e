"""The units report: ``index.html``, one self-contained page (styles, script and data
inline; nothing fetched, so it opens from disk anywhere), and ``units.json``, the same
figures for programs.

The page colours the text token by token by a chosen unit, blue for negative and red
for positive as in Karpathy, Johnson & Fei-Fei (2015); the unit is picked from lists or
from the best unit of each feature. Under each token (or, for long texts, on pointing at
it) are the model's five likeliest next tokens. Gate saturation is drawn as their Fig. 3.

Values travel as one signed byte each (1/127 of the unit's range), unit by unit in
base64, so a page of 10,000 tokens and 768 units is about 10 MB and opens in about a
second (see docs/insight.md for measurements).
"""

from __future__ import annotations

import base64
import html
import json
import os
from importlib import resources
from typing import Any

import numpy as np

from elman.checkpoint import atomic_write_together, check_output_directory
from elman.data.tokenizers import EOS, Tokenizer
from elman.insight.units import (
    SATURATION,
    Activations,
    TokenText,
    UnitScore,
    activations,
    colour_scale,
    gate_saturation,
    rank_units,
    read_tokens,
    states_of,
    text_features,
)
from elman.lm.model import LanguageModel
from elman.strict_json import dumps

INDEX, UNITS = "index.html", "units.json"
BEST_SHOWN = 5  # units per feature listed in the page
GUESSES_UNDER_TOKENS = 2_000  # longer texts show guesses on pointing, unless switched on


def units_report(
    model: LanguageModel,
    tokenizer: Tokenizer,
    text: str,
    out: str | os.PathLike | None = None,
    user_features: dict[str, np.ndarray] | None = None,
    max_tokens: int = 10_000,
    title: str = "",
    total_features: dict[str, int] | None = None,
) -> dict[str, Any]:
    """Everything ``elman inspect units`` computes for ``model`` over ``text``: every
    unit's value at every token, the features, the ranking and gate saturation. Returns
    what ``units.json`` holds; with ``out``, writes ``out/index.html`` and
    ``out/units.json`` (the directory is created).

    ``user_features`` maps a name to one value per token of the whole text; they are
    cut with the text when it is longer than the report can hold (``read_tokens``).
    """
    units = model.config.hidden * len(model.rnns) * len(states_of(model.config.cell))
    token_text = read_tokens(tokenizer, text, max_tokens, units)
    acts = activations(model, token_text.ids, tokenizer)
    features = text_features([tokenizer.surface(t) for t in token_text.tokens])
    for name, values in (user_features or {}).items():
        features[name] = np.asarray(values, dtype=np.float64)[: len(token_text)]
    ranked = rank_units(acts, features)
    summary = {
        "model": {
            "cell": model.config.cell,
            "layers": len(model.rnns),
            "hidden": model.config.hidden,
            "vocab": len(tokenizer),
            "level": tokenizer.level,
        },
        "tokens": len(token_text),
        "total_tokens": token_text.total,
        "note": token_text.note,
        "measure": "score = |Pearson r| over the tokens between the unit's value and the feature",
        "features": {name: [s.as_dict() for s in scores] for name, scores in ranked.items()},
        "constant_features": sorted(set(features) - set(ranked)),
        "saturation": gate_saturation(acts),
    }
    if out is not None:
        # Both files under temporary names, renamed once both are whole: a full disk
        # leaves the report that was there before, not a page cut short.
        out = check_output_directory(out, "--out")
        page = render_page(acts, token_text, tokenizer, ranked, summary, title)
        figures = dumps(summary) + "\n"
        out.mkdir(parents=True, exist_ok=True)
        atomic_write_together(
            {
                out / UNITS: lambda tmp: tmp.write_text(figures, encoding="utf-8"),
                out / INDEX: lambda tmp: tmp.write_text(page, encoding="utf-8"),
            }
        )
    return summary


# Packing values for the page -----------------------------------------------------------


def pack_block(values: np.ndarray, kind: str) -> tuple[str, list[float] | None]:
    """(T, H) values -> base64 of signed bytes, unit after unit (H x T), in [-127, 127]
    for the colour scale [-1, 1]; and for "free" values each unit's scale."""
    v = values.astype(np.float64)
    scales = None
    if kind == "gate":
        v = (v - 0.5) * 2
    elif kind == "free":
        s = np.abs(v).max(axis=0)
        s[s == 0] = 1.0
        v = v / s
        scales = [float(x) for x in s]
    q = np.round(np.clip(v, -1, 1) * 127).astype(np.int8)
    return base64.b64encode(np.ascontiguousarray(q.T).tobytes()).decode("ascii"), scales


def guess_label(token: str) -> str:
    """A guessed token, visible: ↵ for a line end, ␣ for a space, ⇥ for a tab."""
    return {"\n": "↵", EOS: "↵", " ": "␣", "\t": "⇥"}.get(token, token)


def render_page(
    acts: Activations,
    token_text: TokenText,
    tokenizer: Tokenizer,
    ranked: dict[str, list[UnitScore]],
    summary: dict[str, Any],
    title: str = "",
) -> str:
    blocks = []
    for layer, state in acts.blocks:
        values = acts.values[(layer, state)]
        kind = colour_scale(acts.cell, state)
        data, scales = pack_block(values, kind)
        blocks.append(
            {
                "layer": layer,
                "state": state,
                "kind": kind,
                "units": values.shape[1],
                "scales": scales,
                "data": data,
            }
        )
    index = {block: i for i, block in enumerate(acts.blocks)}
    best = {
        name: [
            {
                "block": index[(s.layer, s.state)],
                "unit": s.unit,
                "score": s.score,
                "r": s.correlation,
            }
            for s in scores[:BEST_SHOWN]
        ]
        for name, scores in ranked.items()
    }
    guesses = acts.guesses.astype(np.int32)
    probs = np.round(acts.probabilities * 1000).astype(np.uint16)  # per mille
    data = {
        # As the page writes them: line ends are drawn as ↵ and then break the line.
        "tokens": [tokenizer.surface(t) for t in token_text.tokens],
        "vocab": [guess_label(t) for t in tokenizer.tokens],
        "guesses": base64.b64encode(guesses.tobytes()).decode("ascii"),
        "probs": base64.b64encode(probs.tobytes()).decode("ascii"),
        "k": int(guesses.shape[1]),
        "blocks": blocks,
        "best": best,
        "guessesUnder": len(token_text) <= GUESSES_UNDER_TOKENS,
    }
    model = summary["model"]
    heading = title or "elman inspect units"
    description = (
        f"{model['cell']} language model, {model['layers']} layer(s) of {model['hidden']} units, "
        f"{model['vocab']:,} {model['level']} tokens; {len(token_text):,} tokens of text"
    )
    note = f'<p class="note">{html.escape(token_text.note)}</p>' if token_text.note else ""
    payload = json.dumps(data, ensure_ascii=False, separators=(",", ":")).replace("<", "\\u003c")
    return (
        page_template()
        .replace("{{TITLE}}", html.escape(heading))
        .replace("{{DESCRIPTION}}", html.escape(description))
        .replace("{{NOTE}}", note)
        .replace("{{SATURATION}}", saturation_svg(summary["saturation"]))
        .replace("{{DATA}}", payload)
    )


GATE_COLOURS = {"i": "#1f77b4", "f": "#2ca02c", "o": "#d62728", "r": "#9467bd", "z": "#ff7f0e"}


def page_template() -> str:
    """report.html beside this module: the page's styles and script, data left out, with
    the units' drawing (``units_script``) inlined."""
    page = resources.files("elman.insight").joinpath("report.html").read_text(encoding="utf-8")
    return page.replace("{{UNITS_SCRIPT}}", units_script())


def units_script() -> str:
    """units.js beside this module: how a unit's values are coloured and units named,
    shared by this report and the playground's Look inside (``elman serve``)."""
    return resources.files("elman.insight").joinpath("units.js").read_text(encoding="utf-8")


def saturation_svg(saturation: list[dict[str, Any]]) -> str:
    """Per layer, one scatter of every gate unit: fraction of tokens left-saturated (< 0.1,
    x) against right-saturated (> 0.9, y), as Fig. 3 of Karpathy et al. (2015)."""
    if not saturation:
        return "<p>A plain RNN has no gates.</p>"
    low, high = SATURATION
    size, pad = 220, 30
    layers = sorted({s["layer"] for s in saturation})
    figures = []
    for layer in layers:
        dots, legend = [], []
        for entry in (s for s in saturation if s["layer"] == layer):
            colour = GATE_COLOURS.get(entry["gate"], "#333")
            legend.append(f'<tspan fill="{colour}">● {entry["gate"]} </tspan>')
            for left, right in zip(entry["left"], entry["right"], strict=True):
                x = pad + left * size
                y = pad + (1 - right) * size
                dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="2.5" fill="{colour}"/>')
        figures.append(
            f'<svg class="sat" width="{size + 2 * pad}" height="{size + 2 * pad + 16}" '
            f'xmlns="http://www.w3.org/2000/svg" role="img">'
            f'<rect x="{pad}" y="{pad}" width="{size}" height="{size}" fill="none" stroke="#999"/>'
            f'<line x1="{pad}" y1="{pad}" x2="{pad + size}" y2="{pad + size}" stroke="#ccc"/>'
            f'<text x="{pad}" y="{pad - 10}" font-size="12">layer {layer}: {"".join(legend)}</text>'
            f'<text x="{pad + size / 2}" y="{pad + size + 18}" font-size="11" text-anchor="middle">'
            f"fraction of tokens below {low}</text>"
            f'<text x="12" y="{pad + size / 2}" font-size="11" text-anchor="middle" '
            f'transform="rotate(-90 12 {pad + size / 2})">fraction above {high}</text>'
            + "".join(dots)
            + "</svg>"
        )
    return "".join(figures)
