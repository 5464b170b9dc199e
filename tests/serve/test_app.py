"""The playground's JSON API through Starlette's test client: every endpoint, and every
bad request answered with a 4xx status and one sentence, never a 500."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from tests.parts import require_module

require_module("starlette", "elman serve needs the [serve] extra: pip install 'elman[serve]'")
require_module("httpx2", "Starlette's test client needs httpx2: pip install httpx2")

from starlette.testclient import TestClient  # noqa: E402

from elman import kinds  # noqa: E402
from elman.config import ModelConfig  # noqa: E402
from elman.data.tokenizers import CharTokenizer, SubwordTokenizer, WordTokenizer  # noqa: E402
from elman.errors import ElmanError  # noqa: E402
from elman.lm.checkpoint import Checkpoint  # noqa: E402
from elman.lm.generate import generate, score  # noqa: E402
from elman.lm.model import LanguageModel  # noqa: E402
from elman.serve.app import MAX_BODY, MAX_LENGTH, Served, create_app, lower_case  # noqa: E402
from elman.translate.decode import translate_ids  # noqa: E402
from tests.data.test_tokenizers_subword import corpus  # noqa: E402


@pytest.fixture(scope="module")
def served(model_dirs):
    return {name: kinds.load(path) for name, path in model_dirs.items()}


@pytest.fixture(scope="module")
def client(served):
    app = create_app([Served(name, ckpt) for name, ckpt in served.items()])
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def test_models_lists_every_model(client, served):
    listed = {m["name"]: m for m in client.get("/api/models").json()}
    assert list(listed) == list(served)
    kinds = {"lm": "language-model", "classifier": "classifier", "tagger": "tagger",
             "translator": "translator", "sms-label": "language-model"}  # fmt: skip
    assert {name: listed[name]["kind"] for name in kinds} == kinds
    lm = listed["lm"]
    assert lm["vocab_size"] == len(served["lm"].tokenizer) and lm["level"] == "char"
    assert (lm["sample_length"], lm["unit"], lm["condition"]) == (300, "characters", "none")
    assert (lm["cell"], lm["layers"], lm["hidden"], lm["states"]) == ("rnn", 1, 16, ["h"])
    assert listed["lstm"]["states"] == ["h", "c", "i", "f", "g", "o"]
    assert listed["translator"]["vocab_size"] == len(served["translator"].target)  # it writes
    assert listed["sms-label"]["labels"] == ["ham", "spam"]
    assert listed["vector"]["condition"] == "vector" and listed["vector"]["condition_size"] == 2
    assert listed["classifier"]["labels"] == ["ham", "spam"]
    assert listed["tagger"]["tags"] == ["DET", "NOUN", "VERB"]
    # The held-out examples each run recorded, to click (a vector model's need vectors).
    assert [e["label"] for e in listed["sms-label"]["examples"]] == ["ham", "spam", "ham"]
    assert listed["translator"]["examples"][0].keys() == {"text", "target"}
    assert all(len(listed[n]["examples"]) == 3 for n in ("lm", "classifier", "ko-lm"))
    assert listed["vector"]["examples"] == []
    # A lower-case vocabulary is said (capitals are then unknown), unless the model
    # lower-cases texts itself (the classifier's --normalize).
    assert listed["lm"]["lowercase"] and not listed["classifier"]["lowercase"]


def test_a_penn_treebank_vocabulary_is_lower_case_despite_its_n():
    words = [f"word{chr(97 + i % 26)}{chr(97 + i // 26)}" for i in range(150)]
    ptb = WordTokenizer.fit(" ".join([*words, "N", "<unk>"]) + "\n")
    assert lower_case(ptb)  # N, the numbers' token, is one capital in 151 words
    cased = WordTokenizer.fit(" ".join([*words[:20], "The", "Company"]) + "\n")
    assert not lower_case(cased)
    assert not lower_case(WordTokenizer.fit("1 2 3\n"))  # no letters of a cased script


def test_a_checkpoint_from_before_examples_offers_none(served):
    ckpt = served["lm"]
    old = Checkpoint(ckpt.model, ckpt.tokenizer, data={"inputs": {}})
    (described,) = [Served("old", old).describe()]
    assert described["examples"] == []


def test_the_page_and_its_files_are_served(client):
    page = client.get("/")
    assert page.status_code == 200 and "<title>elman playground</title>" in page.text
    assert client.get("/static/app.js").status_code == 200
    assert "const elmanUnits" in client.get("/units.js").text  # the report's, shared
    assert "http" not in client.get("/static/style.css").text  # nothing from the network


def test_generate_equals_the_python_api(client, served):
    ckpt = served["lm"]
    body = {"model": "lm", "prompt": "the ", "length": 40, "temperature": 0.8, "top_k": 5,
            "top_p": 0.9, "seed": 7}  # fmt: skip
    reply = client.post("/api/generate", json=body)
    assert reply.status_code == 200
    expected = generate(ckpt.model, ckpt.tokenizer, "the ", 40, 0.8, 5, 7, 0.9)
    assert reply.json() == {"text": expected}


def test_generate_streams_one_event_per_token(client, served):
    body = {"model": "lm", "prompt": "a ", "length": 25, "seed": 3, "stream": True}
    with client.stream("POST", "/api/generate", json=body) as reply:
        assert reply.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: ")]
    tokens = [e["token"] for e in events[:-1]]
    assert len(tokens) == 25 and events[-1]["done"] is True and events[-1]["tokens"] == 25
    assert events[-1]["text"] == "a " + "".join(tokens)
    plain = client.post("/api/generate", json={**body, "stream": False}).json()
    assert plain["text"] == events[-1]["text"]


def test_a_subword_model_streams_whole_characters(monkeypatch):
    """The bytes of a character the pieces lack are one event, when the last one is
    sampled: an event never holds part of a character."""
    tok = SubwordTokenizer.fit(corpus(100), vocab_size=320)
    model = LanguageModel(ModelConfig(vocab_size=len(tok), embed=8, hidden=8), seed=0)
    ids = tok.encode("영화 😀 뷁").tolist()
    queue = list(ids)
    monkeypatch.setattr("elman.lm.generate.sample_next", lambda *args: queue.pop(0))
    app = create_app([Served("sub", Checkpoint(model, tok))])
    body = {"model": "sub", "length": len(ids), "stream": True}
    with TestClient(app) as c, c.stream("POST", "/api/generate", json=body) as reply:
        events = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: ")]
    tokens = [e["token"] for e in events[:-1]]
    assert "😀" in tokens and "".join(tokens) == events[-1]["text"] == "영화 😀 뷁"
    assert len(tokens) < len(ids) and not any("\ufffd" in t for t in tokens)


def test_a_stream_that_fails_part_way_ends_with_its_sentence(monkeypatch):
    """The model's state overflowing after some tokens (its own sentence, an ElmanError)
    ends the stream with an error event, not a broken connection."""

    def failing(*args, **kwargs):
        yield "a"
        raise ElmanError("the model's state overflowed at token 2 of the generated text.")

    monkeypatch.setattr("elman.serve.app.stream", failing)
    tok = CharTokenizer.fit("ab\n")
    model = LanguageModel(ModelConfig(vocab_size=len(tok), embed=4, hidden=4), seed=0)
    app = create_app([Served("m", Checkpoint(model, tok))])
    with (
        TestClient(app) as c,
        c.stream("POST", "/api/generate", json={"model": "m", "stream": True}) as reply,
    ):
        events = [json.loads(line[6:]) for line in reply.iter_lines() if line.startswith("data: ")]
    assert events == [
        {"token": "a"},
        {"error": "the model's state overflowed at token 2 of the generated text."},
    ]


def test_a_label_conditioned_model_writes_given_its_label(client, served):
    """Greedy, the spam label's text starts as spam does (WIN ...), ham's as chatter; the
    same as the Python API given that label."""
    texts = {}
    for label in ("ham", "spam"):
        body = {"model": "sms-label", "label": label, "length": 20, "temperature": 0}
        reply = client.post("/api/generate", json=body)
        assert reply.status_code == 200, reply.text
        texts[label] = reply.json()["text"]
        ckpt = served["sms-label"]
        k = np.array([ckpt.labels.index(label)])
        assert texts[label] == generate(ckpt.model, ckpt.tokenizer, "", 20, 0.0, condition=k)
    assert texts["spam"].startswith("WIN") and texts["ham"] == texts["ham"].lower()
    scores = [client.post("/api/score", json={"model": "sms-label", "text": "WIN 12345 CALL NOW",
                                              "label": label}).json()["logprob"]
              for label in ("ham", "spam")]  # fmt: skip
    assert scores[1] > scores[0]  # spam reads as spam
    body = {"model": "sms-label", "text": "ok see you later", "label": "ham",
            "units": [{"state": "h", "unit": 1}]}  # fmt: skip
    units = client.post("/api/units", json=body)
    assert units.status_code == 200 and len(units.json()["shown"][0]["values"]) == 16


def test_a_vector_conditioned_model_writes_given_a_vector(client):
    body = {"model": "vector", "vector": [0.5, -1.0], "length": 20, "seed": 1}
    first = client.post("/api/generate", json=body)
    other = client.post("/api/generate", json={**body, "vector": [-2.0, 3.0]})
    assert first.status_code == other.status_code == 200
    assert first.json()["text"] != other.json()["text"]


def test_score_gives_each_tokens_log_probability(client, served):
    ckpt = served["lm"]
    reply = client.post("/api/score", json={"model": "lm", "text": "the lazy dog"}).json()
    (expected,) = score(ckpt.model, ckpt.tokenizer, ["the lazy dog"])
    assert reply["tokens"] == [*"the lazy dog", "\n"]
    assert reply["logprob"] == pytest.approx(expected.log_prob, rel=1e-9)
    assert sum(reply["logprobs"]) == pytest.approx(expected.log_prob, rel=1e-9)
    assert reply["perplexity"] == pytest.approx(expected.perplexity, rel=1e-9)
    assert (reply["chars"], reply["bytes"], reply["unknown"]) == (13, 13, 0)
    bits = -expected.log_prob / math.log(2)
    assert reply["bits_per_char"] == pytest.approx(bits / 13, rel=1e-9)
    assert reply["bits_per_byte"] == pytest.approx(bits / 13, rel=1e-9)


def test_score_shows_the_users_own_tokens_and_names_those_the_model_never_saw(client):
    reply = client.post("/api/score", json={"model": "lm", "text": "the 나는 dog"}).json()
    pieces = reply["pieces"]
    assert "".join(p["text"] for p in pieces) == "the 나는 dog\n"  # not <unk>
    assert [p["text"] for p in pieces if p["unknown"]] == ["나", "는"]
    assert reply["unknown_tokens"] == ["나", "는"] and reply["unknown"] == 2
    assert sum(p["logprob"] for p in pieces) == pytest.approx(reply["logprob"])


def test_a_subword_models_bytes_are_scored_and_shown_as_whole_characters():
    tok = SubwordTokenizer.fit(corpus(100), vocab_size=320)
    model = LanguageModel(ModelConfig(vocab_size=len(tok), embed=8, hidden=8), seed=0)
    app = create_app([Served("sub", Checkpoint(model, tok))])
    with TestClient(app) as c:
        reply = c.post("/api/score", json={"model": "sub", "text": "영화 😀 뷁"}).json()
        units = c.post("/api/units", json={"model": "sub", "text": "영화 😀 뷁"}).json()
    assert len(reply["tokens"]) > len(reply["pieces"])  # 😀 is 4 byte pieces, 뷁 3
    assert [p["text"] for p in reply["pieces"]][-4:] == ["😀", " ", "뷁", "\n"]
    assert reply["unknown_tokens"] == [] and not any(p["unknown"] for p in reply["pieces"])
    assert sum(p["logprob"] for p in reply["pieces"]) == pytest.approx(reply["logprob"])
    assert [p["text"] for p in units["pieces"]][-3:] == ["😀", " ", "뷁"]
    assert len(units["shown"][0]["values"]) == len(units["guesses"]) == len(units["pieces"])
    assert len(units["values"]) == len(units["tokens"])  # per token, as before


def test_classify_and_tag(client):
    reply = client.post("/api/classify", json={"model": "classifier", "text": "WIN 500 CASH"})
    data = reply.json()
    assert reply.status_code == 200 and data["label"] in ("ham", "spam")
    assert math.isclose(sum(data["probabilities"].values()), 1.0, rel_tol=1e-6)
    reply = client.post("/api/tag", json={"model": "tagger", "text": "the dog runs"})
    assert reply.json()["words"] == ["the", "dog", "runs"] and len(reply.json()["tags"]) == 3


def test_text_a_model_never_saw_is_named_beside_its_answer(client):
    """Korean to an English classifier, a tagger and a translator: the answer comes with
    what of the text the model never saw."""
    data = client.post("/api/classify", json={"model": "classifier", "text": "안녕 ok"}).json()
    assert data["unknown_tokens"] == ["안녕"] and data["tokens"] == 2  # a word model
    data = client.post("/api/classify", json={"model": "ko-sentiment", "text": "재밌어요"}).json()
    assert data["unknown_tokens"] == [] and data["label"] in ("neg", "pos")
    data = client.post("/api/tag", json={"model": "tagger", "text": "나는 dog"}).json()
    assert data["unknown_tokens"] == ["나", "는"] and data["known"] == [False, True]
    data = client.post("/api/translate", json={"model": "translator", "text": "ab+3"}).json()
    assert data["unknown_tokens"] == ["a", "b"]


def test_a_sentence_is_tagged_as_the_tagger_was_trained_with_a_confidence(client, served):
    data = client.post("/api/tag", json={"model": "tagger", "text": "the dog runs."}).json()
    assert data["words"] == ["the", "dog", "runs", "."]  # punctuation apart
    assert len(data["confidence"]) == 4 and all(0 < p <= 1 for p in data["confidence"])
    assert data["unknown_tokens"] == ["."]


def test_translate_gives_the_cli_translation_and_attention_in_line_order(client, served):
    ckpt = served["translator"]
    reply = client.post("/api/translate", json={"model": "translator", "text": "3+4", "beam": 2})
    data = reply.json()
    assert reply.status_code == 200, data
    (found,) = translate_ids(ckpt.model, [ckpt.source.encode_unfinished("4+3")],
                             ckpt.target.eos_id, beam=2)  # fmt: skip
    assert data["translation"] == ckpt.target.decode(found.ids.tolist())
    assert data["source_tokens"] == ["3", "+", "4"]  # the model reads "4+3"
    weights = np.array(data["attention"])
    assert weights.shape == (len(data["tokens"]), 3)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(weights, found.attention[:, ::-1], rtol=1e-6)


def test_units_give_one_value_per_token_and_the_best_units(client, served):
    text = 'the "quick" fox (runs)\nthe dog 42\n'
    reply = client.post("/api/units", json={"model": "lm", "text": text, "unit": 3})
    data = reply.json()
    assert reply.status_code == 200, data
    assert "".join(data["tokens"]) == text and len(data["values"]) == len(text)
    assert data["states"] == ["h"] and data["units"] == 16
    assert {"in_quotes", "in_brackets", "digit"} <= set(data["features"])
    other = client.post("/api/units", json={"model": "lm", "text": text, "unit": 4}).json()
    assert other["values"] != data["values"]


def test_several_units_at_once_and_those_that_switch_on_over_a_stretch(client):
    text = 'the "quick" fox (runs)\nthe dog 42\n'
    units = [{"layer": 1, "state": "c", "unit": 3}, {"layer": 0, "state": "f", "unit": 0}]
    body = {"model": "lstm", "text": text, "units": units, "stretch": [4, 11]}
    data = client.post("/api/units", json=body).json()
    assert [(u["layer"], u["state"], u["unit"], u["scale"]) for u in data["shown"]] == [
        (1, "c", 3, "free"), (0, "f", 0, "gate")
    ]  # fmt: skip
    first = data["shown"][0]
    assert len(first["values"]) == len(text) and first["low"] <= min(first["values"])
    assert data["values"] == first["values"]  # a character model: a piece per token
    assert len(data["guesses"]) == len(text) and len(data["guesses"][0]) == 5
    assert data["guesses"][0][0][1] >= data["guesses"][0][1][1]  # likeliest first
    switching = data["switching"]
    assert len(switching) == 10 and switching[0]["score"] >= switching[-1]["score"]
    assert {"layer", "state", "unit", "inside", "outside"} <= set(switching[0])
    assert data["note"] == ""  # 33 tokens
    short = client.post("/api/units", json={"model": "lstm", "text": "the"}).json()
    assert "3 tokens" in short["note"]


def test_gradients_through_time(client):
    text = "the quick brown fox jumps over the lazy dog\n" * 3
    data = client.post("/api/gradients", json={"model": "lm", "text": text, "steps": 20}).json()
    assert data["steps"] == 20 and len(data["norms"]) == 1 and len(data["norms"][0]) == 21


BAD = [
    ("/api/generate", {"prompt": "the"}, 400, "lacks 'model'"),
    ("/api/generate", {"model": "nope"}, 404, "there is no model 'nope'"),
    ("/api/generate", {"model": "classifier"}, 400, "is a classifier; this needs a language"),
    ("/api/generate", {"model": "lm", "length": 10**9}, 400, f"between 0 and {MAX_LENGTH:,}"),
    ("/api/generate", {"model": "lm", "length": "10"}, 400, "'length' must be an integer"),
    ("/api/generate", {"model": "lm", "length": True}, 400, "'length' must be an integer"),
    ("/api/generate", {"model": "lm", "temperature": -1}, 400, "'temperature' must be between"),
    ("/api/generate", {"model": "lm", "top_p": 0}, 400, "'top_p' must be between"),
    ("/api/generate", {"model": "lm", "seed": -5}, 400, "'seed' must be between"),
    ("/api/generate", {"model": "lm", "prompt": "☃"}, 400, "vocabulary lacks"),
    ("/api/generate", {"model": "lm", "prompt": "x" * 5000}, 413, "over 2000"),
    ("/api/generate", {"model": "lm", "seed": -5}, 400, "and 9,223,372,036,854,775,807"),
    ("/api/generate", {"model": "lm", "stream": "yes"}, 400, "'stream' must be true or false"),
    ("/api/generate", {"model": "sms-label"}, 400, "send 'label', one of ham, spam"),
    ("/api/generate", {"model": "sms-label", "label": "eggs"}, 400, "not one of the model's"),
    ("/api/generate", {"model": "lm", "label": "ham"}, 400, "has no condition; leave out 'label'"),
    ("/api/generate", {"model": "vector", "vector": [1]}, 400, "a list of 2 finite numbers"),
    ("/api/generate", {"model": "vector"}, 400, "send 'vector', a list of 2 numbers"),
    ("/api/score", {"model": "lm"}, 400, "lacks 'text'"),
    ("/api/score", {"model": "lm", "text": " "}, 400, "'text' is empty"),
    ("/api/score", {"model": "lm", "text": "two\nlines"}, 400, "must be one line"),
    ("/api/score", {"model": "sms-label", "text": "ok"}, 400, "writes given a label"),
    ("/api/classify", {"model": "classifier", "text": "  "}, 400, "is empty"),
    ("/api/tag", {"model": "tagger", "text": ""}, 400, "has no words"),
    ("/api/tag", {"model": "tagger", "text": 5}, 400, "'text' must be a string"),
    ("/api/units", {"model": "lm", "text": "the dog", "unit": 99}, 400, "'unit' must be between"),
    ("/api/units", {"model": "lm", "text": "the dog", "state": "c"}, 400, "'state' must be one"),
    ("/api/units", {"model": "lm", "text": "the dog", "layer": 3}, 400, "'layer' must be between"),
    ("/api/units", {"model": "tagger", "text": "the dog"}, 400, "is a tagger"),
    ("/api/units", {"model": "lm", "text": "the dog", "units": []}, 400, "list of 1 to 4"),
    ("/api/units", {"model": "lm", "text": "the dog", "stretch": [5]}, 400, "[start, end]"),
    ("/api/units", {"model": "lm", "text": "the dog", "stretch": [3, 99]}, 400, "within"),
    ("/api/units", {"model": "lm", "text": "the dog", "stretch": [0, 7]}, 400, "whole text"),
    ("/api/gradients", {"model": "lm", "text": "the dog"}, 400, "needs at least 52"),
    ("/api/gradients", {"model": "sms-label", "text": "ok"}, 400, "for a plain language"),
    ("/api/translate", {"model": "translator", "text": " "}, 400, "is empty"),
    ("/api/translate", {"model": "translator", "text": "1+2\n3+4"}, 400, "must be one line"),
    ("/api/translate", {"model": "translator", "text": "1+2", "beam": 0}, 400, "'beam' must be"),
    ("/api/translate", {"model": "translator", "text": "1" * 1500}, 400, "more than the 1,000"),
    ("/api/translate", {"model": "lm", "text": "1+2"}, 400, "is a language-model; this needs"),
]


@pytest.mark.parametrize(("path", "body", "status", "message"), BAD)
def test_bad_requests_get_a_4xx_and_one_sentence(client, path, body, status, message):
    reply = client.post(path, json=body)
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in reply.text


@pytest.mark.parametrize(
    ("content", "status", "message"),
    [
        (b"\xff\xfe{}", 400, "not UTF-8"),
        (b"{not json", 400, "not JSON"),
        (b"[1, 2]", 400, "must be a JSON object"),
        (b'{"model": "lm", "prompt": "' + b"a" * MAX_BODY + b'"}', 413, "over"),
    ],
)
def test_bodies_that_are_not_json_objects_are_refused(client, content, status, message):
    reply = client.post("/api/generate", content=content)
    assert reply.status_code == status and message in reply.json()["error"]


def test_unknown_routes_and_methods_are_json_errors(client):
    assert client.get("/api/nothing").status_code == 404
    assert "error" in client.get("/api/nothing").json()
    assert client.get("/api/generate").status_code == 405


def test_requests_at_once_share_the_model_but_not_its_state(client, served):
    """Sixteen generations in threads at once give what each gives alone."""
    from concurrent.futures import ThreadPoolExecutor

    bodies = [{"model": "lm", "prompt": "the ", "length": 30, "seed": s} for s in range(16)]
    alone = [client.post("/api/generate", json=b).json()["text"] for b in bodies]
    with ThreadPoolExecutor(8) as pool:
        together = list(
            pool.map(lambda b: client.post("/api/generate", json=b).json()["text"], bodies)
        )
    assert together == alone and len(set(alone)) > 1
    assert np.all(np.isfinite(served["lm"].model.flat_params))
