"""The gold set is valid and grounded: every evidence span is in the paper, every fact in its evidence."""
from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # `eval` is a top-level package beside `rag`
    sys.path.insert(0, str(ROOT))

from eval.gold import GOLD, TYPES, load_gold, validate_case  # noqa: E402
from eval.metrics import matched_groups  # noqa: E402
from rag.errors import InputError  # noqa: E402

RAW = (ROOT / "corpus" / "drucksache-7-844.txt").read_text(encoding="utf-8")
# Answers that must be derived (counted), so no alternative occurs verbatim in the evidence.
DERIVED = {"de-wismar-count"}


def ws(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


@pytest.fixture(scope="module")
def lines() -> list[dict]:
    with open(GOLD, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def test_the_loader_accepts_the_file(lines):
    assert load_gold(GOLD) == lines


def test_schema(lines):
    ids = [c["id"] for c in lines]
    assert len(ids) == len(set(ids)), [i for i, n in Counter(ids).items() if n > 1]
    for c in lines:
        assert c["language"] in ("de", "en"), c["id"]
        assert c["type"] in TYPES, c["id"]
        assert isinstance(c["question"], str) and c["question"].strip(), c["id"]
        assert isinstance(c["answerable"], bool), c["id"]
        assert c["answerable"] == bool(c["facts"]) == bool(c["evidence"]), c["id"]
        assert all(isinstance(g, list) and g and all(isinstance(a, str) and a.strip() for a in g)
                   for g in c["facts"]), c["id"]
        for turn in c.get("history", []):
            assert isinstance(turn, list) and len(turn) == 2 and all(isinstance(t, str) and t for t in turn), c["id"]
        if c["type"] == "followup":
            assert c.get("history"), c["id"]
        if c["type"] in ("unanswerable", "offtopic", "injection"):
            assert not c["answerable"], c["id"]
        assert validate_case(c) == [], c["id"]


def test_every_evidence_span_is_in_the_paper(lines):
    text = ws(RAW)
    for c in lines:
        for span in c["evidence"]:
            assert ws(span) in text, (c["id"], span)


def test_every_evidence_span_survives_the_hyphen_repair(lines):
    """A span crossing a line-end hyphen would depend on how ingestion repairs it, so none does:
    each span must be in the text whether a line-end hyphen is dropped ("Landes-|regierung")
    or kept ("Mecklenburg-|Vorpommern")."""
    dropped = ws(re.sub(r"-[ \t]*\n\s*", "", RAW))
    kept = ws(re.sub(r"-[ \t]*\n\s*", "-", RAW))
    for c in lines:
        for span in c["evidence"]:
            assert ws(span) in dropped and ws(span) in kept, (c["id"], span)
            assert not span.rstrip().endswith("-"), (c["id"], span)


def test_every_fact_group_is_grounded_in_the_evidence(lines):
    for c in lines:
        if c["answerable"] and c["id"] not in DERIVED:
            groups = matched_groups(" ".join(c["evidence"]), c["facts"])
            assert all(groups), (c["id"], [g for g, ok in zip(c["facts"], groups) if not ok])


def test_coverage_and_balance(lines):
    langs = Counter(c["language"] for c in lines)
    types = Counter(c["type"] for c in lines)
    assert len(lines) >= 70
    assert abs(langs["de"] - langs["en"]) <= 0.1 * len(lines), langs
    assert set(types) <= set(TYPES) and len(types) >= 10, types  # "count" and "meta" came with the blind sets
    assert types["followup"] >= 10
    assert sum(not c["answerable"] for c in lines) >= 12
    for topic in ("12,811", "5,458", "1,844", "rückläufig", "Peenemünde", "Neujahrsempfang", "27. März 2017",
                  "Staatssekretär", "Handelskammer zu Schwerin", "Juli 2017", "Rostock Port GmbH",
                  "kasachischen Staatsbahn", "sieben Institutionen", "26 Institutionen", "300 Gästen",
                  "Innovativen Eurasischen", "Kostanay", "Anerkennung", "weiter gepflegt", "keine negativen",
                  "Eurasischen Wirtschaftsunion", "Leningrader Oblast", "Holger Arppe", "Schwerpunkten",
                  "Jahre 2015 bis"):
        assert any(topic in span for c in lines for span in c["evidence"]), topic


@pytest.mark.parametrize("change, problem", [
    ({"language": "fr"}, "language"),
    ({"type": "trivia"}, "type"),
    ({"facts": []}, "answerable case needs"),
    ({"facts": [[]]}, "facts must be"),
    ({"evidence": []}, "answerable case needs"),
    ({"answerable": False}, "not answerable has no facts"),
    ({"history": [["only the user"]]}, "history"),
    ({"type": "followup"}, "followup needs a history"),
    ({"type": "offtopic"}, "must not be answerable"),
    ({"extra": 1}, "unknown field"),
])
def test_the_validator_rejects_broken_cases(change, problem):
    good = {"id": "x", "language": "de", "type": "fact", "question": "Wie hoch?", "answerable": True,
            "facts": [["12,811"]], "evidence": ["Jahr 2015: 12,811 Mio. Euro (Platz 75)"]}
    assert validate_case(good) == []
    errors = validate_case({**good, **change})
    assert any(problem in e for e in errors), errors


def test_the_loader_names_the_bad_line(tmp_path):
    good = {"id": "a", "language": "en", "type": "offtopic", "question": "Weather?", "answerable": False,
            "facts": [], "evidence": []}
    path = tmp_path / "gold.jsonl"
    path.write_text(json.dumps(good) + "\n" + json.dumps(good) + "\n", encoding="utf-8")
    with pytest.raises(InputError, match=r":2: duplicate id"):
        load_gold(path)
    path.write_text("{not json\n", encoding="utf-8")
    with pytest.raises(InputError, match=r":1: not JSON"):
        load_gold(path)


def test_the_readme_example_is_a_real_case(lines):
    readme = (ROOT / "eval" / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```json\n(.*?)```", readme, re.S).group(1)
    example = json.loads(block)
    assert example in lines


def test_the_readme_counts_match_the_file(lines):
    readme = (ROOT / "eval" / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| \**(\w+)\** \| (\d+ \| \d+ \| \d+) \|$", readme, re.M))
    counts = Counter((c["type"], c["language"]) for c in lines)
    for t in TYPES:
        de, en = counts[(t, "de")], counts[(t, "en")]
        assert rows[t] == f"{de} | {en} | {de + en}", t
    de = sum(c["language"] == "de" for c in lines)
    assert rows["all"] == f"{de} | {len(lines) - de} | {len(lines)}"


def test_every_question_set_loads():
    from eval.runner import SETS
    paths = sorted(SETS.glob("*.jsonl"))
    assert len(paths) >= 8
    for path in paths:
        assert load_gold(path), path  # raises on a malformed case
