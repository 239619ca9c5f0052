"""The chat window's rendering: pure functions from hand-made Answers to HTML, and the event flow."""
from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ui.py lives beside the rag package, not inside it
    sys.path.insert(0, str(ROOT))

import ui  # noqa: E402
from rag.errors import InputError, ModelError  # noqa: E402
from rag.types import Answer, Chunk, Citation, Document, Hit, Span  # noqa: E402

PASSAGE = ("Die Republik Kasachstan ist eine der leistungsfähigsten Volkswirtschaften in Zentralasien.\n"
           "Jahr 2015: 12,811 Mio. Euro (Platz 75),\nJahr 2016: 5,458 Mio. Euro (Platz 98).")
QUOTE = "Jahr 2016: 5,458 Mio. Euro (Platz 98)."


def chunk(text=PASSAGE, page=2, section="Antwort zu Fragen 1, 2 > Wirtschaft", chunk_id="c1") -> Chunk:
    start = 100
    return Chunk(chunk_id=chunk_id, doc_id="drucksache-7-844", text=text, start=start, end=start + len(text),
                 page=page, section=section)


def answer(**kw) -> Answer:
    c = chunk()
    base = dict(question="Wie hoch war der Außenhandel 2016?", text="Im Jahr 2016: 5,458 Mio. Euro [1].",
                language="de", refused=False, citations=(Citation(1, c, QUOTE),),
                hits=(Hit(c, 0.91, (Span(c, c.text.find(QUOTE), c.text.find(QUOTE) + len(QUOTE)),)),), mode="extractive", timings={"total": 1.234})
    base.update(kw)
    return Answer(**base)


class Elements(HTMLParser):
    """Collects tags and checks that the markup is balanced."""

    VOID = {"br", "hr", "img", "input", "meta", "link", "wbr"}

    def __init__(self, markup: str):
        super().__init__()
        self.tags, self.stack = [], []
        self.feed(markup)
        self.close()
        assert not self.stack, f"unclosed tags: {self.stack}"

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_endtag(self, tag):
        assert self.stack and self.stack[-1] == tag, f"</{tag}> closes {self.stack[-1:]}"
        self.stack.pop()

    def count(self, tag, cls=None) -> int:
        return sum(1 for t, a in self.tags if t == tag and (cls is None or cls in (a.get("class") or "").split()))


def marked(markup: str) -> list[str]:
    return re.findall(r"<mark>(.*?)</mark>", markup, flags=re.S)


# -- highlight ---------------------------------------------------------------------------------------

def test_highlight_marks_the_quote_and_keeps_the_rest():
    out = ui.highlight(PASSAGE, [QUOTE])
    assert marked(out) == [QUOTE]
    assert re.sub(r"</?mark>", "", out) == PASSAGE  # nothing in this passage needs escaping


def test_highlight_escapes_inside_and_outside_the_mark():
    text = 'A <b>bold</b> & "quoted" claim: x < 5 > 3.'
    out = ui.highlight(text, ['x < 5'])
    assert "<b>" not in out and "&lt;b&gt;" in out and "&amp;" in out and "&quot;" in out
    assert marked(out) == ["x &lt; 5"]


def test_highlight_tolerates_whitespace_differences():
    out = ui.highlight("Jahr 2016:\n  5,458 Mio. Euro", ["Jahr 2016: 5,458 Mio. Euro"])
    assert marked(out) == ["Jahr 2016:\n  5,458 Mio. Euro"]


def test_highlight_merges_overlaps_and_ignores_missing_or_empty_needles():
    out = ui.highlight("one two three four", ["two three", "three four", "absent", "", "   "])
    assert marked(out) == ["two three four"]
    assert ui.highlight("plain", []) == "plain"


# -- answers -----------------------------------------------------------------------------------------

def test_answer_shows_text_markers_time_and_one_citation_per_n():
    c2 = chunk(text="Am 26. August 2016 besuchte der Botschafter das Museum.", page=1, section="Gespräche",
               chunk_id="c2")
    a = answer(text="5,458 Mio. Euro [1]; Besuch am 26. August 2016 [2].",
               citations=(Citation(2, c2, "Am 26. August 2016 besuchte der Botschafter das Museum."),
                          Citation(1, chunk(), QUOTE), Citation(1, chunk(), QUOTE)))
    out = ui.render_answer(a)
    doc = Elements(out)
    assert doc.count("details", "rag-cite") == 2
    assert [n for n in re.findall(r'data-n="(\d+)"', out)] == ["1", "2"]  # sorted, one per [n]
    assert out.count('<span class="rag-ref">[1]</span>') == 1 and '<span class="rag-ref">[2]</span>' in out
    assert "S. 2 · Antwort zu Fragen 1, 2 &gt; Wirtschaft" in out and "S. 1 · Gespräche" in out
    assert "</svg> 1.2 s" in out
    assert marked(out) == [QUOTE, "Am 26. August 2016 besuchte der Botschafter das Museum."]
    assert "rag-refusal" not in out


def test_citation_opens_to_the_whole_passage_with_the_quote_marked():
    out = ui.render_citations(answer())
    passage = re.search(r'<div class="rag-passage">(.*?)</div>', out, flags=re.S).group(1)
    assert re.sub(r"</?mark>", "", passage) == PASSAGE
    assert marked(passage) == [QUOTE]
    assert re.search(r"<summary>.*\[1\].*S\. 2.*Wirtschaft.*</summary>", out, flags=re.S)


def test_everything_from_the_model_and_the_document_is_escaped():
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    c = chunk(text=f"Intro {evil} outro.", section=f"Sec {evil}")
    a = answer(text=f"Answer {evil} [1]", citations=(Citation(1, c, evil),), hits=(Hit(c, 0.5, (Span(c, c.text.find(evil), c.text.find(evil) + len(evil)),)),))
    for out in (ui.render_answer(a), ui.render_passages(a), ui.render_streaming(evil),
                ui.render_error(InputError(evil))):
        tags = {t for t, _ in Elements(out).tags}
        assert not tags & {"img", "script"}, out
        assert "&lt;script&gt;" in out


def test_refusal_looks_different_and_has_no_citations():
    en = ui.render_answer(answer(refused=True, mode="refusal", language="en", citations=(),
                                 text="The paper does not contain this information."))
    assert "rag-refusal" in en and "Not in the paper" in en and "rag-icon" in en
    assert "rag-cite" not in en and "<mark>" not in en
    de = ui.render_answer(answer(refused=True, mode="refusal", language="de", citations=(),
                                 text="Dazu enthält das Dokument keine Angaben."))
    assert "Nicht im Dokument" in de
    assert ui.render_citations(answer(refused=True)) == ""  # even if citations were left on a refusal


def test_labels_follow_the_answer_language_and_missing_timings_are_fine():
    out = ui.render_answer(answer(language="en", timings={}))
    assert "Sources" in out and "p. 2" in out and " s<" not in out
    Elements(out)


def test_streaming_text_is_escaped_and_keeps_markers():
    out = ui.render_streaming("5 < 6 [1")
    assert "5 &lt; 6 [1" in out
    assert '<span class="rag-ref">[1]</span>' in ui.render_streaming("x [1]")


# -- side panel, header, errors -----------------------------------------------------------------------

def test_passages_panel_lists_every_hit_and_marks_the_cited_ones():
    other = chunk(text="Hochschule Wismar: Partnerschaft mit der Universität Almaty.", chunk_id="c9", page=5)
    a = answer(hits=(Hit(chunk(), 0.9, (Span(chunk(), chunk().text.find(QUOTE), chunk().text.find(QUOTE) + len(QUOTE)),)),
                     Hit(other, 0.4, (Span(other, 0, len("Hochschule Wismar: Partnerschaft")),))))
    out = ui.render_passages(a)
    assert Elements(out).count("details", "rag-hit") == 2
    assert out.count("cited [1]") == 1
    assert marked(out) == [QUOTE, "Hochschule Wismar: Partnerschaft"]
    assert "rag-empty" in ui.render_passages(None) and "rag-empty" in ui.render_passages(answer(hits=()))


def test_header_names_the_document_and_survives_missing_metadata():
    full = Document(doc_id="drucksache-7-844", text="", source="x", sha256="0", page_starts=(0,),
                    metadata={"drucksache": "7/844", "date": "25.07.2017", "wahlperiode": 7,
                              "title": "Beziehungen von Mecklenburg-Vorpommern zur Republik Kasachstan",
                              "asker": "Holger Arppe", "party": "AfD"})
    out = ui.render_header([full])
    for needle in ("Drucksache 7/844", "25.07.2017", "Kasachstan", "Holger Arppe (AfD)", "Wahlperiode 7",
                   "locally"):
        assert needle in out
    bare = Document(doc_id="my-doc", text="", source="x", sha256="0", page_starts=(0,), metadata={"title": None})
    assert "my-doc" in ui.render_header([bare])
    assert "No document" in ui.render_header([]) and "Loading" in ui.render_header(None)


def test_errors_are_friendly_one_liners():
    assert "Question is empty" in ui.render_error(InputError("question is empty"))
    assert "Models missing" in ui.render_error(ModelError("models missing"))
    out = ui.render_error(ValueError("secret internals"))
    assert "secret internals" not in out and "Traceback" not in out and "server log" in out


# -- the event flow, with a scripted pipeline ----------------------------------------------------------

class ScriptedPipeline:
    """Streams two deltas, then the final Answer; records what it was asked."""

    def __init__(self, fail=None):
        self.calls, self.fail = [], fail

    def documents(self):
        return []

    def ask_stream(self, question, history=()):
        self.calls.append((question, list(history)))
        if self.fail:
            raise self.fail
        if not question.strip():
            raise InputError("question is empty")
        yield "Im Jahr 2016 "
        yield "ungefähr"
        yield answer(question=question, text=f"Antwort {len(self.calls)} [1]")


def respond_fn(app):
    for fn in app.fns.values():
        if getattr(fn.fn, "__name__", "") == "respond":
            return fn.fn
    raise AssertionError("no respond handler")


def run(respond, question, messages, history):
    return list(respond(question, messages, history))


def test_a_conversation_streams_replaces_and_passes_history():
    pipe = ScriptedPipeline()
    respond = respond_fn(ui.create_app(pipe))
    steps = run(respond, "Wie hoch war der Außenhandel 2016?", [], [])
    messages, history = steps[-1][0], steps[-1][1]
    assert messages[0] == {"role": "user", "content": "Wie hoch war der Außenhandel 2016?"}
    assert "rag-busy" in steps[0][0][-1]["content"]  # busy state first
    assert any("ungefähr" in s[0][-1]["content"] and "rag-streaming" in s[0][-1]["content"] for s in steps)
    final = messages[-1]["content"]
    assert "Antwort 1" in final and "ungefähr" not in final and "rag-cite" in final  # replaced
    assert history == [["Wie hoch war der Außenhandel 2016?", "Antwort 1 [1]"]]
    steps = run(respond, "Und 2015?", messages, history)
    assert pipe.calls[-1] == ("Und 2015?", [["Wie hoch war der Außenhandel 2016?", "Antwort 1 [1]"]])
    assert len(steps[-1][0]) == 4 and len(steps[-1][1]) == 2


@pytest.mark.parametrize("fail, shown", [(None, "Question is empty"), (ModelError("model missing"), "model missing"),
                                         (RuntimeError("boom"), "something went wrong")])
def test_errors_become_a_message_in_the_chat(fail, shown, capsys):
    respond = respond_fn(ui.create_app(ScriptedPipeline(fail=fail)))
    steps = run(respond, "   " if fail is None else "Frage?", [], [])
    messages, history = steps[-1][0], steps[-1][1]
    assert shown.lower() in messages[-1]["content"].lower() and "rag-error" in messages[-1]["content"]
    assert history == []
    if isinstance(fail, RuntimeError):
        assert "boom" in capsys.readouterr().err  # logged, not shown
    assert steps[-1][2]["interactive"] is True  # the input is usable again


def test_create_app_builds_without_launching_or_loading():
    class Untouchable:  # create_app must not call the pipeline; the header loads when a page opens
        def __getattr__(self, name):
            raise AssertionError(f"pipeline.{name} used while building the app")

    app = ui.create_app(Untouchable())
    assert not app.is_running
    assert any("<style>" in str(getattr(b, "value", "")) for b in app.blocks.values())  # survives mounting
