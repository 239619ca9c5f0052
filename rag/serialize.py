"""The JSON contract shared by the CLI, the HTTP API and the evaluation."""
from __future__ import annotations

from . import format as fmt
from .types import Answer, Citation, Hit


def hit_to_dict(hit: Hit) -> dict:
    c = hit.chunk
    return {
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "page": c.page,
        "section": c.section,
        "text": c.text,
        "sentences": list(hit.sentences),
        "score": round(float(hit.score), 6),
    }


def citation_to_dict(cit: Citation, language: str | None = None, documents: dict | None = None) -> dict:
    """With ``language``, also "label": where the quote is from, as every front end words it
    ("Drucksache 7/844, S. 2, section" for a German answer, "p. 2" for an English one)."""
    c = cit.chunk
    out = {
        "n": cit.n,
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "page": c.page,
        "section": c.section,
        "quote": cit.quote,
        "text": c.text,
    }
    if language:
        out["label"] = fmt.where(cit, language, documents)
    return out


def answer_to_dict(answer: Answer, documents: dict | None = None) -> dict:
    """``documents`` ({doc_id: metadata}) names the papers in the citation labels."""
    return {
        "answer": answer.text,
        "direct": answer.direct,
        "language": answer.language,
        "refused": answer.refused,
        "citations": [citation_to_dict(c, answer.language, documents) for c in answer.citations],
        "timings": {k: round(float(v), 4) for k, v in answer.timings.items()},
    }
