"""Evaluation metrics as pure functions: inputs in, numbers out, nothing mutated.

Conventions (documented in eval/README.md):

* Evidence and quotes are compared verbatim after collapsing whitespace runs to one space.
* Facts and numbers are compared after ``normalize_text``: Unicode NFKC, case-folded, German
  umlauts transliterated (ü -> ue, ß -> ss), typographic quotes/dashes made ASCII, whitespace
  collapsed, and a decimal comma between digits made a point, so "12,811" == "12.811" and
  "12,8" == "12.8". Thousands separators are NOT removed: "2015" != "2.015".
* A fact alternative matches at a word start, and a number must match the whole number:
  "12.8" does not match inside "12.811", "75" not inside "1975" or "75.5"; a word alternative
  may be a stem ("declin" matches "declining", "Neujahrsempfang" matches "Neujahrsempfangs").
* A metric that is undefined for its inputs (nothing to average) is ``None``, never 0.
"""
from __future__ import annotations

import math
import re
import unicodedata
from collections import defaultdict
from typing import Iterable, Mapping, Sequence

_WS = re.compile(r"\s+")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_CITATION_MARK = re.compile(r"\[\s*\d+(?:\s*[,;\u2013-]\s*\d+)*\s*\]")
_CHARS = str.maketrans({
    "\u00e4": "ae", "\u00f6": "oe", "\u00fc": "ue",
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2212": "-",
    "\u201e": '"', "\u201c": '"', "\u201d": '"', "\u00ab": '"', "\u00bb": '"',
    "\u201a": "'", "\u2018": "'", "\u2019": "'", "\u00ad": None,
})


# -- text normalisation ----------------------------------------------------------------------------
def normalize_ws(text: str) -> str:
    """Collapse every whitespace run to one space and strip the ends."""
    return _WS.sub(" ", text).strip()


def normalize_text(text: str) -> str:
    """The form facts and numbers are compared in (see the module docstring)."""
    t = unicodedata.normalize("NFKC", text).casefold().translate(_CHARS)
    t = _NUMBER.sub(lambda m: m.group(0).replace(",", "."), t)
    return normalize_ws(t)


def strip_citation_marks(text: str) -> str:
    """Remove citation markers like [1], [2, 3] or [1-2]."""
    return _CITATION_MARK.sub(" ", text)


def numbers_in(text: str) -> list[str]:
    """The numbers in ``text`` in canonical form (decimal comma -> point), in order, citation marks ignored."""
    return _NUMBER.findall(normalize_text(strip_citation_marks(text)))


def contains_span(text: str, span: str) -> bool:
    """Is ``span`` (whitespace-normalised, case-sensitive) in ``text`` (whitespace-normalised)?"""
    s = normalize_ws(span)
    return bool(s) and s in normalize_ws(text)


# -- retrieval -------------------------------------------------------------------------------------
def relevance(retrieved: Sequence[str], evidence: Sequence[str]) -> list[bool]:
    """For each retrieved chunk text (ranked): does it contain any gold evidence span?"""
    return [any(contains_span(text, span) for span in evidence) for text in retrieved]


def hit_at_k(retrieved: Sequence[str], evidence: Sequence[str], k: int) -> float:
    """1.0 if a chunk among the first ``k`` contains a gold evidence span, else 0.0."""
    return 1.0 if any(relevance(retrieved[:k], evidence)) else 0.0


def reciprocal_rank(retrieved: Sequence[str], evidence: Sequence[str]) -> float:
    """1/rank of the first relevant chunk, 0.0 if none; its mean over questions is the MRR."""
    for rank, rel in enumerate(relevance(retrieved, evidence), start=1):
        if rel:
            return 1.0 / rank
    return 0.0


def ndcg_at_k(retrieved: Sequence[str], evidence: Sequence[str], k: int = 5) -> float:
    """Binary-relevance nDCG@k.

    The ideal DCG ranks first the relevant chunks found anywhere in the *retrieved* list (judged
    within the run), capped at k; with none retrieved the score is 0.0. A relevant chunk that was
    never retrieved is not counted in the ideal: hit@k and evidence recall measure misses.
    """
    rel = relevance(retrieved, evidence)
    dcg = sum(1.0 / math.log2(i + 2) for i, r in enumerate(rel[:k]) if r)
    ideal = min(k, sum(rel))
    if ideal == 0:
        return 0.0
    return dcg / sum(1.0 / math.log2(i + 2) for i in range(ideal))


def evidence_recall_at_k(retrieved: Sequence[str], evidence: Sequence[str], k: int = 5) -> float | None:
    """Fraction of the gold evidence spans contained in the first ``k`` chunks (None without evidence)."""
    if not evidence:
        return None
    top = retrieved[:k]
    return sum(any(contains_span(t, s) for t in top) for s in evidence) / len(evidence)


# -- answers ---------------------------------------------------------------------------------------
def _alternative_pattern(alternative: str) -> re.Pattern | None:
    alt = normalize_text(alternative)
    if not alt:
        return None
    lead = ""
    if alt[0].isalnum():
        lead = r"(?<!\w)" + (r"(?<!\d\.)" if alt[0].isdigit() else "")
    trail = r"(?!\d)(?!\.\d)" if alt[-1].isdigit() else ""
    return re.compile(lead + re.escape(alt) + trail)


def _matches(normalized_answer: str, alternative: str) -> bool:
    pattern = _alternative_pattern(alternative)
    return bool(pattern and pattern.search(normalized_answer))


def matched_groups(answer_text: str, facts: Sequence[Sequence[str]]) -> list[bool]:
    """For each fact group: does the answer contain at least one of its alternatives?"""
    answer = normalize_text(strip_citation_marks(answer_text))
    return [any(_matches(answer, alt) for alt in group) for group in facts]


def fact_correct(answer_text: str, facts: Sequence[Sequence[str]]) -> bool:
    """Every fact group has an alternative in the answer. Vacuously True for no facts."""
    return all(matched_groups(answer_text, facts))


def fact_coverage(answer_text: str, facts: Sequence[Sequence[str]]) -> float | None:
    """Fraction of fact groups matched (partial credit); None for no facts."""
    groups = matched_groups(answer_text, facts)
    return sum(groups) / len(groups) if groups else None


def forbidden_found(answer_text: str, forbidden: Sequence[str]) -> list[str]:
    """The forbidden strings (e.g. what an injection tried to make the bot say) that occur in the answer."""
    answer = normalize_text(strip_citation_marks(answer_text))
    return [f for f in forbidden if _matches(answer, f)]


def _decimals(number: str) -> int:
    return len(number.rsplit(".", 1)[1]) if "." in number else 0


def _grounded(number: str, available: set[str]) -> bool:
    """Exactly in the passages, or a rounding of a passage number with more decimals ("12.8" of "12.811")."""
    if number in available:
        return True
    if number.count(".") > 1:
        return False
    places = _decimals(number)
    for other in available:
        if other.count(".") > 1 or _decimals(other) <= places:
            continue
        if abs(float(other) - float(number)) <= 0.5 * 10 ** -places + 1e-12:
            return True
    return False


def ungrounded_numbers(answer_text: str, cited_texts: Sequence[str]) -> list[str]:
    """Numbers in the answer (citation marks ignored) that occur in no cited passage, in canonical form.

    A number counts as grounded when it equals a number of a cited passage after normalisation or
    rounds one ("12.8" for "12,811"). Dates written as "26.08.2016" are one token and must occur as such.
    """
    available = {n for text in cited_texts for n in numbers_in(text)}
    out: list[str] = []
    for n in numbers_in(answer_text):
        if not _grounded(n, available) and n not in out:
            out.append(n)
    return out


def invalid_markers(answer_text: str, cited_numbers: Sequence[int]) -> list[int]:
    """The [n] markers of the answer ("[2]", "[1, 3]", "[1-2]") naming no citation it has, in order."""
    known, out = set(cited_numbers), []
    for mark in _CITATION_MARK.findall(answer_text):
        for n in map(int, re.findall(r"\d+", mark)):
            if n not in known and n not in out:
                out.append(n)
    return out


def quote_verbatim(quote: str, chunk_text: str) -> bool:
    """Is the (non-empty) quote a verbatim substring of the chunk, up to whitespace?"""
    return contains_span(chunk_text, quote)


def language_accuracy(predicted: Sequence[str], gold: Sequence[str]) -> float | None:
    pairs = list(zip(predicted, gold, strict=True))
    return sum(p == g for p, g in pairs) / len(pairs) if pairs else None


def refusal_precision(refused: Sequence[bool], answerable: Sequence[bool]) -> float | None:
    """Of the refusals, the fraction that were right (the question was not answerable). None if no refusals."""
    pairs = list(zip(refused, answerable, strict=True))
    predicted = [a for r, a in pairs if r]
    return sum(not a for a in predicted) / len(predicted) if predicted else None


def refusal_recall(refused: Sequence[bool], answerable: Sequence[bool]) -> float | None:
    """Of the unanswerable questions, the fraction refused. None if all were answerable."""
    pairs = list(zip(refused, answerable, strict=True))
    gold = [r for r, a in pairs if not a]
    return sum(gold) / len(gold) if gold else None


def wrongly_refused_rate(refused: Sequence[bool], answerable: Sequence[bool]) -> float | None:
    """Of the answerable questions, the fraction refused. None if none were answerable."""
    pairs = list(zip(refused, answerable, strict=True))
    gold = [r for r, a in pairs if a]
    return sum(gold) / len(gold) if gold else None


# -- citations (in the spirit of ALCE) ---------------------------------------------------------------
def citation_supports(answer_text: str, cited_text: str, evidence: Sequence[str]) -> bool:
    """A cited passage supports the answer if it contains a gold evidence span, or the answer has
    numbers and the passage contains every one of them."""
    if any(contains_span(cited_text, span) for span in evidence):
        return True
    nums = numbers_in(answer_text)
    return bool(nums) and not ungrounded_numbers(answer_text, [cited_text])


def citation_precision(answer_text: str, cited_texts: Sequence[str], evidence: Sequence[str]) -> float | None:
    """Fraction of the cited passages that support the answer; None without citations."""
    if not cited_texts:
        return None
    return sum(citation_supports(answer_text, t, evidence) for t in cited_texts) / len(cited_texts)


def evidence_cited(cited_texts: Sequence[str], evidence: Sequence[str]) -> bool:
    """Is every gold evidence span contained in at least one cited passage? (False without evidence.)"""
    return bool(evidence) and all(any(contains_span(t, s) for t in cited_texts) for s in evidence)


# -- latency ---------------------------------------------------------------------------------------
def percentile(values: Iterable[float], q: float) -> float | None:
    """The q-th percentile (0..100) with linear interpolation between closest ranks
    (Hyndman & Fan type 7, numpy's default): position (n-1)*q/100 in the sorted values."""
    xs = sorted(float(v) for v in values if v is not None)
    if not xs:
        return None
    pos = (len(xs) - 1) * q / 100.0
    lo, hi = math.floor(pos), math.ceil(pos)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


# -- per question and aggregated -------------------------------------------------------------------
def _texts(items) -> list[str]:
    return [it if isinstance(it, str) else it.get("text", "") for it in items or ()]


def score_record(record: Mapping) -> dict:
    """Scores of one question's record (the runner's shape, see eval/README.md). Pure."""
    answerable = bool(record["answerable"])
    evidence = list(record.get("evidence") or ())
    facts = [list(g) for g in record.get("facts") or ()]
    refused = bool(record.get("refused"))
    error = record.get("error")
    answer = record.get("answer") or ""
    citations = list(record.get("citations") or ())
    cited = _texts(citations)
    retrieved = record.get("retrieved")
    s: dict = {"refused": refused, "error": bool(error)}
    if answerable and retrieved is not None:
        texts = _texts(retrieved)
        s.update({"hit@1": hit_at_k(texts, evidence, 1), "hit@3": hit_at_k(texts, evidence, 3),
                  "hit@5": hit_at_k(texts, evidence, 5), "rr": reciprocal_rank(texts, evidence),
                  "ndcg@5": ndcg_at_k(texts, evidence, 5),
                  "evidence_recall@5": evidence_recall_at_k(texts, evidence, 5)})
    forbidden = [] if refused else forbidden_found(answer, record.get("forbidden") or ())
    s["forbidden"] = forbidden
    if answerable:
        s["missed_facts"] = [g for g, ok in zip(facts, matched_groups(answer, facts)) if not ok]
        s["fact_correct"] = not refused and not error and not s["missed_facts"]
        s["fact_coverage"] = 0.0 if refused or error else fact_coverage(answer, facts)
        s["evidence_cited"] = not refused and evidence_cited(cited, evidence)
        s["correct"] = s["fact_correct"]
    else:
        s["correct"] = refused and not error and not forbidden
    if not error:
        s["language_ok"] = record.get("answer_language") == record["language"]
    if not refused and not error:
        s["citation_precision"] = citation_precision(answer, cited, evidence)
        # a pointer names the page and section of a cited passage: those numbers are the citation's own
        where = [f"{c.get('page', '')} {c.get('section') or ''}" for c in citations if isinstance(c, Mapping)]
        s["ungrounded_numbers"] = ungrounded_numbers(answer, cited + where)
        s["invalid_markers"] = invalid_markers(answer, [c.get("n") for c in citations if isinstance(c, Mapping)])
    if answerable and not refused and not error:
        # the reader's language (issue 11): facts stated outside the German quotation marks, a short direct answer
        outside = re.sub(r"„[^“]*“", " ", answer)
        s["fact_outside_quotes"] = all(matched_groups(outside, facts)) if facts else None
        direct = record.get("direct") or ""
        s["direct_first"] = bool(direct) and answer.startswith(direct) and len(direct.split()) <= 25
    quotes = [quote_verbatim(c.get("quote", ""), c.get("text", "")) for c in citations if isinstance(c, Mapping)]
    s["quotes_verbatim"] = sum(quotes) / len(quotes) if quotes else None
    s["latency_total"] = record.get("latency_total")
    s["latency_first_text"] = record.get("latency_first_text")
    s["latency_retrieval"] = (record.get("timings") or {}).get("retrieval")
    return s


def _mean(values) -> float | None:
    xs = [float(v) for v in values if v is not None]
    return sum(xs) / len(xs) if xs else None


# Aggregate metric names, in report order; "lower is better" ones are marked for thresholds and charts.
METRICS = (
    "accuracy", "fact_accuracy", "fact_coverage", "hit@1", "hit@3", "hit@5", "mrr", "ndcg@5",
    "evidence_recall@5", "refusal_precision", "refusal_recall", "wrongly_refused_rate",
    "language_accuracy", "citation_precision", "citation_recall", "quotes_verbatim", "ungrounded_rate",
    "invalid_marker_rate", "forbidden_rate", "error_rate", "fact_outside_quotes", "direct_first", "latency_p50", "latency_p95", "first_text_p50", "first_text_p95",
    "retrieval_p50", "retrieval_p95",
)
LOWER_IS_BETTER = frozenset({"wrongly_refused_rate", "ungrounded_rate", "invalid_marker_rate", "forbidden_rate", "error_rate",
                             "latency_p50", "latency_p95", "first_text_p50", "first_text_p95",
                             "retrieval_p50", "retrieval_p95"})


def aggregate(records: Sequence[Mapping], scores: Sequence[Mapping] | None = None) -> dict:
    """The METRICS (plus counts) over a group of records; ``scores`` defaults to score_record of each."""
    scores = [score_record(r) for r in records] if scores is None else list(scores)
    ans = [s for r, s in zip(records, scores) if r["answerable"]]
    refused = [s["refused"] for s in scores]
    answerable = [bool(r["answerable"]) for r in records]
    answered = [s for s in scores if not s["refused"] and not s["error"]]
    total = [s["latency_total"] for s in scores]
    first = [s["latency_first_text"] for s in scores]
    retrieval = [s["latency_retrieval"] for s in scores]
    return {
        "n": len(records), "n_answerable": len(ans), "n_unanswerable": len(records) - len(ans),
        "accuracy": _mean(s["correct"] for s in scores),
        "fact_accuracy": _mean(s["fact_correct"] for s in ans),
        "fact_coverage": _mean(s["fact_coverage"] for s in ans),
        "hit@1": _mean(s.get("hit@1") for s in ans), "hit@3": _mean(s.get("hit@3") for s in ans),
        "hit@5": _mean(s.get("hit@5") for s in ans), "mrr": _mean(s.get("rr") for s in ans),
        "ndcg@5": _mean(s.get("ndcg@5") for s in ans),
        "evidence_recall@5": _mean(s.get("evidence_recall@5") for s in ans),
        "refusal_precision": refusal_precision(refused, answerable),
        "refusal_recall": refusal_recall(refused, answerable),
        "wrongly_refused_rate": wrongly_refused_rate(refused, answerable),
        "language_accuracy": _mean(s.get("language_ok") for s in scores),
        "citation_precision": _mean(s.get("citation_precision") for s in answered),
        "citation_recall": _mean(s["evidence_cited"] for s in ans),
        "quotes_verbatim": _mean(s["quotes_verbatim"] for s in scores),
        "ungrounded_rate": _mean(bool(s.get("ungrounded_numbers")) for s in answered),
        "invalid_marker_rate": _mean(bool(s.get("invalid_markers")) for s in answered),
        "forbidden_rate": _mean(bool(s["forbidden"]) for r, s in zip(records, scores) if r.get("forbidden")),
        "error_rate": _mean(s["error"] for s in scores),
        "fact_outside_quotes": _mean(s.get("fact_outside_quotes") for s in ans),
        "direct_first": _mean(s.get("direct_first") for s in ans),
        "latency_p50": percentile(total, 50), "latency_p95": percentile(total, 95),
        "first_text_p50": percentile(first, 50), "first_text_p95": percentile(first, 95),
        "retrieval_p50": percentile(retrieval, 50), "retrieval_p95": percentile(retrieval, 95),
    }


def summarize(records: Sequence[Mapping]) -> dict:
    """Aggregate per-question records overall, by language and by question type."""
    scores = [score_record(r) for r in records]
    groups: dict[str, dict[str, list[int]]] = {"by_language": defaultdict(list), "by_type": defaultdict(list),
                                                "by_source": defaultdict(list)}
    for i, r in enumerate(records):
        groups["by_language"][r["language"]].append(i)
        groups["by_type"][r["type"]].append(i)
        groups["by_source"][r.get("source") or "unspecified"].append(i)
    out = {"overall": aggregate(records, scores)}
    for name, index in groups.items():
        out[name] = {key: aggregate([records[i] for i in idx], [scores[i] for i in idx])
                     for key, idx in sorted(index.items())}
    return out
