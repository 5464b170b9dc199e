"""The units report opened in a real browser: Debian's chromium, headless, driven by
Playwright's Python package (never a browser it downloads). Without chromium or
playwright these tests skip, saying why; in CI (CI=true) they fail instead."""

from __future__ import annotations

import io

import numpy as np
import pytest

import elman
from elman import insight
from tests.insight.conftest import HELD_OUT, TEXT, TOKENIZER
from tests.parts import CHROMIUM_ARGS, chromium_path, require_module


@pytest.fixture(scope="module")
def browser():
    sync_api = require_module("playwright.sync_api", "pip install -e '.[test]'")
    path = chromium_path()
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def open_report(browser, path):
    """The page at ``path``, loaded from disk with every other request refused and
    counted; returns (page, refused requests, page errors)."""
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    refused, errors = [], []

    def refuse(route):
        refused.append(route.request.url)
        route.abort()

    page.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith("file://") else refuse(route)
        ),
    )
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(path.resolve().as_uri())
    page.wait_for_function("window.elmanReport && window.elmanReport.ready", timeout=60_000)
    return page, refused, errors


def backgrounds(page):
    return page.evaluate(
        "Array.from(document.querySelectorAll('#text .t'), s => s.style.backgroundColor)"
    )


@pytest.fixture(scope="module")
def small_report(tmp_path_factory):
    config = elman.ModelConfig(vocab_size=len(TOKENIZER), embed=8, hidden=12, cell="lstm")
    model = elman.LanguageModel(config, seed=1)
    out = tmp_path_factory.mktemp("report")
    summary = insight.units_report(model, TOKENIZER, HELD_OUT[:600], out)
    acts = insight.activations(model, TOKENIZER.encode(HELD_OUT[:600]), TOKENIZER)
    return out / "index.html", summary, acts


def test_report_opens_offline_and_is_not_blank(browser, small_report):
    from PIL import Image

    path, summary, acts = small_report
    page, refused, errors = open_report(browser, path)
    assert refused == [] and errors == []
    assert page.evaluate("window.elmanReport.tokens") == summary["tokens"] == 600
    assert page.locator("#text .t").count() == 600
    image = Image.open(io.BytesIO(page.screenshot())).convert("RGB")
    pixels = np.asarray(image).reshape(-1, 3).astype(int)
    blank = Image.open(io.BytesIO(blank_screenshot(browser))).convert("RGB")
    assert np.asarray(blank).min() == 255  # what a blank page looks like here
    assert (pixels.min(axis=1) < 250).mean() > 0.05  # not blank: text, colours, controls
    red = (pixels[:, 0] > 200) & (pixels[:, 2] < 180)
    blue = (pixels[:, 2] > 200) & (pixels[:, 0] < 180)
    assert red.sum() > 100 and blue.sum() > 100  # the text is coloured both ways
    # Under each token, the model's five likeliest next tokens, likeliest first.
    assert page.locator("#under").is_checked()
    guesses = page.locator("#text .t >> nth=10").locator(".g").inner_text().splitlines()
    assert len(guesses) == 5
    first = TOKENIZER.tokens[acts.guesses[10, 0]]
    assert guesses[0].split(" ")[0] == {" ": "␣", "\n": "↵"}.get(first, first)
    percent = float(acts.probabilities[10, 0]) * 100  # shown to 0.1% below 10%, else to 1%
    shown = float(guesses[0].split(" ")[-1].removesuffix("%"))
    assert shown == pytest.approx(percent, abs=0.11 if percent < 9.9 else 0.6)
    page.close()


def blank_screenshot(browser):
    page = browser.new_page(viewport={"width": 1000, "height": 700})
    page.set_content("<html><body></body></html>")
    shot = page.screenshot()
    page.close()
    return shot


def test_picking_another_unit_changes_the_colours(browser, small_report):
    path, summary, _ = small_report
    page, _, errors = open_report(browser, path)
    best = summary["features"]["in_quotes"][0]
    blocks = [
        (b["layer"], b["state"])
        for b in page.evaluate("JSON.parse(document.getElementById('data').textContent).blocks")
    ]
    assert (
        page.evaluate("document.body.dataset.unit")
        == f"{blocks.index((best['layer'], best['state']))}:{best['unit']}"
    )
    before = backgrounds(page)
    page.select_option("#block", str(blocks.index((0, "c"))))
    page.fill("#unit", "3")
    page.dispatch_event("#unit", "change")
    assert page.evaluate("document.body.dataset.unit") == f"{blocks.index((0, 'c'))}:3"
    after = backgrounds(page)
    changed = sum(a != b for a, b in zip(before, after, strict=True))
    assert changed > len(before) // 2
    page.click("#next")
    assert page.evaluate("document.body.dataset.unit") == f"{blocks.index((0, 'c'))}:4"
    assert backgrounds(page) != after
    # The best-unit buttons pick their unit.
    page.locator("#best button").first.click()
    assert backgrounds(page) == before
    page.uncheck("#under")
    assert not page.locator("#text .g >> nth=0").is_visible()
    assert errors == []
    page.close()


def test_a_long_text_opens_and_says_it_was_cut(browser, tmp_path):
    """12,000 characters with --max-tokens 10,000: the page holds 10,000 tokens and says
    the rest were left out; guesses are then shown on pointing, not built for every token."""
    config = elman.ModelConfig(vocab_size=len(TOKENIZER), embed=8, hidden=16, cell="gru")
    model = elman.LanguageModel(config, seed=1)
    text = (TEXT * 2)[:12_000]
    summary = insight.units_report(model, TOKENIZER, text, tmp_path, max_tokens=10_000)
    assert summary["tokens"] == 10_000 and summary["total_tokens"] == 12_000
    page, refused, errors = open_report(browser, tmp_path / "index.html")
    assert refused == [] and errors == []
    assert "first 10,000" in page.locator(".note").inner_text()
    assert page.locator("#text .t").count() == 10_000
    assert not page.locator("#under").is_checked() and page.locator("#text .g").count() == 0
    page.hover("#text .t >> nth=5")
    assert "next:" in page.locator("#hover").inner_text()
    page.close()
