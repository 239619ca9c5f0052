"""The chat window's rendering: pure functions from hand-made Answers to HTML, and the event flow."""
from __future__ import annotations

import html
import re
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # ui.py lives beside the rag package, not inside it
    sys.path.insert(0, str(ROOT))

import ui  # noqa: E402
from rag import format as fmt  # noqa: E402
from rag.errors import InputError, ModelError  # noqa: E402
from rag.types import Answer, Chunk, Citation, Document, Hit, Span  # noqa: E402

PASSAGE = ("Die Republik Kasachstan ist eine der leistungsfähigsten Volkswirtschaften in Zentralasien.\n"
           "Jahr 2015: 12,811 Mio. Euro (Platz 75),\nJahr 2016: 5,458 Mio. Euro (Platz 98).")
QUOTE = "Jahr 2016: 5,458 Mio. Euro (Platz 98)."


def chunk(text=PASSAGE, page=2, section="Antwort zu Fragen 1, 2 > Wirtschaft", chunk_id="c1") -> Chunk:
    start = 100
    return Chunk(chunk_id=chunk_id, doc_id="drucksache-7-844", text=text, start=start, end=start + len(text),
                 page=page, section=section)


DOCS = {"drucksache-7-844": {"drucksache": "7/844"}}


def cite(n=1, quote=QUOTE) -> Citation:
    c = chunk()
    start = c.text.index(quote)
    return Citation(n, c, quote, start, start + len(quote))


def answer(**kw) -> Answer:
    c, q = chunk(), cite()
    base = dict(question="Wie hoch war der Außenhandel 2016?", text="Im Jahr 2016: 5,458 Mio. Euro [1].",
                language="de", refused=False, citations=(q,), hits=(Hit(c, 0.91, (Span(c, q.start, q.end),)),),
                mode="extractive", timings={"total": 1.234})
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


# -- evidence and highlighting ----------------------------------------------------------------------

def test_highlight_marks_ranges_escapes_and_merges():
    text = 'A <b>bold</b> & "quoted" claim: x < 5 > 3.'
    out = ui.highlight(text, [(text.index("x <"), text.index("x <") + 5)])
    assert "<b>" not in out and "&lt;b&gt;" in out and "&amp;" in out and "&quot;" in out
    assert marked(out) == ["x &lt; 5"]
    assert marked(ui.highlight("one two three four", [(4, 13), (8, 18), (5, 5), (30, 40)])) == ["two three four"]
    assert ui.highlight("plain", []) == "plain"


def test_the_highlight_follows_the_citation_offsets_not_the_first_match():
    text = "Jahr 2016: 5,458 Mio. Euro.\nVergleich: Jahr 2016: 5,458 Mio. Euro."
    start = text.rindex("Jahr 2016")
    cit = Citation(1, chunk(text=text), text[start:], start, len(text))
    out = ui.render_citations(answer(citations=(cit,)))
    passage = re.search(r'<div class="rag-passage">(.*?)</div>', out, flags=re.S).group(1)
    assert passage.index("<mark>") > passage.index("Vergleich")  # the second occurrence, as cited


def test_a_quote_starting_with_its_heading_is_shown_and_marked_without_it():
    text = "Bildung\n\nIm Hochschulbereich bestehen folgende Kooperationen:\n- Kostanay State University,\n- Rudniy."
    c = Chunk("c7", "drucksache-7-844", text, 0, len(text), 4, "Antwort zu Fragen 1, 2 > Bildung",
              heading=("Antwort zu Fragen 1, 2", "Bildung"), kind="list")
    out = ui.render_citations(answer(citations=(Citation(1, c, text, 0, len(text)),)))
    body = text[text.index("Im Hoch"):]
    assert marked(out) == [body]
    preview = re.search(r'<span class="rag-quote">(.*?)</span>', out, flags=re.S).group(1)
    assert preview == f"„{body}“" and "..." not in preview  # the quote, not the heading and "..."
    assert "\n- Kostanay State University,\n- Rudniy." in preview  # a list keeps its lines


def test_a_citation_without_offsets_is_located_by_its_quote():
    start, end = ui.evidence(Citation(1, chunk(), QUOTE))
    assert PASSAGE[start:end] == QUOTE


# -- answers -----------------------------------------------------------------------------------------

def test_every_marker_with_a_source_opens_it_and_sources_are_one_per_n():
    c2 = chunk(text="Am 26. August 2016 besuchte der Botschafter das Museum.", page=1, section="Gespräche",
               chunk_id="c2")
    a = answer(text="5,458 Mio. Euro [1]; Besuch am 26. August 2016 [2]; siehe [3].",
               citations=(Citation(2, c2, c2.text, 0, len(c2.text)), cite(), cite()))
    out = ui.render_answer(a, DOCS)
    doc = Elements(out)
    assert doc.count("details", "rag-cite") == 2
    assert re.findall(r'class="rag-cite rag-cite-(\d+)"', out) == ["1", "2"]  # sorted, one per [n]
    for n in (1, 2):
        assert doc.count("span", f"rag-ref-{n}") == 1
    assert doc.count("span", "rag-ref-3") == 0 and "[3]" in out  # no source: shown, not clickable
    assert all(a.get("role") == "button" and a.get("tabindex") == "0" for t, a in doc.tags
               if "rag-ref" in (a.get("class") or "").split())
    assert "Drucksache 7/844, S. 2, Antwort zu Fragen 1, 2 &gt; Wirtschaft" in out
    assert "</svg> 1.2 s" in out and "rag-refusal" not in out
    assert marked(out) == [QUOTE, "Am 26. August 2016 besuchte der Botschafter das Museum."]


def test_the_direct_answer_comes_first_in_bold():
    a = answer(language="en", direct="In 2016 trade amounted to EUR 5.458 million [1].",
               text="In 2016 trade amounted to EUR 5.458 million [1].\n„Jahr 2016: 5,458 Mio. Euro (Platz 98).“ [1]")
    out = ui.render_answer(a)
    strong = re.search(r'<strong class="rag-direct">(.*?)</strong>', out, flags=re.S).group(1)
    assert strong.startswith("In 2016 trade amounted to EUR 5.458 million") and 'rag-ref-1' in strong
    assert out.index("rag-direct") < out.index("„Jahr 2016")
    apart = ui.render_answer(answer(direct="5,458 Mio. Euro", text="„Jahr 2016: 5,458 Mio. Euro.“ [1]"))
    assert re.search(r'<p class="rag-direct">5,458 Mio. Euro</p><p class="rag-text">„Jahr', apart)


def test_the_copy_button_copies_plain_text_with_sources_in_the_answer_language():
    a = answer()
    out = ui.render_answer(a, DOCS)
    assert Elements(out).count("button", "rag-copy") == 1
    plain = html.unescape(re.search(r'<div class="rag-plain" hidden>(.*?)</div>', out, flags=re.S).group(1))
    assert plain == fmt.plain_text(a, DOCS)
    assert plain == ("Im Jahr 2016: 5,458 Mio. Euro [1].\n\nQuellen:\n"
                     "[1] Drucksache 7/844, S. 2, Antwort zu Fragen 1, 2 > Wirtschaft: „" + QUOTE + "“")
    en = html.unescape(re.search(r'rag-plain" hidden>(.*?)</div>', ui.render_answer(answer(language="en"), DOCS),
                                 flags=re.S).group(1))
    assert "\n\nSources:\n[1] Drucksache 7/844, p. 2, " in en and "<" not in en


def test_everything_from_the_model_and_the_document_is_escaped():
    evil = '<img src=x onerror="alert(1)"><script>alert(2)</script>'
    c = chunk(text=f"Intro {evil} outro.", section=f"Sec {evil}")
    s = c.text.find(evil)
    a = answer(text=f"Answer {evil} [1]", question=evil, direct=evil, citations=(Citation(1, c, evil, s, s + len(evil)),),
               hits=(Hit(c, 0.5, (Span(c, s, s + len(evil)),)),))
    for out in (ui.render_answer(a, DOCS), ui.render_passages(a), ui.render_streaming(evil),
                ui.render_error(InputError(evil)), ui.render_passages(answer(refused=True, question=evil))):
        tags = {t for t, _ in Elements(out).tags}
        assert not tags & {"img", "script"}, out
        assert "&lt;script&gt;" in out


def test_refusal_looks_different_and_has_no_citations():
    en = ui.render_answer(answer(refused=True, mode="refusal", language="en", citations=(),
                                 text="The paper does not contain this information."))
    assert "rag-refusal" in en and "Not in the paper" in en and "rag-icon" in en
    assert "rag-cite" not in en and "<mark>" not in en and "rag-copy" in en
    de = ui.render_answer(answer(refused=True, mode="refusal", language="de", citations=(),
                                 text="Dazu enthält das Dokument keine Angaben."))
    assert "Nicht im Dokument" in de
    assert ui.render_citations(answer(refused=True)) == ""  # even if citations were left on a refusal


def test_labels_follow_the_answer_language_and_missing_timings_are_fine():
    out = ui.render_answer(answer(language="en", timings={}), DOCS)
    assert "Sources" in out and "p. 2" in out and " s<" not in out and "Copy" in out
    assert "Kopieren" in ui.render_answer(answer())
    Elements(out)


def test_streaming_text_is_escaped_and_keeps_markers():
    out = ui.render_streaming("5 < 6 [1")
    assert "5 &lt; 6 [1" in out
    assert "[1]" in ui.render_streaming("x [1]")


# -- side panel, header, errors -----------------------------------------------------------------------

def three_hits_one_label():
    """Three passages on the same page in the same section: only their words tell them apart."""
    texts = ["Jahr 2016: 5,458 Mio. Euro (Platz 98).", "Im Jahr 2016 fand ein Unternehmerforum statt.",
             "Die Exporte bestanden vor allem aus Maschinen."]
    chunks = [chunk(text=t, chunk_id=f"c{i}") for i, t in enumerate(texts)]
    return [Hit(c, 0.016 - i / 1000, (Span(c, 0, len(c.text)),)) for i, c in enumerate(chunks)]


def test_passages_start_their_preview_after_the_heading():
    text = "Gespräche mit dem Botschafter\n\nAm 26. August 2016 besuchte der Botschafter das Museum."
    c = Chunk("c8", "drucksache-7-844", text, 0, len(text), 2, "Antwort zu Frage 2 > Gespräche mit dem Botschafter")
    out = ui.render_passages(answer(citations=(), hits=(Hit(c, 0.1), Hit(c, 0.1, (Span(c, 0, len(text)),)))))
    assert re.findall(r'<span class="rag-first">(.*?)</span>', out) == ["Am 26. August 2016 besuchte der Botschafter das Museum."] * 2
    assert marked(out) == ["Am 26. August 2016 besuchte der Botschafter das Museum."]


def test_passages_panel_tells_entries_apart_without_raw_scores():
    hits = three_hits_one_label()
    a = answer(citations=(Citation(1, hits[0].chunk, hits[0].chunk.text, 0, len(hits[0].chunk.text)),),
               hits=tuple(hits))
    out = ui.render_passages(a)
    assert Elements(out).count("details", "rag-hit") == 3
    summaries = re.findall(r"<summary>(.*?)</summary>", out, flags=re.S)
    assert len(set(summaries)) == 3 and "0.01" not in out and "score" not in out
    assert [re.search(r'rag-rank">(\d+)\.', s).group(1) for s in summaries] == ["1", "2", "3"]
    assert all("S. 2 · Wirtschaft" in s for s in summaries)
    assert "Unternehmerforum" in summaries[1] and out.count("cited [1]") == 1
    assert "Wie hoch war der Außenhandel 2016?" in out  # says which question the passages are for
    assert "rag-empty" in ui.render_passages(None) and "No passages" in ui.render_passages(answer(hits=(), citations=()))


def test_a_cited_passage_is_listed_even_when_retrieval_did_not_return_it():
    card = Chunk("card", "drucksache-7-844", "Fragesteller: Holger Arppe\nFraktion: AfD", 0, 40, 1, "Dokumentkarte")
    out = ui.render_passages(answer(hits=(), citations=(Citation(1, card, "Fraktion: AfD", 27, 40),)))
    assert Elements(out).count("details", "rag-hit") == 1 and "cited [1]" in out and "No passages" not in out


def test_after_a_refusal_the_panel_says_the_question_was_not_answered():
    a = answer(refused=True, mode="refusal", citations=(), question="What was the trade volume in 2019?",
               hits=tuple(three_hits_one_label()), language="en")
    out = ui.render_passages(a)
    assert "„What was the trade volume in 2019?“, was not answered" in out
    assert "cited" not in out and "answers the question" not in out


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


# -- the event flow, with a scripted service -----------------------------------------------------------

PAPER = Document(doc_id="drucksache-7-844", text="", source="x", sha256="0", page_starts=(0,),
                 metadata={"drucksache": "7/844"})


class ScriptedService:
    """Streams two deltas, then the final Answer; records what it was asked."""

    def __init__(self, fail=None, documents=(PAPER,)):
        self.calls, self.fail, self.docs = [], fail, documents

    def documents(self):
        if isinstance(self.docs, Exception):
            raise self.docs
        return list(self.docs)

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
    service = ScriptedService()
    respond = respond_fn(ui.create_app(service))
    steps = run(respond, "Wie hoch war der Außenhandel 2016?", [], [])
    messages, history = steps[-1][0], steps[-1][1]
    assert messages[0] == {"role": "user", "content": "Wie hoch war der Außenhandel 2016?"}
    assert "rag-busy" in steps[0][0][-1]["content"]  # busy state first
    assert any("ungefähr" in s[0][-1]["content"] and "rag-streaming" in s[0][-1]["content"] for s in steps)
    final = messages[-1]["content"]
    assert "Antwort 1" in final and "ungefähr" not in final and "rag-cite" in final  # replaced
    assert "Drucksache 7/844, S. 2" in final and "rag-plain" in final  # the paper's number in the sources
    assert "Wie hoch war der Außenhandel 2016?" in steps[-2][3]  # the side panel, for this question
    assert history == [["Wie hoch war der Außenhandel 2016?", "Antwort 1 [1]"]]
    steps = run(respond, "Und 2015?", messages, history)
    assert service.calls[-1] == ("Und 2015?", [["Wie hoch war der Außenhandel 2016?", "Antwort 1 [1]"]])
    assert len(steps[-1][0]) == 4 and len(steps[-1][1]) == 2


def test_an_answer_is_shown_even_when_the_documents_cannot_be_listed(capsys):
    respond = respond_fn(ui.create_app(ScriptedService(documents=RuntimeError("index gone"))))
    final = run(respond, "Frage?", [], [])[-1][0][-1]["content"]
    assert "rag-cite" in final and "drucksache-7-844, S. 2" in final  # the document's id stands in
    assert "index gone" in capsys.readouterr().err


@pytest.mark.parametrize("fail, shown", [(None, "Question is empty"), (ModelError("model missing"), "model missing"),
                                         (RuntimeError("boom"), "something went wrong")])
def test_errors_become_a_message_in_the_chat(fail, shown, capsys):
    respond = respond_fn(ui.create_app(ScriptedService(fail=fail)))
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
    style = next(b for b in app.blocks.values() if "<style>" in str(getattr(b, "value", "")))  # survives mounting
    assert ".rag-ref" in style.value and "rag-ref-" in style.js_on_load  # the look and the behaviour


@pytest.mark.real
def test_every_example_question_is_answered_with_its_source_in_both_languages(real_pipeline):
    answers = [real_pipeline.ask(q, []) for q in ui.EXAMPLES]
    for question, a in zip(ui.EXAMPLES, answers):
        assert not a.refused and a.citations and a.direct, (question, a.text)
        assert all(f"[{c.n}]" in a.text for c in a.citations), (question, a.text)
    assert {a.language for a in answers} == {"de", "en"}
