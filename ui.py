"""The chat window: a thin Gradio layer over rag.pipeline.Pipeline.

``create_app(pipeline)`` builds the Blocks (it launches nothing, so the HTTP server can mount it);
``launch()`` serves it on its own. Everything shown is rendered by the small pure ``render_*``
functions below; every string from the document or the model is HTML-escaped there.
"""
from __future__ import annotations

import argparse
import html
import re
import sys
import traceback
from typing import Iterable, Sequence

import gradio as gr

from rag.errors import InputError, RagError
from rag.types import Answer, Document

EXAMPLES = (
    "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?",
    "Which universities in Wismar have partnerships in Kazakhstan?",
    "Wann besuchte der Botschafter das Museum in Peenemünde?",
    "What is the ambassador's name?",
)

_SYSTEM_FONTS = ("system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "Noto Sans",
                 "Liberation Sans", "sans-serif")
_MONO_FONTS = ("ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "Liberation Mono", "monospace")

# Labels inside an answer follow the answer's language; the window's own chrome is English.
_LABELS = {
    "de": {"sources": "Quellen", "page": "S.", "refusal": "Nicht im Dokument",
           "modes": {"generated": "Modellantwort, am Text geprüft", "extractive": "wörtlich aus dem Dokument"}},
    "en": {"sources": "Sources", "page": "p.", "refusal": "Not in the paper",
           "modes": {"generated": "model answer, checked against the text", "extractive": "quoted from the paper"}},
}

def _font_list(names) -> str:
    return ", ".join(f'"{n}"' if " " in n else n for n in names)


# Delivered as a <style> element inside the Blocks, so the look survives gr.mount_gradio_app()
# (gradio 6 takes css/theme only at launch or mount time). It also swaps the theme's web font
# for system fonts, so nothing but the app itself is loaded.
CSS = (f":root, :root.dark, :root .dark {{ --font: {_font_list(_SYSTEM_FONTS)}; "
       f"--font-mono: {_font_list(_MONO_FONTS)}; }}") + """
#rag-style { display: none; }
svg.rag-icon { display: inline-block !important; flex: none; vertical-align: -0.15em; overflow: visible;
               margin: 0 !important; position: static !important; }
.rag-header { padding: 4px 2px 0; }
#rag-header .rag-header h1 { font-size: 1.4rem; margin: 0 0 4px; }
.rag-header .rag-doc { margin: 2px 0; line-height: 1.4; }
.rag-header .rag-doc-id { font-weight: 600; }
.rag-header .rag-local { margin: 6px 0 0; font-size: .9em; opacity: .8; }
.rag-answer { line-height: 1.5; }
.rag-answer .rag-text { white-space: pre-line; margin: 0 0 6px; }
.rag-ref { font-size: .75em; font-weight: 600; color: var(--color-accent); vertical-align: super;
           line-height: 0; margin-left: 1px; }
.rag-meta { font-size: .8em; opacity: .7; margin: 2px 0 6px; }
.rag-sources-title { font-size: .8em; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
                     opacity: .75; margin: 10px 0 4px; }
details.rag-cite, details.rag-hit { border: 1px solid var(--border-color-primary); border-radius: 8px;
                   margin: 4px 0; background: var(--background-fill-secondary); overflow-wrap: anywhere; }
details.rag-cite > summary, details.rag-hit > summary { cursor: pointer; padding: 6px 10px;
                   list-style-position: inside; }
details.rag-cite[open] > summary, details.rag-hit[open] > summary {
                   border-bottom: 1px solid var(--border-color-primary); }
.rag-n { font-weight: 700; color: var(--color-accent); margin-right: 4px; }
.rag-where { font-weight: 600; }
.rag-quote { display: block; font-size: .88em; opacity: .8; margin-top: 2px; overflow: hidden;
             display: -webkit-box; -webkit-line-clamp: 2; -webkit-box-orient: vertical; }
.rag-passage { white-space: pre-line; padding: 8px 10px; font-size: .92em; line-height: 1.5; }
.rag-passage mark { background: #ffe58a; color: #1f1f1f; padding: 0 1px; border-radius: 2px; }
.rag-refusal { border-left: 4px solid #d98e04; background: rgba(217, 142, 4, .10); border-radius: 6px;
               padding: 8px 12px; }
.rag-refusal .rag-refusal-title { font-weight: 700; margin: 0 0 2px; }
.rag-refusal .rag-text { margin: 0; }
.rag-error { border-left: 4px solid #c0392b; background: rgba(192, 57, 43, .10); border-radius: 6px;
             padding: 8px 12px; }
.rag-error .rag-error-title { font-weight: 700; margin: 0 0 2px; }
.rag-busy { display: flex; align-items: center; gap: 8px; opacity: .8; font-style: italic; }
.rag-spinner { width: 14px; height: 14px; border: 2px solid var(--border-color-primary);
               border-top-color: var(--color-accent); border-radius: 50%; animation: rag-spin .8s linear infinite;
               flex: none; }
.rag-cursor::after { content: "▍"; animation: rag-blink 1s step-start infinite; opacity: .6; }
@keyframes rag-spin { to { transform: rotate(360deg); } }
@keyframes rag-blink { 50% { opacity: 0; } }
.rag-hit-meta { font-size: .85em; opacity: .75; }
details.rag-hit .rag-where { font-weight: 400; }
details.rag-hit > summary { font-size: .92em; }
.rag-cited { font-size: .75em; font-weight: 600; color: var(--color-accent); margin-left: 4px; }
.rag-empty { opacity: .7; font-style: italic; }
.rag-examples { gap: 6px !important; flex-wrap: wrap !important; }
.rag-examples button { flex: 1 1 220px !important; white-space: normal !important; text-align: left;
                       justify-content: flex-start !important; min-height: 2.2em; }
@media (max-width: 640px) {
  #rag-header .rag-header h1 { font-size: 1.15rem; }
  .rag-examples button { flex-basis: 100% !important; }
  details.rag-cite .rag-where { font-weight: 500; font-size: .92em; }
}
"""


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
    # The chat's sanitiser drops viewBox, so the 24-unit drawing is scaled by a transform instead
    # (the viewBox, where it survives, maps 1:1 and changes nothing).
    return (f'<svg class="rag-icon" viewBox="0 0 {size} {size}" width="{size}" height="{size}" fill="none" '
            f'stroke="currentColor" stroke-width="2" stroke-linecap="round" stroke-linejoin="round" '
            f'aria-hidden="true"><g transform="scale({size / 24:.4f})">{_ICONS[name]}</g></svg>')


def esc(value) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def _labels(language: str) -> dict:
    return _LABELS.get(language, _LABELS["en"])


def _spans(text: str, needle: str) -> tuple[int, int] | None:
    """Where needle occurs in text: verbatim first, else ignoring differences in whitespace."""
    needle = needle.strip()
    if not needle:
        return None
    i = text.find(needle)
    if i >= 0:
        return i, i + len(needle)
    words = needle.split()
    m = re.search(r"\s+".join(re.escape(w) for w in words), text)
    return (m.start(), m.end()) if m else None


def highlight(text: str, needles: Iterable[str]) -> str:
    """``text`` HTML-escaped, with each needle's first occurrence wrapped in <mark>."""
    spans = sorted(s for s in (_spans(text, n) for n in needles if n) if s)
    merged: list[list[int]] = []
    for start, end in spans:
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


def render_text(text: str) -> str:
    """Answer text, escaped, with the [n] markers styled as references."""
    return re.sub(r"\[(\d{1,3})\]", r'<span class="rag-ref">[\1]</span>', esc(text))


def _where(chunk, page_label: str) -> str:
    parts = [f"{page_label} {esc(chunk.page)}"] if chunk.page else []
    if chunk.section:
        parts.append(esc(chunk.section))
    return " · ".join(parts)


def render_citations(answer: Answer) -> str:
    """One <details> per [n]: page and section; opening it shows the passage with the quote marked."""
    if answer.refused or not answer.citations:
        return ""
    labels = _labels(answer.language)
    seen, items = set(), []
    for cit in sorted(answer.citations, key=lambda c: c.n):
        if cit.n in seen:
            continue
        seen.add(cit.n)
        quote = f'<span class="rag-quote">„{esc(cit.quote)}“</span>' if cit.quote else ""
        items.append(
            f'<details class="rag-cite" data-n="{esc(cit.n)}"><summary><span class="rag-n">[{esc(cit.n)}]</span>'
            f'<span class="rag-where">{_where(cit.chunk, labels["page"])}</span>{quote}</summary>'
            f'<div class="rag-passage">{highlight(cit.chunk.text, [cit.quote])}</div></details>')
    return (f'<div class="rag-sources"><div class="rag-sources-title">{labels["sources"]}</div>'
            + "".join(items) + "</div>")


def render_meta(answer: Answer) -> str:
    labels = _labels(answer.language)
    parts = []
    total = (answer.timings or {}).get("total")
    if isinstance(total, (int, float)):
        parts.append(f"{icon('clock')} {total:.1f} s")
    if not answer.refused and answer.mode in labels["modes"]:
        parts.append(labels["modes"][answer.mode])
    return f'<div class="rag-meta">{" · ".join(parts)}</div>' if parts else ""


def render_answer(answer: Answer) -> str:
    """The whole assistant message for a final Answer: text with [n], time, citations; or a refusal note."""
    if answer.refused:
        labels = _labels(answer.language)
        return (f'<div class="rag-answer rag-refusal" role="note"><p class="rag-refusal-title">{icon("info")} '
                f'{labels["refusal"]}</p><p class="rag-text">{esc(answer.text)}</p></div>{render_meta(answer)}')
    return (f'<div class="rag-answer"><p class="rag-text">{render_text(answer.text)}</p>{render_meta(answer)}'
            f'{render_citations(answer)}</div>')


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


def render_passages(answer: Answer | None) -> str:
    """The side panel: every retrieved passage, the cited ones marked, best sentences highlighted."""
    if answer is None:
        return '<p class="rag-empty">The passages used for the latest answer appear here.</p>'
    if not answer.hits:
        return '<p class="rag-empty">No passages were found for this question.</p>'
    labels = _labels(answer.language)
    cited: dict[str, list[int]] = {}
    for cit in answer.citations:
        cited.setdefault(cit.chunk.chunk_id, []).append(cit.n)
    items = ['<p class="rag-empty">The closest passages; none of them answers the question.</p>'] \
        if answer.refused else []
    for i, hit in enumerate(answer.hits, 1):
        ns = sorted(set(cited.get(hit.chunk.chunk_id, [])))
        badge = f'<span class="rag-cited">cited {" ".join(f"[{n}]" for n in ns)}</span>' if ns else ""
        needles = [c.quote for c in answer.citations if c.chunk.chunk_id == hit.chunk.chunk_id] or hit.sentences
        items.append(
            f'<details class="rag-hit"><summary><span class="rag-where">{i}. {_where(hit.chunk, labels["page"])}'
            f'</span>{badge} <span class="rag-hit-meta">score {hit.score:.3f}</span></summary>'
            f'<div class="rag-passage">{highlight(hit.chunk.text, needles)}</div></details>')
    return "".join(items)


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


def create_app(pipeline) -> gr.Blocks:
    """The chat window over ``pipeline`` (anything with ask_stream() and documents()). Launches nothing."""

    def header():
        try:
            return render_header(pipeline.documents())
        except Exception as exc:  # the window must open even when the index cannot load
            _log_exception(exc)
            return render_header([]) + render_error(exc)

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
            for item in pipeline.ask_stream(question, [list(turn) for turn in history]):
                if isinstance(item, Answer):  # the verified answer replaces what was streamed
                    final = item
                    messages[-1] = {"role": "assistant", "content": render_answer(item)}
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
        gr.HTML(f"<style>{CSS}</style>", elem_id="rag-style", padding=False)
        head = gr.HTML(render_header(None), elem_id="rag-header")
        history = gr.State([])
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=320):
                chat = gr.Chatbot(label="Conversation", show_label=False, elem_id="rag-chat", height="68vh",
                                  min_height=360, render_markdown=False, latex_delimiters=[], feedback_options=None,
                                  group_consecutive_messages=False, buttons=["copy"],
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
                with gr.Accordion("Passages used for the latest answer", open=True, elem_id="rag-passages-box"):
                    passages = gr.HTML(render_passages(None), elem_id="rag-passages")

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


def launch(pipeline=None, host: str = "127.0.0.1", port: int = 7860) -> None:
    """Serve the chat window alone (the `rag serve` command serves it together with the HTTP API)."""
    if pipeline is None:
        from rag.config import Settings
        from rag.pipeline import Pipeline

        pipeline = Pipeline(Settings.from_env())
    pipeline.warm_up()  # load the models before the first visitor asks
    app = create_app(pipeline)
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
