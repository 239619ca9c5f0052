"""One citation formatter for every front end (CLI, REST, OpenAI-compatible API, chat window).

Labels follow the answer's language ("S." / "p.", "Quellen" / "Sources"); the wording lives in
``prompts/labels.json``.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

from .types import Answer, Citation

PROMPTS = Path(__file__).parent / "prompts"


@lru_cache(maxsize=None)
def labels(language: str) -> dict:
    table = json.loads((PROMPTS / "labels.json").read_text(encoding="utf-8"))
    return table.get(language, table["en"])


def document_name(citation: Citation, documents: dict | None = None) -> str:
    """ "Drucksache 7/844" when the document's number is known, else its id."""
    meta = (documents or {}).get(citation.chunk.doc_id, {})
    number = meta.get("drucksache") if isinstance(meta, dict) else None
    return f"Drucksache {number}" if number else citation.chunk.doc_id


def page(number: int, language: str) -> str:
    """ "S. 3" for German, "p. 3" for English."""
    return f"{labels(language)['page']} {number}"


def where(citation: Citation, language: str, documents: dict | None = None) -> str:
    """ "Drucksache 7/844, p. 2, Antwort zu Fragen 1 und 2 > Wirtschaft" (page label in the answer's language)."""
    parts = [document_name(citation, documents), page(citation.chunk.page, language)]
    if citation.chunk.section:
        parts.append(citation.chunk.section)
    return ", ".join(parts)


def flat(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def source_line(citation: Citation, language: str, documents: dict | None = None, quote: bool = True) -> str:
    """ "[1] Drucksache 7/844, p. 2, section: „quote“" with the quote's line structure flattened;
    without the quote when ``quote`` is false."""
    head = f"[{citation.n}] {where(citation, language, documents)}"
    return f"{head}: „{flat(citation.quote)}“" if quote else head


def sources_block(answer: Answer, documents: dict | None = None, repeat_quotes: bool = True) -> str:
    """The sources under an answer as plain text; "" for a refusal. With ``repeat_quotes`` false, a
    quote the answer text already holds word for word is not repeated (only where it is from)."""
    if not answer.citations:
        return ""
    said = flat(answer.text)
    lines = [source_line(c, answer.language, documents, quote=repeat_quotes or flat(c.quote) not in said)
             for c in answer.citations]
    return f"{labels(answer.language)['sources']}:\n" + "\n".join(lines)


def plain_text(answer: Answer, documents: dict | None = None, repeat_quotes: bool = True) -> str:
    """The answer as plain text followed by its sources (what a copy button should copy)."""
    block = sources_block(answer, documents, repeat_quotes)
    return f"{answer.text}\n\n{block}" if block else answer.text
