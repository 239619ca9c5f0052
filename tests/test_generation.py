"""The generator seam: pure helpers and the fake (fast), the real model (``-m real``, loaded once)."""
from __future__ import annotations

from pathlib import Path

import pytest

from rag.config import Settings
from rag.errors import ModelError
from rag.generation import (FakeGenerator, SpanConstraint, TransformersGenerator, collapse_whitespace,
                            plain_prompt, stop_cut, token_variants)

# ---------------------------------------------------------------- pure helpers


def _spans(source):
    """All contiguous token runs of ``source``: the oracle for SpanConstraint."""
    return {tuple(source[i:j]) for i in range(len(source)) for j in range(i + 1, len(source) + 1)}


@pytest.mark.parametrize("source", [[1, 2, 3, 2, 4], [5, 5, 5], [1, 2, 1, 2, 3], [7]])
def test_span_constraint_walks_exactly_the_contiguous_runs(source):
    reached = set()

    def walk(prefix, span):
        if prefix:
            reached.add(tuple(prefix))
        for t in sorted(span.allowed()):
            nxt = SpanConstraint(source)
            for p in prefix + [t]:
                nxt.advance(p)
            walk(prefix + [t], nxt)

    walk([], SpanConstraint(source))
    assert reached == _spans(source)


def test_span_constraint_start_is_the_first_occurrence():
    span = SpanConstraint([9, 1, 2, 8, 1, 2, 3])
    span.advance(1)
    span.advance(2)
    assert span.start == 1 and sorted(span.ends) == [3, 6]
    span.advance(3)
    assert span.start == 4 and span.allowed() == set()


def test_span_constraint_rejects_a_token_that_leaves_the_source():
    span = SpanConstraint([1, 2, 3])
    span.advance(1)
    assert span.allowed() == {2}
    with pytest.raises(ValueError):
        span.advance(3)


def test_span_constraint_aliases_stand_for_source_tokens():
    # 10 is another spelling of 1 (say "▁am" for "▁Am"); it is allowed wherever 1 is and tracks both
    span = SpanConstraint([1, 2, 3, 4, 1, 5], aliases={10: frozenset({1})})
    assert 10 in span.allowed()
    span.advance(10)
    assert span.next_source() == {2, 5}
    assert span.end_followed_by({5}) == 5


def test_token_variants_cover_case_and_word_start():
    assert token_variants("▁Am", "▁") == {"▁am", "am", "Am"}
    assert token_variants("Platz", "▁") >= {"▁Platz", "platz", "▁platz"}
    assert "Platz" not in token_variants("Platz", "▁")


def test_collapse_whitespace_maps_back_to_the_original():
    text = "Jahr 2015:\n \n12,811 Mio.  Euro\t(Platz 75),\n"
    flat, where = collapse_whitespace(text)
    assert flat == "Jahr 2015: 12,811 Mio. Euro (Platz 75), "
    assert len(where) == len(flat) + 1 and where[-1] == len(text)
    for i, ch in enumerate(flat):
        assert text[where[i]] == ch or (ch == " " and text[where[i]].isspace())
    i = flat.index("12,811")
    assert text[where[i]:where[i + 15] + 1] == "12,811 Mio.  Euro"


@pytest.mark.parametrize("text,stops,expected", [
    ("Hallo Welt", [], (10, False)),
    ("Hallo\nWelt", ["\n"], (5, True)),
    ("Hallo Fr", ["Frage:"], (6, False)),        # "Fr" could become "Frage:": hold it back
    ("Hallo Fra Welt", ["Frage:"], (14, False)),
    ("a STOP b END", ["END", "STOP"], (2, True)),  # the earliest stop wins
    ("abc", ["", "x"], (3, False)),
])
def test_stop_cut(text, stops, expected):
    assert stop_cut(text, stops) == expected


def test_plain_prompt_layout():
    p = plain_prompt("Sei knapp.", [("Kontext: A\nFrage: B?", "C")], "Kontext: D\nFrage: E?")
    assert p == "Sei knapp.\n\nKontext: A\nFrage: B?\nAntwort: C\n\nKontext: D\nFrage: E?\nAntwort:"
    assert plain_prompt("", [], "Q?", answer_label="Answer:") == "Q?\nAnswer:"


# ---------------------------------------------------------------- the fake


def test_fake_complete_and_stream_agree_and_respect_stop_and_budget():
    gen = FakeGenerator(reply="Im Jahr 2016 waren es 5,458 Mio. Euro.\nFrage: mehr")
    assert gen.complete("p", max_new_tokens=100, stop=["\n"]) == "Im Jahr 2016 waren es 5,458 Mio. Euro."
    assert "".join(gen.stream("p", max_new_tokens=3)) == "Im Jahr 2016"
    assert list(gen.stream("p", max_new_tokens=3)) == ["Im", " Jahr", " 2016"]
    assert FakeGenerator().complete("p", max_new_tokens=5) == "42"


def test_fake_score_prefers_configured_then_shorter():
    gen = FakeGenerator(preferred=["lang und richtig"])
    scores = gen.score("p", ["kurz", "lang und richtig", "mittellang"])
    assert max(range(3), key=scores.__getitem__) == 1
    assert scores[0] > scores[2]
    assert gen.score("p", []) == []


def test_fake_copy_span_is_the_first_sentence_and_a_substring():
    src = "Jahr 2016: 5,458 Mio. Euro. Jahr 2015: 12,811 Mio. Euro."
    gen = FakeGenerator()
    assert gen.copy_span("p", src, max_new_tokens=50) == "Jahr 2016: 5,458 Mio."
    assert gen.copy_span("p", src, max_new_tokens=2) == "Jahr 2016:"
    assert gen.copy_span("p", "ohne Punkt", max_new_tokens=9) == "ohne Punkt"
    assert gen.copy_span("p", src, max_new_tokens=50) in src


def test_fake_format_prompt_and_count_tokens():
    gen = FakeGenerator()
    assert gen.format_prompt("S", [("u", "a")], "q").endswith("q\nAntwort:")
    assert gen.count_tokens("drei kleine Wörter") == 3


# ---------------------------------------------------------------- loading errors (no model needed)


def test_missing_model_folder_is_a_one_line_model_error(tmp_path):
    gen = TransformersGenerator(tmp_path / "nope", quantize=False)
    with pytest.raises(ModelError) as err:
        gen.warm_up()
    assert "not found" in str(err.value) and "\n" not in str(err.value)


def test_unloadable_model_folder_is_a_one_line_model_error(tmp_path):
    (tmp_path / "config.json").write_text("{not json", encoding="utf-8")
    with pytest.raises(ModelError) as err:
        TransformersGenerator(tmp_path, quantize=False).warm_up()
    assert "\n" not in str(err.value)


class _ChatTokenizer:
    """Stands in for an instruction-tuned model's tokenizer; rejects system turns like some templates do."""

    chat_template = "{{ messages }}"
    bos_token = "<s>"

    def apply_chat_template(self, msgs, tokenize, add_generation_prompt):
        assert not tokenize and add_generation_prompt
        if msgs[0]["role"] == "system":
            raise ValueError("System role not supported")
        return "<s>" + "".join(f"<{m['role']}>{m['content']}</{m['role']}>" for m in msgs) + "<assistant>"


def test_format_prompt_uses_the_chat_template_when_there_is_one(tmp_path, monkeypatch):
    import rag.generation as generation

    gen = TransformersGenerator(tmp_path, quantize=False)
    monkeypatch.setitem(generation._LOADED, (str(tmp_path), False), (None, _ChatTokenizer()))
    p = gen.format_prompt("Sei knapp.", [("F1", "A1")], "F2")
    assert p == ("<s><user>Sei knapp.\n\nF1</user><assistant>A1</assistant><user>F2</user><assistant>")


def test_constructor_is_cheap(tmp_path):
    gen = TransformersGenerator(tmp_path / "not-loaded-yet")  # must not touch the path
    assert gen.name == "not-loaded-yet"


# ---------------------------------------------------------------- the real model (loaded once)


@pytest.fixture(scope="session")
def real_generator():
    try:
        from rag import models
    except ImportError:
        pytest.skip("rag/models.py does not exist yet: no packaged generator path")
    try:
        path = Path(models.generator_path(Settings.from_env()))
    except Exception as exc:  # not fetched/converted yet
        pytest.skip(f"generator model not available: {exc}")
    gen = TransformersGenerator(path, quantize=Settings.from_env().quantize)
    gen.warm_up()
    return gen


SOURCE = ("Die Republik Kasachstan ist eine der leistungsfähigsten Volkswirtschaften in Zentralasien. "
          "Der Außenhandel ist rückläufig:\nJahr 2015: 12,811 Mio. Euro (Platz 75),\n"
          "Jahr 2016: 5,458 Mio. Euro (Platz 98),\nJanuar bis April 2017: 1,844 Mio. Euro.")
QUESTION = "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?"


def _prompt(gen):
    example = ("Kontext: Im Jahr 2016 wurden 14 Radwege mit 38,5 Kilometern gebaut.\n"
               "Frage: Wie lang waren die Radwege?", "38,5 Kilometern")
    return gen.format_prompt("Antworte mit einer Stelle aus dem Kontext.", [example],
                             f"Kontext: {SOURCE}\nFrage: {QUESTION}")


@pytest.mark.real
def test_real_copy_span_is_a_substring_of_the_source(real_generator):
    out = real_generator.copy_span(_prompt(real_generator), SOURCE, max_new_tokens=24)
    assert out and out in SOURCE


@pytest.mark.real
def test_real_score_ranks_the_right_continuation_first(real_generator):
    prompt = "Die Hauptstadt von Frankreich ist"
    good, bad = real_generator.score(prompt, [" Paris.", " Kartoffelsalat."])
    assert good > bad


@pytest.mark.real
def test_real_score_matches_one_sequence_at_a_time(real_generator):
    if real_generator.quantize:
        pytest.skip("dynamic int8 quantises activations per batch: batched scores differ from single ones "
                    "by design (0.67 nats measured on this test)")
    prompt = _prompt(real_generator)
    conts = [" 5,458 Mio. Euro", " 12,811 Mio. Euro (Platz 75)", " weiß ich nicht"]
    batched = real_generator.score(prompt, conts)
    single = [real_generator.score(prompt, [c])[0] for c in conts]
    assert batched == pytest.approx(single, abs=1e-3)


@pytest.mark.real
def test_real_stream_joins_to_complete(real_generator):
    prompt = _prompt(real_generator)
    parts = list(real_generator.stream(prompt, max_new_tokens=16, stop=["\n"]))
    assert "".join(parts) == real_generator.complete(prompt, max_new_tokens=16, stop=["\n"])
    assert "\n" not in "".join(parts)


@pytest.mark.real
def test_real_format_prompt_and_count_tokens(real_generator):
    prompt = _prompt(real_generator)
    assert QUESTION in prompt
    assert 0 < real_generator.count_tokens(prompt) < 400
