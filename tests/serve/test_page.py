"""The playground page in a real browser (Debian's chromium driven by Playwright), against
``elman serve`` on a free loopback port, as a person uses it at 1280x800 and at 390x844
(a phone): after each action the result or the error is in view, the phone's page never
scrolls sideways, Enter and Ctrl+Enter submit, errors are in the page's words and clear
the old result, conditioned models write per label, characters a model never saw are
named. A screenshot of every view at both sizes is kept in test-artifacts/."""

from __future__ import annotations

import re

import pytest

from tests.parts import CHROMIUM_ARGS, artifact, chromium_path, require_module

SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


@pytest.fixture(scope="module")
def browser(server):
    sync_api = require_module("playwright.sync_api", "pip install playwright (no browser download)")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium_path(), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture(params=list(SIZES))
def page(request, browser, server):
    """A fresh page at each size, its script's errors collected (a test fails on one)."""
    width, height = SIZES[request.param]
    page = browser.new_page(viewport={"width": width, "height": height})
    page.size = request.param
    failures: list[str] = []
    page.on("pageerror", lambda e: failures.append(str(e)))
    page.goto(server)
    page.wait_for_selector("body[data-ready]")
    yield page
    page.close()
    assert not failures, failures


def choose(page, model: str, view: str) -> None:
    page.select_option("#model", model)
    page.click(f"#tab-{view}")


def idle(page, view: str) -> None:
    """Wait until the view's action has ended (its button enabled, no spinner)."""
    page.wait_for_selector(f"#{view}-button:not([disabled])")
    page.wait_for_selector(f"#{view}-status:not(.busy)", state="attached")


def assert_in_view(page, selector: str) -> None:
    """The element's start is inside the viewport (all of it, if it fits), and the page
    does not scroll sideways."""
    top, bottom, height, width, page_width = page.evaluate(
        """s => { const r = document.querySelector(s).getBoundingClientRect();
        const wide = document.documentElement.scrollWidth;
        return [r.top, r.bottom, innerHeight, innerWidth, wide]; }""",
        selector,
    )
    assert 0 <= top < height, (selector, top, height)
    assert bottom <= height or top <= 13, (selector, top, bottom, height)  # its start, if tall
    assert page_width <= width, f"the page is {page_width} px wide in a {width} px viewport"


def shot(page, name: str) -> None:
    page.wait_for_timeout(150)  # the spinner's last frame gone
    page.screenshot(path=artifact(f"serve-{name}-{page.size}.png"))


# Every view: busy, then the result in view; Enter and Ctrl+Enter submit ----------------


def test_tabs_are_aria_tabs_moved_by_the_arrow_keys(page):
    tabs = page.locator("[role=tablist] [role=tab]")
    assert tabs.all_text_contents() == ["Generate", "Score", "Look inside"]
    assert tabs.first.get_attribute("aria-selected") == "true"
    assert page.get_attribute("#generate", "role") == "tabpanel"
    assert page.get_attribute("#generate", "aria-labelledby") == "tab-generate"
    tabs.first.focus()
    page.keyboard.press("ArrowRight")
    assert page.get_attribute("#tab-score", "aria-selected") == "true"
    assert page.is_visible("#score") and not page.is_visible("#generate")
    page.keyboard.press("End")
    assert page.is_visible("#inside")


def test_a_prompt_streams_apart_from_the_sample_and_ends_with_a_done_line(page):
    choose(page, "lm", "generate")
    page.fill("#prompt", "the ")
    page.fill("#length", "300")
    page.focus("#prompt")
    page.keyboard.press("Control+Enter")  # a text area: Ctrl+Enter submits
    page.wait_for_selector("#generated .output[data-done]", timeout=30_000)
    idle(page, "generate")
    assert page.text_content("#generated .prompt") == "the "
    assert len(page.text_content("#generated .sampled")) == 300
    done = page.text_content("#generated .done")
    assert re.fullmatch(r"done: 300 tokens in [\d.]+ s \([\d,]+ tokens/s\)", done), done
    assert re.fullmatch(r"[\d.]+ s", page.text_content("#generate-status"))  # time taken
    assert_in_view(page, "#generate-result")
    shot(page, "generate")


def test_the_stop_button_stops_a_long_generation(page):
    choose(page, "lm", "generate")
    page.fill("#length", "10000")
    page.click("#generate-button")
    page.wait_for_function("document.querySelector('#generated .sampled')?.textContent.length > 20")
    assert page.is_disabled("#generate-button")  # busy while it runs
    page.click("#stop-button")
    idle(page, "generate")
    assert page.text_content("#generate-status") == "stopped"
    assert page.text_content("#generated .done").startswith("stopped after ")
    assert len(page.text_content("#generated .sampled")) < 10_000


def test_a_line_is_scored_in_colour_on_enter(page):
    choose(page, "lm", "score")
    page.fill("#score-text", "the lazy dog")
    page.press("#score-text", "Enter")  # a single-line field: Enter submits
    page.wait_for_selector("#score-result:not([hidden])")
    pieces = page.locator("#scored .t")
    assert pieces.count() == len("the lazy dog") + 1  # and the line end
    colours = {pieces.nth(i).evaluate("e => e.style.background") for i in range(5)}
    assert len(colours) > 1  # more and less likely tokens look different
    assert "perplexity" in page.text_content("#score-summary")
    assert page.is_hidden("#score-unknown")
    assert_in_view(page, "#score-result")
    shot(page, "score")


def test_characters_the_model_never_saw_are_shown_marked_and_named(page):
    choose(page, "lm", "score")
    page.fill("#score-text", "the dog 나는")
    page.press("#score-text", "Enter")
    page.wait_for_selector("#score-result:not([hidden])")
    marked = page.locator("#scored .t.unknown").all_text_contents()
    assert marked == ["나", "는"]  # the user's own characters, not <unk>
    note = page.text_content("#score-unknown")
    assert note.startswith("2 characters this model never saw: 나, 는.")
    # A prompt of them is refused beside the prompt, in words, with nothing generated.
    page.click("#tab-generate")
    page.fill("#prompt", "The 나")
    page.click("#generate-button")
    idle(page, "generate")
    error = page.text_content("#generate-error")
    assert "2 characters this model never saw: T, 나" in error
    assert "lower case" in error  # the model's vocabulary is, and the capital T is why
    assert page.is_hidden("#generate-result")
    assert_in_view(page, "#generate-error")


def test_errors_are_in_the_page_words_and_clear_the_old_result(page):
    choose(page, "lm", "score")
    page.fill("#score-text", "the dog")
    page.press("#score-text", "Enter")
    page.wait_for_selector("#score-result:not([hidden])")
    page.fill("#score-text", "   ")
    page.press("#score-text", "Enter")
    idle(page, "score")
    assert page.text_content("#score-error").startswith("Line is empty")
    assert page.is_hidden("#score-result")  # no old result beside the new error
    assert page.get_attribute("#score-text", "aria-invalid") == "true"
    assert_in_view(page, "#score-error")
    page.click("#tab-generate")
    for field, value, said in [
        ("#top-p", "0", "Top-p must be more than 0 and at most 1"),
        ("#length", "", "Length is empty"),
        ("#temperature", "", "Temperature is empty"),
        ("#seed", "-1", "Seed must be a whole number from 0 up"),
    ]:
        page.fill(field, value)
        page.press(field, "Enter")
        idle(page, "generate")
        assert page.text_content("#generate-error").startswith(said), field
        page.fill(field, {"#top-p": "1", "#length": "20", "#temperature": "1"}.get(field, "0"))
    shot(page, "generate-error")


def test_a_server_that_does_not_answer_is_said_so(page):
    choose(page, "lm", "score")
    page.route("**/api/score", lambda route: route.abort())
    page.fill("#score-text", "the dog")
    page.press("#score-text", "Enter")
    idle(page, "score")
    assert page.text_content("#score-error").startswith("The server is not answering")


# Look inside ----------------------------------------------------------------------------


def test_look_inside_flows_the_text_with_its_legend_and_guesses(page):
    choose(page, "lstm", "inside")
    page.locator("#inside .examples button").last.click()  # all the examples, a line each
    page.wait_for_selector("#inside-result:not([hidden])")
    idle(page, "inside")
    text = page.input_value("#inside-text")
    assert text.count("\n") >= 1
    assert page.locator("#inside-tokens br").count() == text.count("\n")  # real line breaks
    assert page.text_content("#inside-legend b") == "layer 0 · h · 0"
    assert re.search(r"here −?[\d.]+ to −?[\d.]+", page.text_content("#inside-legend"))
    assert "c: an LSTM's memory cell" in page.text_content("#states-help")
    assert "Pearson" in page.text_content("#inside-features")
    assert_in_view(page, "#inside-result")
    page.hover("#inside-tokens .t >> nth=3")
    tip = page.text_content("#tip")
    assert "layer 0 · h · 0:" in tip and "next, the model guessed:" in tip
    assert len(tip.split("guessed:")[1].strip().splitlines()) == 5  # the top five
    shot(page, "inside")


def test_several_units_at_once_and_the_units_that_switch_on_over_a_stretch(page):
    choose(page, "lstm", "inside")
    page.locator("#inside .examples button").last.click()
    page.wait_for_selector("#inside-result:not([hidden])")
    page.select_option("#inside-state", "c")
    page.fill("#inside-unit", "3")
    page.click("#inside-add")
    page.wait_for_function("document.querySelectorAll('#inside-legend .unit-row').length === 2")
    idle(page, "inside")
    page.click("#inside-add")  # a unit already shown: nothing changes, nothing is cleared
    assert page.locator("#inside-legend .unit-row").count() == 2
    assert page.is_visible("#inside-result")
    page.locator("#inside-features button").first.click()
    page.wait_for_function("document.querySelectorAll('#inside-legend .unit-row').length === 3")
    idle(page, "inside")
    assert page.locator("#inside-tokens .t").first.locator("i").count() == 3  # a row each
    # Select a stretch of the text: the units that switch on over it, ten of them.
    page.evaluate(
        """() => { const t = document.querySelectorAll('#inside-tokens .t');
        const r = document.createRange(); r.setStartBefore(t[4]); r.setEndAfter(t[9]);
        getSelection().removeAllRanges(); getSelection().addRange(r);
        const up = new MouseEvent('mouseup', {bubbles: true});
        document.querySelector('#inside-tokens').dispatchEvent(up); }"""
    )
    page.wait_for_selector("#inside-switching .unit-buttons button")
    assert page.locator("#inside-switching .unit-buttons button").count() == 10
    assert_in_view(page, "#inside-switching")
    shot(page, "inside-units")


def test_a_unit_out_of_range_is_refused_and_the_old_grid_cleared(page):
    choose(page, "lm", "inside")
    page.fill("#inside-text", "ab")
    page.focus("#inside-text")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#inside-result:not([hidden])")
    assert "with 2 tokens every correlation is 1.00" in page.text_content("#inside-note")
    page.fill("#inside-unit", "999")
    page.click("#inside-button")
    idle(page, "inside")
    assert page.text_content("#inside-error") == (
        "Unit must be a whole number from 0 to 15 (each layer has 16 units), not 999."
    )
    assert page.is_hidden("#inside-result")
    assert_in_view(page, "#inside-error")


def test_the_gradient_of_two_models_on_one_chart(page):
    choose(page, "lstm", "inside")
    page.locator("#inside .examples button").last.click()
    page.wait_for_selector("#inside-result:not([hidden])")
    page.fill("#gradient-steps", "20")
    page.select_option("#gradient-compare", "lm")
    page.press("#gradient-steps", "Enter")
    page.wait_for_selector("#gradient-result:not([hidden])")
    idle(page, "gradient")
    # The LSTM's h and c of two layers, the RNN's h: five curves, the legend below them.
    assert page.locator("#gradient-plot polyline").count() == 5
    assert page.locator("#gradient-plot .legend li").count() == 5
    axis = page.text_content("#gradient-plot .chart svg")
    assert "k: tokens back from the loss" in axis and "log scale" in axis
    svg, legend = (page.locator(s).bounding_box() for s in (".chart svg", "#gradient-plot .legend"))
    assert legend["y"] >= svg["y"] + svg["height"]  # outside the curves
    assert svg["width"] <= page.viewport_size["width"]  # fits the card
    assert_in_view(page, "#gradient-result")
    # Too short a text: said with the page's field, and the old chart gone.
    page.fill("#gradient-steps", "200")
    page.press("#gradient-steps", "Enter")
    idle(page, "gradient")
    assert "fewer steps back" in page.text_content("#gradient-error")
    assert page.is_hidden("#gradient-result")


# Conditioned models ----------------------------------------------------------------------


def test_a_label_conditioned_model_generates_and_scores_per_label(page):
    choose(page, "sms-label", "generate")
    assert page.is_visible("#label")
    assert page.eval_on_selector_all("#label option", "os => os.map(o => o.value)") == [
        "ham",
        "spam",
    ]
    page.fill("#length", "120")
    texts = {}
    for label in ("ham", "spam"):
        page.select_option("#label", label)
        page.click("#generate-button")
        page.wait_for_selector("#generated .output[data-done]")
        idle(page, "generate")
        texts[label] = page.text_content("#generated .sampled")
    assert texts["ham"] != texts["spam"]  # the same seed, another label
    page.click("#tab-score")
    page.fill("#score-text", "ok see you")
    page.press("#score-text", "Enter")
    page.wait_for_selector("#score-result:not([hidden])")
    assert "perplexity" in page.text_content("#score-summary")
    shot(page, "generate-label")


def test_a_vector_conditioned_model_reads_its_vector(page):
    choose(page, "vector", "generate")
    page.fill("#length", "30")
    page.click("#generate-button")
    idle(page, "generate")
    assert page.text_content("#generate-error").startswith("Vector must be 2 numbers")
    page.fill("#vector", "0.5, -1")
    page.click("#generate-button")
    page.wait_for_selector("#generated .output[data-done]")
    assert len(page.text_content("#generated .sampled")) == 30


# Classify, Tag, Translate -------------------------------------------------------------------


def test_a_text_is_classified_and_text_it_never_saw_is_said(page):
    page.select_option("#model", "classifier")
    assert page.is_visible("#classify") and not page.is_visible("#generate")
    page.locator("#classify .examples button").first.click()
    page.wait_for_selector("#classify-result:not([hidden])")
    bars = page.locator("#classified .bar")
    assert bars.count() == 2
    widths = [bars.nth(i).bounding_box()["width"] for i in range(2)]
    assert widths[0] >= widths[1] > 0 or widths[0] > 0  # drawn, the likeliest first
    assert_in_view(page, "#classify-result")
    shot(page, "classify")
    page.fill("#classify-text", "나는 학생")
    page.focus("#classify-text")
    page.keyboard.press("Control+Enter")
    page.wait_for_selector("#classify-unknown:not([hidden])")
    note = page.text_content("#classify-unknown")
    assert note.startswith("2 words this model never saw: 나는, 학생.")
    assert "means nothing" in note


def test_words_are_split_as_the_tagger_was_trained_with_a_key_and_confidence(page):
    page.select_option("#model", "tagger")
    page.fill("#tag-text", "the dog runs?")
    page.press("#tag-text", "Enter")
    page.wait_for_selector("#tag-result:not([hidden])")
    words = page.locator("#tagged .word > span").all_text_contents()
    assert words == ["the", "dog", "runs", "?"]  # punctuation apart
    assert page.locator("#tag-key dt").all_text_contents() == ["DET", "NOUN", "VERB"]
    background = page.locator("#tagged .word").first.evaluate("e => e.style.background")
    key = page.locator("#tag-key dt").first.evaluate("e => e.style.background")
    assert background == key  # the tag's colour in the key
    page.hover("#tagged .word >> nth=1")
    assert re.fullmatch(r"dog: \w+ \(\w[\w ]*\), [\d.]+% sure", page.text_content("#tip"))
    assert "?" in page.text_content("#tag-unknown")  # the toy tagger never saw one
    assert_in_view(page, "#tag-result")
    shot(page, "tag")


def test_a_translation_shows_its_attention_with_axes_and_a_scale(page):
    page.select_option("#model", "translator")
    assert page.is_visible("#translate") and not page.is_visible("#classify")
    page.fill("#translate-text", "3+4")
    page.press("#translate-text", "Enter")
    page.wait_for_selector("#attention td")
    header = page.locator("#attention thead tr").nth(1).locator("th")
    assert header.all_text_contents() == ["written ↓", "3", "+", "4"]
    assert page.text_content("#attention thead tr >> nth=0") == "source →"
    assert page.is_visible("#attention .scale")
    # Each cell is as dark as its weight: the page draws what the API computed.
    reply = page.evaluate(
        "async () => (await fetch('/api/translate', {method: 'POST', body: "
        "JSON.stringify({model: 'translator', text: '3+4', beam: 5})})).json()"
    )
    assert page.text_content("#translated") == (reply["translation"] or "(nothing)")
    greys = [round(255 * (1 - w)) for row in reply["attention"] for w in row]
    cells = page.locator("#attention td").all()
    shades = [cell.evaluate("e => e.style.background") for cell in cells]
    assert shades == [f"rgb({g}, {g}, {g})" for g in greys]
    assert_in_view(page, "#translate-result")
    shot(page, "translate")
    page.fill("#translate-text", "abc+1")
    page.press("#translate-text", "Enter")
    page.wait_for_selector("#translate-unknown:not([hidden])")
    assert page.text_content("#translate-unknown").startswith(
        "3 characters this model never saw: a, b, c."
    )


# Korean ---------------------------------------------------------------------------------------


def test_hangul_renders_with_a_real_glyph(page):
    """The page's font stack reaches a font with Hangul (Debian's fonts-noto-cjk, which
    .ci/run installs): the browser says so, and draws 한 with that font, not a box."""
    choose(page, "ko-lm", "generate")
    page.locator("#generate .examples button").first.click()
    page.wait_for_selector("#generated .output[data-done]")
    idle(page, "generate")
    stack = page.evaluate("getComputedStyle(document.body).fontFamily")
    assert "Noto Sans CJK KR" in stack
    assert page.evaluate("s => document.fonts.check('16px ' + s, '한')", stack)
    shot(page, "korean")
    # document.fonts.check is true for any font the system has (or lacks): the font that
    # drew the glyph, from the browser's DevTools protocol, is what can tell.
    page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p id=probe>한</p>')")
    # Laid out and painted before the browser is asked (a busy machine may lag a frame).
    page.evaluate("new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))")
    session = page.context.new_cdp_session(page)
    session.send("DOM.enable")
    session.send("CSS.enable")
    root = session.send("DOM.getDocument")["root"]["nodeId"]
    node = session.send("DOM.querySelector", {"nodeId": root, "selector": "#probe"})["nodeId"]
    for _ in range(50):  # empty until the text is laid out
        fonts = session.send("CSS.getPlatformFontsForNode", {"nodeId": node})["fonts"]
        if fonts:
            break
        page.wait_for_timeout(100)
    assert [(f["familyName"], f["glyphCount"]) for f in fonts] == [("Noto Sans CJK KR", 1)]
