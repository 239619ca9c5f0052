"""The answer a reader reads: the fact first, in the asker's language, then the German quote as proof.

Typed values are rendered, not translated ("5,458 Mio. Euro" -> "EUR 5.458 million", "26. August
2016" -> "26 August 2016", "Platz 98" -> "rank 98"); names stay as written. Sentence frames are data
(``prompts/frames.json``), one set per language.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path
from typing import Sequence

from .types import Citation

PROMPTS = Path(__file__).parent / "prompts"
_MONTHS_EN = dict(zip("januar jänner februar märz april mai juni juli august september oktober november dezember".split(),
                      "January January February March April May June July August September October November December".split()))
_SCALE_EN = {"mio.": "million", "millionen": "million", "mrd.": "billion", "milliarden": "billion", "tsd.": "thousand",
             "tausend": "thousand"}
_NUMBER_WORDS_EN = dict(zip("ein eine einen zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig".split(),
                            "one one one two three four five six seven eight nine ten eleven twelve twenty".split()))


@lru_cache(maxsize=None)
def frames(language: str) -> dict:
    table = json.loads((PROMPTS / "frames.json").read_text(encoding="utf-8"))
    return {**table[language], "card_labels_en": table["card_labels_en"]}


def number_en(s: str) -> str:
    """German number formatting to English: "5,458" -> "5.458", "1.234.567" -> "1,234,567"."""
    if "," in s and "." in s:
        return s.replace(".", "§").replace(",", ".").replace("§", ",")
    if "," in s:
        return s.replace(",", ".")
    if re.fullmatch(r"\d{1,3}(\.\d{3})+", s):
        return s.replace(".", ",")
    return s


def value(text: str, kind: str, language: str) -> str:
    """A typed value as the reader of ``language`` writes it."""
    text = " ".join(text.split())
    if language == "de":
        return text
    if kind == "money":
        m = re.match(r"(?:EUR|€)?\s?([\d.,\s]+?)\s?(Mio\.|Mrd\.|Tsd\.|Millionen|Milliarden|Tausend)?\s?(Euro|EUR|€)?$", text)
        if m:
            scale = _SCALE_EN.get((m.group(2) or "").lower(), "")
            return f"EUR {number_en(m.group(1).strip())}" + (f" {scale}" if scale else "")
    if kind == "date":
        m = re.match(r"(\d{1,2})\.\s?(\w+)\s(\d{4})$", text)
        if m and m.group(2).lower() in _MONTHS_EN:
            return f"{m.group(1)} {_MONTHS_EN[m.group(2).lower()]} {m.group(3)}"
        m = re.match(r"(\w+)\s(\d{4})$", text)
        if m and m.group(1).lower() in _MONTHS_EN:
            return f"{_MONTHS_EN[m.group(1).lower()]} {m.group(2)}"
        return re.sub(r"^(im Jahr(e)?|seit|bis)\s", "", text)
    if kind == "percentage":
        m = re.match(r"([\d.,]+)\s?(Prozent|%|v\.\s?H\.)$", text)
        if m:
            return f"{number_en(m.group(1))} percent"
    if kind == "rank":
        m = re.search(r"\d+", text)
        if m:
            return f"rank {m.group()}"
    if kind == "count":
        m = re.match(r"(\w+)\s+(.*)$", text)
        if m and m.group(1).lower() in _NUMBER_WORDS_EN:
            return f"{_NUMBER_WORDS_EN[m.group(1).lower()]} („{text}“)"
        if m and m.group(1).isdigit():
            return f"{m.group(1)} („{text}“)"
    return text


def card_line(label: str, val: str, language: str, n: int) -> str:
    f = frames(language)
    shown = f["card_labels_en"].get(label, label) if language == "en" else label
    return f["card"].format(label=shown, value=val, n=n)


def typed(kind: str, raw: str, language: str, n: int, year: str = "") -> str:
    f = frames(language)
    when = f["when"].format(year=year) if year else ""
    shown = value(raw, kind, language)
    if kind == "date":  # "am 3. Mai 2020" / "on 3 May 2020", but "im Juli 2017" as written / "in July 2017"
        return f["date" if re.match(r"\d{1,2}\.", raw.strip()) else "date_period"].format(value=shown, n=n)
    if kind in ("person", "organisation", "place", "name"):
        return f["agent"].format(value=shown, n=n)
    return f["typed"].format(value=shown, when=when, n=n)


def table_cells(row: str, picked: Sequence[tuple[str, str]], unit: str, kind: str, language: str, n: int) -> str:
    """Figures of one table row: "538 (Detmold, 2021/22)", or every column when no year was asked."""
    def shown(cell):
        if kind == "money" or re.search(r"euro|eur|€", unit, re.I):
            return value(f"{cell} {unit}", "money", language)
        return number_en(cell) if language == "en" else cell
    if len(picked) == 1:
        col, cell = picked[0]
        return frames(language)["typed"].format(value=shown(cell), when=f" ({row}, {col})", n=n)
    listed = "; ".join(f"{col}: {shown(cell)}" for col, cell in picked)
    return frames(language)["typed"].format(value=f"{row}: {listed}", when=f" ({unit})" if unit else "", n=n)


def derived_count(word: str, language: str, n: int) -> str:
    return frames(language)["count_derived"].format(value=word, n=n)


def items(lines: Sequence[tuple[str, int]], language: str) -> str:
    head = frames(language)["list"]
    return head + "\n" + "\n".join(f"- {' '.join(t.split())} [{n}]" for t, n in lines)


def yes_no(yes: bool, language: str, n: int) -> str:
    return frames(language)["yes" if yes else "no"].format(n=n)


def trend(a: str, ya: str, b: str, yb: str, up: bool, language: str, n: int) -> str:
    return frames(language)["trend_up" if up else "trend_down"].format(
        a=value(a, "money", language), ya=ya, b=value(b, "money", language), yb=yb, n=n)


def excerpt(text: str, cut_before: bool, cut_after: bool, n: int, language: str) -> str:
    """Verbatim words of a quote as the direct answer ("…" where the sentence goes on)."""
    shown = ("… " if cut_before else "") + " ".join(text.split()) + (" …" if cut_after else "")
    return frames(language)["excerpt"].format(text=shown, n=n)


def quotes(citations: Sequence[Citation]) -> str:
    return " ".join(f"„{c.quote.strip()}“ [{c.n}]" for c in citations)


def compose(direct: str, citations: Sequence[Citation], language: str, note: str = "") -> str:
    """The answer text: the direct answer (or the lead), an optional note (a translation, a pointer),
    then the quotes as evidence."""
    f = frames(language)
    if direct and direct == quotes(citations):  # the whole quote is the direct answer: shown once
        return direct
    if not direct:
        body = f"{f['lead']} {quotes(citations)}"
        return f"{note}\n\n{body}" if note else body
    parts = [direct] + ([note] if note else []) + [f"{f['evidence']} {quotes(citations)}"]
    return "\n\n".join(parts)


def pointer(citation: Citation, language: str) -> str:
    """Where the German passage answers (page, section): from the chunk's own data, not from a model."""
    return frames(language)["pointer"].format(page=citation.chunk.page, section=citation.chunk.section or "-")


def key_facts(found: Sequence[tuple[str, str]], language: str, n: int) -> str:
    """The typed values of a passage ((kind, raw) in text order), each rendered for the reader:
    "26 August 2016; EUR 5.458 million; Museum Peenemünde". "" when there are none."""
    frame = frames(language).get("key_facts", "")
    shown = list(dict.fromkeys(value(raw, kind, language) for kind, raw in found))
    return frame.format(items="; ".join(shown), n=n) if frame and shown else ""


def refusal(language: str, injection: bool = False) -> str:
    return frames(language)["injection" if injection else "refusal"]
