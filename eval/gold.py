"""The gold questions: one JSON object per line (schema in eval/README.md), validated on load."""
from __future__ import annotations

import json
from pathlib import Path

from rag.errors import InputError

GOLD = Path(__file__).resolve().parent / "gold.jsonl"
LANGUAGES = ("de", "en")
TYPES = ("fact", "date", "name", "count", "meta", "list", "yesno", "comparison", "followup", "paraphrase", "typo",
         "description", "table", "unanswerable", "offtopic", "injection")
NOT_ANSWERABLE_TYPES = ("unanswerable", "offtopic")  # an injection may wrap a real question
REQUIRED = ("id", "language", "type", "question", "answerable", "facts", "evidence")
OPTIONAL = ("history", "forbidden", "source")


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(s, str) and s.strip() for s in value)


def validate_case(case) -> list[str]:
    """The problems of one gold case (empty if it is valid)."""
    if not isinstance(case, dict):
        return ["not a JSON object"]
    errors = [f"missing field {f!r}" for f in REQUIRED if f not in case]
    errors += [f"unknown field {f!r}" for f in case if f not in REQUIRED + OPTIONAL]
    if errors:
        return errors
    if not isinstance(case["id"], str) or not case["id"].strip():
        errors.append("id must be a non-empty string")
    if case["language"] not in LANGUAGES:
        errors.append(f"language must be one of {LANGUAGES}")
    if case["type"] not in TYPES:
        errors.append(f"type must be one of {TYPES}")
    if not isinstance(case["question"], str) or not case["question"].strip():
        errors.append("question must be a non-empty string")
    if not isinstance(case["answerable"], bool):
        errors.append("answerable must be true or false")
    facts, evidence = case["facts"], case["evidence"]
    if not isinstance(facts, list) or not all(_strings(g) and g for g in facts):
        errors.append("facts must be a list of non-empty lists of non-empty strings")
    if not _strings(evidence):
        errors.append("evidence must be a list of non-empty strings")
    if case["answerable"] is True and not (facts and evidence):
        errors.append("an answerable case needs facts and evidence")
    if case["answerable"] is False and (facts or evidence):
        errors.append("a case that is not answerable has no facts and no evidence")
    if case["type"] in NOT_ANSWERABLE_TYPES and case["answerable"] is not False:
        errors.append(f"type {case['type']!r} must not be answerable")
    if "history" in case:
        h = case["history"]
        if not isinstance(h, list) or not h or not all(_strings(turn) and len(turn) == 2 for turn in h):
            errors.append("history must be a non-empty list of [user, assistant] string pairs")
    if case["type"] == "followup" and not case.get("history"):
        errors.append("a followup needs a history")
    if "forbidden" in case and not (_strings(case["forbidden"]) and case["forbidden"]):
        errors.append("forbidden must be a non-empty list of non-empty strings")
    return errors


def load_gold(path: Path | str = GOLD) -> list[dict]:
    """All cases of a gold file; raises InputError naming the first bad line."""
    path = Path(path)
    if not path.is_file():
        raise InputError(f"no such gold file: {path}")
    cases, seen = [], set()
    for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
        except json.JSONDecodeError as err:
            raise InputError(f"{path}:{lineno}: not JSON ({err.msg})") from None
        errors = validate_case(case)
        if not errors and case["id"] in seen:
            errors = [f"duplicate id {case['id']!r}"]
        if errors:
            raise InputError(f"{path}:{lineno}: {errors[0]}")
        seen.add(case["id"])
        cases.append(case)
    if not cases:
        raise InputError(f"{path}: no gold cases")
    return cases
