"""The playground page in a real browser (Debian's chromium driven by Playwright), against
``elman serve`` started on a free loopback port: a prompt typed and generated token by
token, a sentence scored in colour, a text classified and a sentence tagged. A screenshot
of each view is kept in test-artifacts/."""

from __future__ import annotations

import pytest

from tests.parts import CHROMIUM_ARGS, artifact, chromium_path, require_module


@pytest.fixture(scope="module")
def page(server):
    sync_api = require_module("playwright.sync_api", "pip install playwright (no browser download)")
    executable = chromium_path()
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1000, "height": 700})
        page.goto(server)
        page.wait_for_selector("#model option", state="attached")
        yield page
        browser.close()


def test_a_prompt_is_generated_token_by_token(page):
    page.select_option("#model", "lm")
    page.fill("#prompt", "the ")
    page.fill("#length", "300")
    page.click("#generate-button")
    # Tokens arrive while the stream is open: the text grows before it is done.
    page.wait_for_function("document.querySelector('#generated').textContent.length > 10")
    page.wait_for_selector("#generated[data-done='true']", timeout=30_000)
    text = page.text_content("#generated")
    assert text.startswith("the ") and len(text) == 4 + 300
    page.screenshot(path=artifact("serve-generate.png"))


def test_the_stop_button_stops_a_long_generation(page):
    page.evaluate("document.querySelector('#generated').removeAttribute('data-done')")
    page.fill("#length", "10000")
    page.click("#generate-button")
    page.wait_for_function("document.querySelector('#generated').textContent.length > 20")
    page.click("#stop-button")
    page.wait_for_selector("#generate-button:not([disabled])")
    assert page.get_attribute("#generated", "data-done") is None
    assert len(page.text_content("#generated")) < 4 + 10_000


def test_a_sentence_is_scored_in_colour(page):
    page.click("nav button:has-text('Score')")
    page.fill("#score-text", "the lazy dog")
    page.click("#score-button")
    page.wait_for_selector("#scored .token")
    assert page.locator("#scored .token").count() == len("the lazy dog") + 1
    colours = {page.locator("#scored .token").nth(i).evaluate("e => e.style.background")
               for i in range(5)}  # fmt: skip
    assert len(colours) > 1  # more and less likely tokens look different
    assert "perplexity" in page.text_content("#score-summary")
    page.screenshot(path=artifact("serve-score.png"))


def test_a_unit_is_coloured_over_the_text_and_another_unit_recolours_it(page):
    page.select_option("#model", "lm")
    page.click("nav button:has-text('Look inside')")
    page.fill("#inside-text", 'the "quick" fox (jumps) over the lazy dog\nthe dog sleeps\n')
    page.click("#inside-button")
    page.wait_for_selector("#inside-tokens .token")
    tokens = page.locator("#inside-tokens .token")

    def colours():
        return [tokens.nth(i).evaluate("e => e.style.background") for i in range(tokens.count())]

    first = colours()
    assert len(set(first)) > 3  # a unit's values differ from token to token
    page.fill("#inside-unit", "5")
    page.click("#inside-button")
    page.wait_for_function(
        "(before) => [...document.querySelectorAll('#inside-tokens .token')]"
        ".some((e, i) => e.style.background !== before[i])",
        arg=first,
    )
    assert colours() != first
    page.locator("#inside-features button").first.click()  # the best unit of a feature
    page.wait_for_function("document.querySelector('#inside-unit').value !== '5'")
    page.screenshot(path=artifact("serve-inside.png"))
    page.click("#gradient-button")
    page.wait_for_selector("#gradient-plot svg polyline")


def test_classify_and_tag_views_follow_the_model(page):
    page.select_option("#model", "classifier")
    assert page.is_visible("#classify") and not page.is_visible("#generate")
    page.fill("#classify-text", "WIN 1000 CASH NOW")
    page.click("#classify-button")
    page.wait_for_selector("#classified div")
    assert page.locator("#classified div").count() == 2
    page.screenshot(path=artifact("serve-classify.png"))
    page.select_option("#model", "tagger")
    page.fill("#tag-text", "the dog barks")
    page.click("#tag-button")
    page.wait_for_selector("#tagged .token")
    assert page.locator("#tagged .token").count() == 3
    page.screenshot(path=artifact("serve-tag.png"))


def test_a_translation_shows_its_attention(page):
    page.select_option("#model", "translator")
    assert page.is_visible("#translate") and not page.is_visible("#classify")
    page.fill("#translate-text", "3+4")
    page.click("#translate-button")
    page.wait_for_selector("#attention td")
    assert page.locator("#attention tr").first.locator("th").count() == 1 + 3  # 3, +, 4
    # Each cell is as dark as its weight: the page draws what the API computed.
    reply = page.evaluate(
        "async () => (await fetch('/api/translate', {method: 'POST', body: "
        "JSON.stringify({model: 'translator', text: '3+4', beam: 5})})).json()"
    )
    assert page.text_content("#translated") == reply["translation"]
    greys = [round(255 * (1 - w)) for row in reply["attention"] for w in row]
    shades = [
        cell.evaluate("e => e.style.background") for cell in page.locator("#attention td").all()
    ]
    assert shades == [f"rgb({g}, {g}, {g})" for g in greys]
    page.screenshot(path=artifact("serve-translate.png"))
