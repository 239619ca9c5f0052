"""The chat window: a thin Gradio layer over the answering service.

``create_app(service)`` builds the Blocks (it launches nothing, so the HTTP server can mount it);
``launch()`` serves it on its own. Everything shown is rendered by the small pure ``render_*``
functions below; every string from the document or the model is HTML-escaped there. The look and
the behaviour (clickable [n], the copy button, scrolling) live in rag/static/chat.css and chat.js.
"""
from __future__ import annotations

import argparse
import html
import json
import re
import sys
import traceback
from importlib.resources import files
from typing import Sequence

import gradio as gr

from rag import format as fmt
from rag.errors import InputError, RagError
from rag.types import Answer, Citation, Document, Hit

# Questions the paper clearly answers, in both languages (checked against the running app).
EXAMPLES = (
    "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?",
    "Which universities in Mecklenburg-Vorpommern cooperate with universities in Kazakhstan?",
    "When did the ambassador visit the museum in Peenemünde?",
    "Wer hat die Anfrage gestellt?",
)

_SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "Noto Sans",
                 "Liberation Sans", "sans-serif")
_MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace")

def _static(name: str) -> str:
    """The window's CSS and JS, shipped as package data beside the citation formatter."""
    return (files("rag") / "static" / name).read_text(encoding="utf-8")


def _font_list(names) -> str:
    return ", ".join(f'"{n}"' if " " in n else n for n in names)


# The theme's web font is swapped for system fonts, so nothing but the app itself is loaded.
CSS = (f":root, :root.dark, :root .dark {{ --font: {_font_list(_SYSTEM_FONTS)}; "
       f"--font-mono: {_font_list(_MONO_FONTS)}; }}\n") + _static("chat.css")
JS = _static("chat.js")
# Words inside an answer follow the answer's language (page and "Sources" come from rag.format);
# the window's own chrome is English.
_LABELS = json.loads(_static("labels.json"))


# -- rendering: pure functions from the shared vocabulary to HTML --------------------------------------

# Inline SVG icons: emoji need a colour-emoji font that many machines (and headless browsers) lack.
_ICONS = {
    "doc": '<path d="M6 2h8l4 4v16H6z"/><path d="M14 2v4h4M9 12h6M9 16h6"/>',
    "lock": '<rect x="5" y="11" width="14" height="10" rx="2"/><path d="M8 11V7a4 4 0 0 1 8 0v4"/>',
    "clock": '<circle cx="12" cy="12" r="9"/><path d="M12 7v5l3 2"/>',
    "info": '<circle cx="12" cy="12" r="9"/><path d="M12 11v6M12 7.5v.5"/>',
    "warn": '<path d="M12 3 2 20h20z"/><path d="M12 10v4.5M12 17v.5"/>',
}


def icon(name: str, size: int = 14) -> str:
    # The chat's sanitiser drops viewBox, so the 24-unit drawing is scaled by a transform instead.
    return (f'<svg class="rag-icon" viewBox="0 0 {size} {size}" width="{size}" height="{size}" fill="none" '
            f'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
            f'aria-hidden="true"><g transform="scale({size / 24:.4f})">{_ICONS[name]}</g></svg>')


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _labels(language: str) -> dict:
    return _LABELS.get(language, _LABELS["en"])


def _doc_meta(documents: Sequence[Document] | None) -> dict:
    """doc_id -> metadata, the shape rag.format takes."""
    return {d.doc_id: d.metadata for d in documents or ()}


def highlight(text: str, ranges) -> str:
    """``text`` HTML-escaped, with each (start, end) range wrapped in <mark> (overlaps merged)."""
    merged: list[list[int]] = []
    for start, end in sorted((max(0, s), min(len(text), e)) for s, e in ranges):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    out, pos = [], 0
    for start, end in merged:
        out += [esc(text[pos:start]), "<mark>", esc(text[start:end]), "</mark>"]
        pos = end
    out.append(esc(text[pos:]))
    return "".join(out)


def without_headings(chunk, start: int, end: int) -> tuple[int, int]:
    """(start, end) in ``chunk.text`` without heading lines at its start and whitespace at either end."""
    headings = {h.strip() for h in (*chunk.heading, *chunk.section.split(" > "))} - {""}
    lines = chunk.text[start:end].split("\n")
    while len(lines) > 1 and (not lines[0].strip() or lines[0].strip() in headings):
        start += len(lines.pop(0)) + 1
    body = chunk.text[start:end]
    return start + len(body) - len(body.lstrip()), end - len(body) + len(body.rstrip())


def evidence(cit: Citation) -> tuple[int, int]:
    """Where the quote stands in its chunk: the citation's offsets, minus heading lines at its start.

    Only a citation made without offsets (start == end) is located by searching its quote."""
    text, start, end = cit.chunk.text, cit.start, cit.end
    if not 0 <= start < end <= len(text):
        words = cit.quote.split()
        m = re.search(r"\s+".join(map(re.escape, words)), text) if words else None
        start, end = (m.start(), m.end()) if m else (0, 0)
    return without_headings(cit.chunk, start, end)


def render_text(text: str, language: str = "en", cited: Sequence[int] = ()) -> str:
    """Answer text, escaped; every [n] with a source below becomes a button that opens it."""
    show = _labels(language)["show"]

    def marker(m: re.Match) -> str:
        n = int(m.group(1))
        if n not in cited:
            return f'<span class="rag-ref-x">[{n}]</span>'
        return (f'<span class="rag-ref rag-ref-{n}" role="button" tabindex="0" title="{esc(show.format(n=n))}">'
                f'[{n}]</span>')

    return re.sub(r"\[(\d{1,3})\]", marker, esc(text))


def render_body(answer: Answer) -> str:
    """The direct answer first (bold), then the rest of the text with its quotes."""
    cited = sorted({c.n for c in answer.citations})
    text, direct = answer.text.strip(), (answer.direct or "").strip()
    out = lambda s: render_text(s, answer.language, cited)  # noqa: E731
    if direct and text.startswith(direct):
        return f'<p class="rag-text"><strong class="rag-direct">{out(direct)}</strong>{out(text[len(direct):])}</p>'
    lead = f'<p class="rag-direct">{out(direct)}</p>' if direct else ""
    return f'{lead}<p class="rag-text">{out(text)}</p>'


def render_citations(answer: Answer, documents: dict | None = None) -> str:
    """One <details> per [n]: where it stands and the quote; opened, the passage with the quote marked."""
    if answer.refused or not answer.citations:
        return ""
    lab = fmt.labels(answer.language)
    seen, items = set(), []
    for cit in sorted(answer.citations, key=lambda c: c.n):
        if cit.n in seen:
            continue
        seen.add(cit.n)
        start, end = evidence(cit)
        quote = cit.chunk.text[start:end] if end > start else cit.quote.strip()
        items.append(
            f'<details class="rag-cite rag-cite-{cit.n}"><summary><span class="rag-n">[{cit.n}]</span>'
            f'<span class="rag-where">{esc(fmt.where(cit, answer.language, documents))}</span>'
            f'<span class="rag-quote">„{esc(quote)}“</span></summary>'
            f'<div class="rag-passage">{highlight(cit.chunk.text, [(start, end)])}</div></details>')
    return (f'<div class="rag-sources"><div class="rag-sources-title">{esc(lab["sources"])}</div>'
            + "".join(items) + "</div>")


def render_meta(answer: Answer) -> str:
    """Time taken, what produced the text, the copy button and (on a phone) a link to the passages."""
    lab = _labels(answer.language)
    parts = []
    total = (answer.timings or {}).get("total")
    if isinstance(total, (int, float)):
        parts.append(f"<span>{icon('clock')} {total:.1f} s</span>")
    if not answer.refused and answer.mode in lab["modes"]:
        parts.append(f'<span>{lab["modes"][answer.mode]}</span>')
    parts.append(f'<button class="rag-copy" type="button" title="{esc(lab["copy_title"])}">'
                 f'<span class="rag-todo">{lab["copy"]}</span><span class="rag-done">{lab["copied"]}</span></button>')
    if answer.hits or answer.citations:  # what the side panel lists
        parts.append(f'<a class="rag-to-passages" href="#rag-passages-box">{lab["passages"]} ↓</a>')
    return f'<div class="rag-meta">{"".join(parts)}</div>'


def render_answer(answer: Answer, documents: dict | None = None) -> str:
    """The whole assistant message for a final Answer; its plain-text form rides along, hidden, for copying."""
    plain = f'<div class="rag-plain" hidden>{esc(fmt.plain_text(answer, documents))}</div>'
    if answer.refused:
        lab = _labels(answer.language)
        return (f'<div class="rag-answer rag-refused"><div class="rag-refusal" role="note">'
                f'<p class="rag-refusal-title">{icon("info")} {lab["refusal"]}</p>'
                f'<p class="rag-text">{esc(answer.text)}</p></div>{render_meta(answer)}{plain}</div>')
    return (f'<div class="rag-answer">{render_body(answer)}{render_meta(answer)}'
            f'{render_citations(answer, documents)}{plain}</div>')


def render_streaming(text: str) -> str:
    """An answer while it is being written."""
    return f'<div class="rag-answer rag-streaming"><p class="rag-text rag-cursor">{render_text(text)}</p></div>'


def render_pending() -> str:
    return ('<div class="rag-busy" role="status"><span class="rag-spinner"></span>'
            'Searching the paper… / Suche im Dokument…</div>')


def render_error(err: BaseException) -> str:
    """A friendly note for a failed question; never a stack trace."""
    if isinstance(err, InputError):
        title, detail = "Please check your question", str(err)
    elif isinstance(err, RagError):
        title, detail = "The assistant could not answer", str(err)
    else:
        title, detail = "Sorry, something went wrong", "The details were written to the server log. Please try again."
    detail = detail[:1].upper() + detail[1:]
    return (f'<div class="rag-error" role="alert"><p class="rag-error-title">{icon("warn")} {esc(title)}</p>'
            f'<p>{esc(detail)}</p></div>')


def _first_words(text: str, n: int = 12) -> str:
    words = text.split()
    return " ".join(words[:n]) + (" …" if len(words) > n else "")


def _hit_ranges(hit: Hit, answer: Answer) -> list[tuple[int, int]]:
    """What to mark in a retrieved passage: its cited quotes, else its best-matching spans."""
    cited = [evidence(c) for c in answer.citations if c.chunk.chunk_id == hit.chunk.chunk_id]
    return cited or [without_headings(hit.chunk, s.start, s.end) for s in hit.spans]


def render_passages(answer: Answer | None) -> str:
    """The side panel: the passages found for the latest question, best first, told apart by page,
    section and first words; the cited ones marked. After a refusal it says the question was not answered."""
    if answer is None:
        return '<p class="rag-empty">The passages found for the latest question appear here.</p>'
    asked = f"„{esc(_first_words(answer.question, 20))}“"
    cited: dict[str, list[int]] = {}
    for cit in answer.citations:
        cited.setdefault(cit.chunk.chunk_id, []).append(cit.n)
    found = {hit.chunk.chunk_id for hit in answer.hits}
    unlisted = {c.chunk.chunk_id: Hit(c.chunk, 0.0) for c in answer.citations if c.chunk.chunk_id not in found}
    hits = [*unlisted.values(), *answer.hits]  # a cited passage is listed even if retrieval did not return it
    if answer.refused:
        note = (f'<p class="rag-panel-note rag-not-answered">Your last question, {asked}, was not answered: '
                f'the paper does not say. {"The closest passages, for checking:" if hits else ""}</p>')
    else:
        note = f'<p class="rag-panel-note">Passages for {asked}, best first; the cited ones are marked:</p>'
    if not hits:
        return note + '<p class="rag-empty">No passages were found for this question.</p>'
    page = fmt.labels(answer.language)["page"]
    items = []
    for rank, hit in enumerate(hits, 1):
        chunk, ranges = hit.chunk, _hit_ranges(hit, answer)
        section = chunk.heading[-1] if chunk.heading else chunk.section.rsplit(" > ", 1)[-1]
        where = " · ".join(x for x in (f"{page} {chunk.page}" if chunk.page else "", section) if x)
        start, end = ranges[0] if ranges else without_headings(chunk, 0, len(chunk.text))
        ns = sorted(set(cited.get(chunk.chunk_id, [])))
        badge = f'<span class="rag-cited">cited {" ".join(f"[{n}]" for n in ns)}</span>' if ns else ""
        items.append(
            f'<details class="rag-hit"><summary><span class="rag-rank">{rank}.</span>'
            f'<span class="rag-where">{esc(where)}</span>{badge}'
            f'<span class="rag-first">{esc(_first_words(chunk.text[start:end] or chunk.text))}</span></summary>'
            f'<div class="rag-passage">{highlight(chunk.text, ranges)}</div></details>')
    return note + "".join(items)


def render_header(documents: Sequence[Document] | None) -> str:
    """Which document is loaded, and that everything runs locally."""
    if documents is None:
        docs = '<p class="rag-doc rag-empty">Loading the document…</p>'
    elif not documents:
        docs = '<p class="rag-doc rag-empty">No document is loaded.</p>'
    else:
        docs = "".join(_render_document(d) for d in documents)
    return (f'<div class="rag-header"><h1>Ask the parliamentary paper</h1>{docs}'
            f'<p class="rag-local">{icon("lock")} Everything runs locally on this computer — no question or '
            'document leaves it. Ask in German or English; answers cite the passages they come from.</p></div>')


def _render_document(doc: Document) -> str:
    meta = doc.metadata if isinstance(doc.metadata, dict) else {}
    get = lambda key: str(meta.get(key) or "").strip()  # noqa: E731
    ident = f"Drucksache {get('drucksache')}" if get("drucksache") else doc.doc_id
    parts = [f'<span class="rag-doc-id">{esc(ident)}</span>']
    if get("title"):
        parts.append(f"„{esc(get('title'))}“")
    by = get("asker") + (f" ({get('party')})" if get("party") else "")
    details = [x for x in (f"Kleine Anfrage: {by}" if by.strip() else "", get("date"),
                           f"Wahlperiode {get('wahlperiode')}" if get("wahlperiode") else "") if x]
    if details:
        parts.append(f'<span class="rag-hit-meta">{esc(" · ".join(details))}</span>')
    return f'<p class="rag-doc">{icon("doc")} {" — ".join(parts)}</p>'


# -- the window ----------------------------------------------------------------------------------------

def _log_exception(exc: BaseException) -> None:
    print("ui: error while answering:", file=sys.stderr)
    traceback.print_exception(exc, file=sys.stderr)


def create_app(service) -> gr.Blocks:
    """The chat window over ``service`` (ask_stream() and documents() are used). Launches nothing."""

    def documents():
        try:
            return service.documents()
        except Exception as exc:  # the window must open even when the index cannot load
            _log_exception(exc)
            return exc

    def header():
        docs = documents()
        return render_header([]) + render_error(docs) if isinstance(docs, Exception) else render_header(docs)

    def respond(question, messages, history):
        """One turn: the question and a busy note, the streamed text, then the final answer or an error."""
        messages, history = list(messages or []), [list(turn) for turn in history or []]
        question = question or ""
        if question.strip():
            messages.append({"role": "user", "content": question.strip()})
        messages.append({"role": "assistant", "content": render_pending()})
        busy, keep = gr.update(interactive=False), gr.update()
        yield [*messages], [*history], gr.update(value="", interactive=False), keep, busy
        streamed, final = "", None
        try:
            for item in service.ask_stream(question, [list(turn) for turn in history]):
                if isinstance(item, Answer):  # the verified answer replaces what was streamed
                    final = item
                    docs = documents()
                    meta = {} if isinstance(docs, Exception) else _doc_meta(docs)
                    messages[-1] = {"role": "assistant", "content": render_answer(item, meta)}
                    history.append([question.strip(), item.text])
                    yield [*messages], [*history], keep, render_passages(item), keep
                else:
                    streamed += str(item)
                    messages[-1] = {"role": "assistant", "content": render_streaming(streamed)}
                    yield [*messages], [*history], keep, keep, keep
            if final is None:
                raise RagError("no answer was produced")
        except Exception as exc:
            if not isinstance(exc, RagError):
                _log_exception(exc)
            messages[-1] = {"role": "assistant", "content": render_error(exc)}
        ready = gr.update(interactive=True)
        yield [*messages], [*history], ready, keep, ready

    with gr.Blocks(title="Drucksache Q&A — offline", analytics_enabled=False) as app:
        # a <style> inside the Blocks survives gr.mount_gradio_app() (gradio 6 takes css only at launch);
        # its js_on_load installs the window's behaviour once per page
        gr.HTML(f"<style>{CSS}</style>", elem_id="rag-style", padding=False, js_on_load=JS)
        head = gr.HTML(render_header(None), elem_id="rag-header", js_on_load=None)
        history = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chat = gr.Chatbot(label="Conversation", show_label=False, elem_id="rag-chat", height="68vh",
                                  min_height=360, render_markdown=False, latex_delimiters=[], feedback_options=None,
                                  group_consecutive_messages=False, buttons=[], autoscroll=False,
                                  placeholder="Ask a question about the paper, or pick an example below. / "
                                  "Stellen Sie eine Frage zum Dokument.")
                with gr.Row(equal_height=True):
                    box = gr.Textbox(show_label=False, elem_id="rag-question", scale=5, min_width=180, lines=1,
                                     max_lines=4, autofocus=True,
                                     placeholder="Your question (German or English) / Ihre Frage …")
                    send = gr.Button("Ask", variant="primary", elem_id="rag-send", scale=1, min_width=70)
                with gr.Row(elem_classes="rag-examples"):
                    examples = [gr.Button(q, size="sm", elem_classes="rag-example") for q in EXAMPLES]
                clear = gr.Button("New conversation", size="sm", elem_id="rag-clear")
            with gr.Column(scale=2, min_width=280):
                with gr.Accordion("Passages for the latest question", open=True, elem_id="rag-passages-box"):
                    passages = gr.HTML(render_passages(None), elem_id="rag-passages", js_on_load=None)

        outputs = [chat, history, box, passages, send]
        ask = dict(fn=respond, inputs=[box, chat, history], outputs=outputs, concurrency_id="ask",
                   concurrency_limit=1, show_progress="hidden")
        asking = [box.submit(**ask), send.click(**ask)]
        for button, question in zip(examples, EXAMPLES):
            asking.append(button.click(lambda q=question: q, outputs=box, queue=False).then(**ask))

        def reset():
            ready = gr.update(interactive=True)
            return [], [], gr.update(value="", interactive=True), render_passages(None), ready

        clear.click(reset, outputs=outputs, cancels=asking, queue=False)
        chat.clear(reset, outputs=outputs, cancels=asking, queue=False)  # the chat's own bin icon
        app.load(header, outputs=head)
    return app


def launch(service=None, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat window alone (the `rag serve` command serves it together with the HTTP API)."""
    if service is None:
        from rag.config import Settings
        from rag.pipeline import Pipeline

        service = Pipeline(Settings.from_env())
        service.warm_up()  # load the models before the first visitor asks
    app = create_app(service)
    app.queue(default_concurrency_limit=1)
    theme = gr.themes.Default(font=list(_SYSTEM_FONTS), font_mono=list(_MONO_FONTS))
    app.launch(server_name=host, server_port=port, share=False, theme=theme, show_error=False,
               footer_links=["api", "settings"])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description="The offline chat window over the parliamentary paper.")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=7860)
    args = p.parse_args(argv)
    launch(host=args.host, port=args.port)


if __name__ == "__main__":
    main()
