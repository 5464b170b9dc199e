"""How big ``elman inspect units`` reports are and how fast they open in a real browser.

For each case: build the report (untrained models: the values do not change the size or
the work), then open index.html from disk in Debian's chromium (headless, driven by
Playwright's Python package) REPEATS times, each in a fresh page, and report the median
of the wall time from navigation to the page's ready flag, and of the time its own
script took (``elmanReport.ms``). Asserts nothing; prints a markdown table.

    python -m benchmarks.insight_report [--repeats 5]     # from the repository root
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

import elman
from elman import insight
from tests.parts import CHROMIUM_ARGS

CASES = [  # (name, cell, hidden, layers, max tokens)
    ("char LSTM 128 x 1, 2,000 tokens", "lstm", 128, 1, 2_000),
    ("char LSTM 128 x 1, 10,000 tokens", "lstm", 128, 1, 10_000),
    ("char LSTM 512 x 2, 10,000 asked", "lstm", 512, 2, 10_000),
    ("char RNN 512 x 1, 10,000 tokens", "rnn", 512, 1, 10_000),
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    text = elman.tiny_shakespeare()[:60_000]
    tokenizer = elman.CharTokenizer.fit(text)
    print(f"load average at start: {os.getloadavg()[0]:.2f}")
    print(
        "| report | tokens | units | index.html | build | open (wall) | page script | "
        "guesses under every token |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
        for name, cell, hidden, layers, max_tokens in CASES:
            config = elman.ModelConfig(
                vocab_size=len(tokenizer), embed=64, hidden=hidden, cell=cell, layers=layers
            )
            model = elman.LanguageModel(config, seed=0)
            out = Path(tmp) / name.replace(" ", "_").replace(",", "")
            start = time.perf_counter()
            summary = insight.units_report(model, tokenizer, text, out, max_tokens=max_tokens)
            build = time.perf_counter() - start
            units = sum(len(v) for v in [summary["features"]["line_position"]])
            walls, scripts, unders = [], [], []
            for _ in range(args.repeats):
                page = browser.new_page(viewport={"width": 1200, "height": 800})
                start = time.perf_counter()
                page.goto((out / "index.html").as_uri())
                page.wait_for_function("window.elmanReport && window.elmanReport.ready")
                walls.append(time.perf_counter() - start)
                scripts.append(page.evaluate("window.elmanReport.ms") / 1000)
                start = time.perf_counter()
                page.click("#under", timeout=120_000)
                page.evaluate("document.body.offsetHeight")  # wait for the layout
                unders.append(time.perf_counter() - start)
                page.close()
            size = (out / "index.html").stat().st_size / 2**20
            print(
                f"| {name} | {summary['tokens']:,} | {units:,} | {size:.1f} MB | {build:.1f} s | "
                f"{statistics.median(walls):.2f} s | {statistics.median(scripts):.2f} s | "
                f"{statistics.median(unders):.2f} s |"
            )
        browser.close()
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
