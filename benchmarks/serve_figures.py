"""The screenshots of docs/serve.md: every view of the playground at 1280x800 and at
390x844 (a phone), in Debian's chromium, over models trained from ../shared/data; and the
seconds each action took as the page shows them (warm: each action is made once before).

    python -m benchmarks.serve_figures --models DIR [--images docs/images]

DIR holds the checkpoints, made by (about 20 minutes on one core; any models of these
kinds do):

    D=../shared/data
    elman train --recipe shakespeare-char --data $D/tinyshakespeare/input.txt --hidden 256 --max-minutes 5 --out DIR/char
    elman train --data $D/ptb --level word --hidden 200 --embed 200 --max-minutes 3 --out DIR/word
    elman train --data $D/sms_spam/SMSSpamCollection --condition label --level char --cell lstm --hidden 256 --embed 32 --max-minutes 4 --out DIR/sms-label
    elman classify train --data $D/sms_spam/SMSSpamCollection --epochs 3 --out DIR/sms
    elman tag train --train $D/ud_english_ewt/en_ewt-ud-train.conllu --valid $D/ud_english_ewt/en_ewt-ud-dev.conllu --epochs 2 --out DIR/ewt
    elman translate train --recipe addition --data $D/dlfs2_seq/addition.txt --epochs 3 --out DIR/addition

Asserts nothing; prints a markdown table of the actions' seconds.
"""  # noqa: E501

from __future__ import annotations

import argparse
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.parts import CHROMIUM_ARGS
from tests.serve.conftest import free_port

ROOT = Path(__file__).resolve().parent.parent
NAMES = ("char", "word", "sms-label", "sms", "ewt", "addition")
SIZES = {"desktop": (1280, 800), "phone": (390, 844)}


def idle(page, view: str) -> str:
    page.wait_for_selector(f"#{view}-button:not([disabled])", timeout=60_000)
    page.wait_for_selector(f"#{view}-status:not(.busy)", state="attached")
    page.wait_for_timeout(200)
    return page.text_content(f"#{view}-status")


def act(page, view: str, run) -> str:
    """``run`` twice (the first warms the model), the seconds the page showed the second."""
    run()
    idle(page, view)
    run()
    return idle(page, view)


def scenes(page, size: str, shot, timed: dict[str, str]) -> None:
    def choose(model: str, view: str) -> None:
        page.select_option("#model", model)
        page.click(f"#tab-{view}")

    choose("char", "generate")
    page.fill("#prompt", "ROMEO:\n")
    page.fill("#seed", "1")
    if size == "desktop":
        page.select_option("#generate-compare", "word")
        page.fill("#prompt", "the ")
    timed["Generate, 300 tokens streamed (two models at 1280x800)"] = act(
        page, "generate", lambda: page.click("#generate-button")
    )
    page.wait_for_selector("#generated .output[data-done]")
    shot("generate")

    choose("word", "score")
    page.fill("#score-text", "The company said its profit rose in the third quarter")
    timed["Score, a line of 10 words"] = act(
        page, "score", lambda: page.press("#score-text", "Enter")
    )
    shot("score")

    choose("char", "inside")
    page.locator("#inside .examples button").last.click()
    idle(page, "inside")
    timed["Look inside, the recorded examples"] = act(
        page, "inside", lambda: page.click("#inside-button")
    )
    page.locator("#inside-features button").first.click()
    idle(page, "inside")
    page.select_option("#inside-layer", "1")
    page.fill("#inside-unit", "7")
    page.click("#inside-add")
    idle(page, "inside")
    # Select the second line's first two words: the units that switch on over them.
    page.evaluate(
        """() => { const t = [...document.querySelectorAll('#inside-tokens .t')];
        const breaks = t.flatMap((s, i) => (s.classList.contains('nl') ? [i] : []));
        const first = breaks[0] + 1, words = t.slice(first).findIndex((s, i) => i > 0 &&
          s.textContent === ' ' && t[first + i - 1].textContent !== ' ' &&
          t.slice(first, first + i).filter((u) => u.textContent === ' ').length === 1);
        const r = document.createRange(); r.setStartBefore(t[first]);
        r.setEndAfter(t[first + words - 1]);
        getSelection().removeAllRanges(); getSelection().addRange(r);
        const up = new MouseEvent('mouseup', {bubbles: true});
        document.querySelector('#inside-tokens').dispatchEvent(up); }"""
    )
    page.wait_for_selector("#inside-switching .unit-buttons button")
    page.evaluate("document.querySelector('#states-help').scrollIntoView()")
    last = page.locator("#inside-tokens .t").count() - 2  # the last line's end
    page.hover(f"#inside-tokens .t >> nth={last}")
    shot("inside")
    page.mouse.move(0, 0)
    timed["Gradient through time, 50 steps"] = act(
        page, "gradient", lambda: page.click("#gradient-button")
    )
    shot("gradient")

    choose("sms-label", "generate")
    page.fill("#prompt", "")
    page.fill("#length", "200")
    page.select_option("#label", "spam")
    timed["Generate given a label, 200 tokens"] = act(
        page, "generate", lambda: page.click("#generate-button")
    )
    page.wait_for_selector("#generated .output[data-done]")
    shot("label")

    page.select_option("#model", "sms")
    page.fill("#classify-text", "WINNER!! You have won a £1000 prize, call 09061701461 now 나는")
    timed["Classify an SMS"] = act(page, "classify", lambda: page.click("#classify-button"))
    shot("classify")

    page.mouse.move(0, 0)  # away from where the words will be
    page.select_option("#model", "ewt")
    page.fill("#tag-text", "Can you meet me at 5pm, or should we go tomorrow?")
    timed["Tag a sentence"] = act(page, "tag", lambda: page.press("#tag-text", "Enter"))
    if size == "desktop":  # a phone has no pointer: a tap shows it, over the words
        page.hover("#tagged .word >> nth=6")
    shot("tag")
    page.mouse.move(0, 0)

    page.select_option("#model", "addition")
    page.fill("#translate-text", "57+608")
    timed["Translate (the model's beam)"] = act(
        page, "translate", lambda: page.press("#translate-text", "Enter")
    )
    shot("translate")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", type=Path, required=True)
    parser.add_argument("--images", type=Path, default=ROOT / "docs" / "images")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    port = free_port()
    models = [f"--model={name}={args.models / name}" for name in NAMES]
    server = subprocess.Popen(
        [sys.executable, "-m", "elman", "serve", *models, "--port", str(port)]
    )
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(url + "api/models", timeout=1).read()
                break
            except OSError:
                time.sleep(0.2)
        timings: dict[str, dict[str, str]] = {}
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS)
            for size, (width, height) in SIZES.items():
                page = browser.new_page(viewport={"width": width, "height": height})
                page.goto(url)
                page.wait_for_selector("body[data-ready]")

                def shot(name: str, page=page, size=size) -> None:
                    path = args.images / f"serve-{name}-{size}.png"
                    page.screenshot(path=path)
                    print(f"wrote {path}", file=sys.stderr)

                timings[size] = {}
                scenes(page, size, shot, timings[size])
                page.close()
            browser.close()
    finally:
        server.terminate()
        server.wait(timeout=30)
    print("| action | 1280x800 | 390x844 |\n| --- | --- | --- |")
    for action, seconds in timings["desktop"].items():
        print(f"| {action} | {seconds} | {timings['phone'].get(action, '')} |")


if __name__ == "__main__":
    main()
