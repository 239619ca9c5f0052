"""The document card: what a parliamentary paper says about itself, as citable "label: value" lines.

Built from the clean text (header, transmittal sentence, numbered questions, joint-answer notes) and
the sidecar metadata, for any paper of the family: Kleine/Große Anfrage with Antwort der
Landes-/Bundesregierung, Antrag with Stellungnahme. ``Document.card`` holds the text; the chunker
makes it one chunk of kind "card" whose offsets refer to the card, so a card quote is checked
against the card as any other quote against the document text.
"""
from __future__ import annotations

import re

from .text import split_sentences

LABELS = {  # field -> German label (the card is written in the paper's language)
    "number": "Drucksache", "period": "Wahlperiode", "date": "Datum", "parliament": "Parlament",
    "kind": "Art", "title": "Titel", "asker": "Fragesteller", "party": "Fraktion", "answerer": "Antwortende Stelle",
    "transmitted": "Übermittelt", "signed": "Unterzeichnet", "signers": "Unterzeichner", "issued": "Ausgegeben",
    "reference": "Drucksache der Anfrage", "asked_on": "Anfrage vom", "answered_on": "Antwort vom",
    "question_count": "Anzahl der Fragen", "questions": "Fragen", "joint": "Gemeinsam beantwortet",
}
FALLBACK = {"issued": "date", "signed": "transmitted", "signers": "asker", "answered_on": "transmitted",
            "asked_on": "date"}  # a field a paper's card lacks -> the line that answers nearly as well


def line(card: str, field: str) -> tuple[str, re.Match | None]:
    """(label, match of "label: value") of ``field`` on a card, or of its ``FALLBACK`` when the card lacks it."""
    for f in (field, FALLBACK.get(field)):
        m = re.search(rf"^{re.escape(LABELS[f])}: (.+)$", card, re.M) if f in LABELS else None
        if m:
            return LABELS[f], m
    return "", None
# The parties of German parliaments as papers print them after the askers' names ("... Hüsken SPD").
PARTY = (r"(?:BÜNDNIS\s90/DIE\sGRÜNEN|Bündnis\s90/Die\sGrünen|DIE\sLINKE|Die\sLinke|FREIE\sWÄHLER|Freie\sWähler|"
         r"CDU/CSU|CDU|CSU|SPD|FDP/DVP|FDP|AfD|GRÜNE|Grüne|SSW|BSW|fraktionslos)")
_ROLE = r"(?:Staats)?(?:[Mm]inister(?:in)?|[Ss]taatssekretär(?:in)?|Senator(?:in)?|Präsident(?:in)?|Bürgermeister(?:in)?)\b"
_MONTH = r"(?:Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember)"
_DATE = rf"\d{{1,2}}\.\s*(?:{_MONTH}|\d{{1,2}}\.)\s*\d{{4}}"


def build(text: str, metadata: dict, questions: list[tuple[str, str]], joint: list[str]) -> str:
    """The card text. ``questions``: (number, text) of the paper's questions in order ("2 a)" for
    sub-questions); ``joint``: the paper's sentences saying which questions are answered together."""
    f = fields(text, metadata)
    main = [n for n, _ in questions if " " not in n]
    subs = [n for n, _ in questions if " " in n]
    blocks = list(dict.fromkeys(n.split(".")[0] for n in main)) if any("." in n for n in main) else []
    if main:  # "15 (in 6 Blöcken)" when questions are numbered 1.1, 1.2, 2.1, ...
        notes = ([f"in {len(blocks)} Blöcken"] if blocks else []) + ([f"mit {len(subs)} Teilfragen"] if subs else [])
        f["question_count"] = str(len(main)) + (f" ({', '.join(notes)})" if notes else "")
        f["questions"] = ", ".join(n for n, _ in questions)
    elif f.get("kind") == "Antrag":  # a motion's numbered points are what it asks for
        points = _points(text)
        if points:
            f["question_count"] = f"{len(points)} (Punkte {points[0]} bis {points[-1]} des Antrags)"
    if joint:
        f["joint"] = "; ".join(j.rstrip(".") for j in joint)
    return "\n".join(f"{LABELS[k]}: {f[k]}" for k in LABELS if f.get(k))


def fields(text: str, metadata: dict) -> dict[str, str]:
    head = text[:3000]
    out: dict[str, str] = {}
    m = re.search(r"Drucksache\s+(\d{1,2})\s?/\s?(\d+)", head)
    if m:
        out["number"], out["period"] = f"{m[1]}/{m[2]}", m[1]
    out["number"] = str(metadata.get("drucksache") or out.get("number") or "")
    out["period"] = str(metadata.get("wahlperiode") or out.get("period") or "")
    date = metadata.get("date") or _first(r"^\s*(\d{1,2}\.\s?\d{1,2}\.\s?\d{4})\s*$", head, re.M)
    out["date"] = str(date or "")
    out["parliament"] = str(metadata.get("parliament") or _first(
        r"^\s*((?:Deutscher Bundestag|LANDTAG [A-ZÄÖÜ\-]+(?: [A-ZÄÖÜ\-]+)*|Landtag (?:von |des )?[A-ZÄÖÜ][\w\-]+"
        r"(?:-[A-ZÄÖÜ][\w]+)?|Abgeordnetenhaus \w+|Bürgerschaft [\w ]+))\b", head, re.M) or "")
    m = re.search(r"(Kleine|KLEINE|Große|GROSSE|GROẞE)\s+(Anfrage|ANFRAGE)\s+(?:des|der)\s+(Abgeordneten)\s+(.+?)"
                  r"(?:,\s*|\s+und\s+(?:der\s+)?)(?:der\s+)?Fraktion\s+(?:der\s+)?([^\n–]+?)\s*(?:\n|–|$)", head, re.S)
    if m:
        out["asker"] = " ".join(m.group(4).split())
        out["party"] = m.group(5).strip()
    m = re.search(r"Antrag\s+der\s+Abg\.\s+(.+?)\s+(?:u\.\s?a\.\s+)?([A-ZÄÖÜ][A-ZÄÖÜ/ ]+[A-ZÄÖÜ])\s*\n", head)
    if m and "asker" not in out:
        out["asker"], out["party"] = " ".join(m.group(1).split()), m.group(2)
    m = re.search(rf"\bAnfrage\b[^\n]{{0,80}}\n?\s*(?:des|der)\s+Abgeordneten\s+([^\n]+?)\s+({PARTY})(?=\s*(?:\n|vom\b|[–-]?\s*Drucksache\b|$))", head)
    if m and "asker" not in out:  # "Kleine Anfrage 2101 ... der Abgeordneten A und B SPD"
        out["asker"], out["party"] = " ".join(m.group(1).split()), " ".join(m.group(2).split())
    m = re.search(rf"^\s*{_DATE}\s*\n((?:[A-ZÄÖÜ][\w\-]+,\s*)+[A-ZÄÖÜ][\w\-]+)\s+({PARTY})\s*$", head, re.M)
    if m:  # the motion's signatures under its date: "Körner-Haug, Demirel, Wanner GRÜNE"
        names = [n.strip() for n in m.group(1).split(",")]
        out["signers"] = f"{len(names)} Abgeordnete ({', '.join(names)}; {m.group(2)})"
    m = re.search(r"Anfrage[^\n]{0,200}?\n?[^\n]*?[–-]?\s*Drucksache\s+(\d{1,2}\s?/\s?\d+)", head, re.S)
    own = out.get("number", "").replace(" ", "")
    if m and m.group(1).replace(" ", "") != own and re.search(r"\bAntwort\b", head[:m.start() + 400]):
        out["reference"] = m.group(1).replace(" ", "")  # the paper printing the questions, when answered apart
    asked_on = _first(rf"\bAnfrage(?:\s+\d+)?(?:\s+(?:des|der)\s+Abgeordneten\s+[^\n]{{0,120}}?)?\s+vom\s+({_DATE})",
                      head)
    if asked_on:  # "Schriftliche Anfrage der Abgeordneten X vom 04.02.2025", "Kleine Anfrage 2101 vom 10. Juli 2023"
        out["asked_on"] = asked_on
    answered_on = _first(rf"\b(?:Antwort|Stellungnahme)\s+(?:der|des)\s+[^\n]{{0,120}}\n?\s*vom\s+({_DATE})",
                         text[:8000])
    if answered_on:
        out["answered_on"] = answered_on
    issued = _first(rf"\bAusgegeben:?\s*({_DATE})", text[:8000])
    if issued:
        out["issued"] = issued
    tail = text[-400:]
    m = re.search(rf"^((?:Dr\.\s+|Prof\.\s+)*[A-ZÄÖÜ][\w\-]+(?:\s+[A-ZÄÖÜ][\w\-]+){{1,3}})\s*\n\s*({_ROLE}[^\n]*)\s*$",
                  tail, re.M)
    if m:  # the signature closing the answer: a name over its office
        out["signed"] = f"{m.group(1)}, {m.group(2).strip()}"
    kind = _first(r"\b(Kleine Anfrage|KLEINE ANFRAGE|Große Anfrage|GROSSE ANFRAGE|Schriftliche Anfrage|SCHRIFTLICHE ANFRAGE|"
                  r"Antrag)\b", head)
    answer = _first(r"\b(?:ANTWORT|Antwort|Stellungnahme)\s+(?:der|des)\s+([A-ZÄÖÜ][\w\-]+(?: (?:für|des|der) [^\n.,]+)?)", head)
    if kind:
        kind = kind.capitalize().replace("anfrage", "Anfrage").replace("Grosse", "Große")
        out["kind"] = kind + (f" und Antwort der {answer}" if answer and "Antrag" not in kind else "")
    out["kind"] = str(metadata.get("kind") or out.get("kind") or "")
    if answer:
        out["answerer"] = re.sub(r"^(\w+ium)s\b", r"\1", answer)  # "des Ministeriums für X": Ministerium für X
    for para in text[:6000].split("\n\n"):
        hit = next((para[s:e] for s, e in split_sentences(para)
                    if re.search(r"übermittelt|übersandt|[Ss]chreiben vom", para[s:e])), "")
        if hit:
            out["transmitted"] = " ".join(hit.split()).rstrip(".:")
            break
    title = metadata.get("title") or _title(head)
    if title:
        out["title"] = title
    return {k: v for k, v in out.items() if v}


def _title(head: str) -> str:
    m = re.search(r"–\s*Drucksache\s+\d+/\d+\s*–\s*\n+\s*([^\n]+(?:\n[^\n]+)?)\n\n", head)
    if not m:
        m = re.search(r"Fraktion[^\n]*\n\n([^\n]{10,200})\n\n", head)
    return " ".join(m.group(1).split()) if m else ""


def _points(text: str) -> list[str]:
    """The numbers of a motion's points ("Der Landtag wolle beschließen, ... 1. zu berichten ...;")."""
    m = re.search(r"wolle beschließen", text[:6000])
    if not m:
        return []
    body = re.split(rf"\n\s*(?:{_DATE}|Begründung)\s*\n", text[m.end():m.end() + 5000], maxsplit=1)[0]
    return re.findall(r"^\s*(\d{1,2})\.\s", body, re.M)


def _first(pattern: str, text: str, flags: int = 0) -> str:
    m = re.search(pattern, text, flags)
    return " ".join(m.group(1).split()) if m else ""
