"""The figures of docs/insight.md: the gradient-through-time regimes, the quote unit
of the tiny models the tests train, and the two pictures (docs/images/gradients.png,
docs/images/report.png). Asserts nothing; prints markdown tables.

    python -m benchmarks.insight_figures [--images docs/images]     # from the repository root

Trains three tiny character models (LSTM, tanh RNN, GRU; about a minute on two cores)
exactly as tests/insight/conftest.py does, and measures on the held-out text there.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np

from elman import insight
from tests.insight.conftest import HELD_OUT, TOKENIZER, trained
from tests.insight.test_gradients import scaled_rnn
from tests.parts import CHROMIUM_ARGS

ROOT = Path(__file__).resolve().parent.parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    ids = TOKENIZER.encode(HELD_OUT)
    models = {cell: trained(cell) for cell in ("lstm", "rnn", "gru")}
    print("| model | best in_quotes unit | abs r | tokens told apart |")
    print("|---|---|---:|---:|")
    inside = insight.text_features(TOKENIZER.tokenize(HELD_OUT))["in_quotes"] > 0
    for cell, model in models.items():
        best = insight.units_report(model, TOKENIZER, HELD_OUT)["features"]["in_quotes"][0]
        acts = insight.activations(model, ids, TOKENIZER)
        v = acts.values[(best["layer"], best["state"])][:, best["unit"]]
        middle = (v[inside].mean() + v[~inside].mean()) / 2
        said = (v > middle) if v[inside].mean() > middle else (v < middle)
        print(
            f"| {cell} | layer {best['layer']} {best['state']} {best['unit']} | "
            f"{best['score']:.3f} | {(said == inside).mean():.1%} |"
        )

    results = {
        "tanh RNN, W_h radius 0.5": scaled_rnn("rnn", 0.5),
        "ReLU RNN, W_h radius 3": scaled_rnn("rnn-relu", 3.0, embed_scale=0.01, warmup=0),
        "tanh RNN, W_h radius 3": scaled_rnn("rnn", 3.0, embed_scale=0.01),
        **{
            f"trained {cell}": insight.gradient_norms(model, ids, TOKENIZER, steps=50)
            for cell, model in models.items()
        },
    }
    print("\n| model | k = 1 | k = 10 | k = 20 | k = 50 |")
    print("|---|---:|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | " + " | ".join(f"{r.ratio(k):.3g}" for k in (1, 10, 20, 50)) + " |")
        if r.norms_c is not None:
            c = np.array(r.norms_c[0])
            print(
                f"| {name}: c | " + " | ".join(f"{c[k] / c[0]:.3g}" for k in (1, 10, 20, 50)) + " |"
            )
    lstm, rnn = results["trained lstm"], results["trained rnn"]
    for k in (10, 20, 50):
        print(f"LSTM / RNN at k = {k}: {lstm.ratio(k) / rnn.ratio(k):.3g}")

    args.images.mkdir(parents=True, exist_ok=True)
    insight.plot_gradients(list(results.items()), args.images / "gradients.png")
    with tempfile.TemporaryDirectory() as report:
        insight.units_report(models["lstm"], TOKENIZER, HELD_OUT[:1500], report)
        screenshot(Path(report) / "index.html", args.images / "report.png")
    for name in ("gradients.png", "report.png"):
        shrink(args.images / name)
    print(f"\nwrote {args.images / 'gradients.png'} and {args.images / 'report.png'}")


def shrink(png: Path) -> None:
    """Rewrite a PNG with a palette of 64 colours: a third of the bytes, the same picture."""
    from PIL import Image

    Image.open(png).convert("RGB").quantize(64).save(png, optimize=True)


def screenshot(page_path: Path, png: Path) -> None:
    """The report's first screen in Debian's chromium, with the best in_quotes unit among
    the cells c (the clearest picture of the memory)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 900, "height": 640})
        page.goto(page_path.as_uri())
        page.wait_for_function("window.elmanReport && window.elmanReport.ready")
        page.uncheck("#under")
        page.locator("#best tr").first.locator("button", has_text=" c ").first.click()
        page.screenshot(path=png)
        browser.close()


if __name__ == "__main__":
    main()
