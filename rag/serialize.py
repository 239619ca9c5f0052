"""The JSON contract shared by the CLI, the HTTP API and the evaluation."""
from __future__ import annotations

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


def citation_to_dict(cit: Citation) -> dict:
    c = cit.chunk
    return {
        "n": cit.n,
        "chunk_id": c.chunk_id,
        "doc_id": c.doc_id,
        "page": c.page,
        "section": c.section,
        "quote": cit.quote,
        "text": c.text,
    }


def answer_to_dict(answer: Answer) -> dict:
    return {
        "answer": answer.text,
        "language": answer.language,
        "refused": answer.refused,
        "citations": [citation_to_dict(c) for c in answer.citations],
        "timings": {k: round(float(v), 4) for k, v in answer.timings.items()},
    }
