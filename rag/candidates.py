"""Typed candidate answers: the spans of a passage that are a date, an amount of money, a count, a
percentage, a rank, a person, an organisation, a place or a list item. Pure functions of text.

Each candidate is ``(start, end, type)`` with offsets into the text given. The patterns describe how
German official prose writes these things, not what any paper is about.
"""
from __future__ import annotations

import re

from .text import LIST_ITEM_RE

_MONTHS = r"(?:Januar|Jänner|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember)"
_NUM = r"\d{1,3}(?:[.\s]\d{3})*(?:,\d+)?|\d+(?:,\d+)?"
_NUMBER_WORDS = ("zwei drei vier fünf sechs sieben acht neun zehn elf zwölf zwanzig dreißig hundert tausend "
                 "two three four five six seven eight nine ten eleven twelve twenty thirty hundred")
_NW = r"(?:ein(?:e|en|er)?|" + "|".join(_NUMBER_WORDS.split()) + ")"
_ROLE = (r"(?:Minister\w*|Ministerpräsident\w*|Staatssekretär\w*|Staatsminister\w*|Botschafter\w*|Konsul\w*|"
         r"Präsident\w*|Bürgermeister\w*|Landrat|Landrätin|Senator\w*|Kanzler\w*|Abgeordnete\w*|Vorsitzende\w*|"
         r"Leiter\w*|Direktor\w*|Ministerialdirektor\w*|Chef\w*|Vertreter\w*|Beauftragte\w*|Sprecher\w*)")
_ORG_WORD = (r"(?:GmbH|AG|KG|e\.\s?V\.|SE|Universit\w+|University|Hochschule\w*|Institut\w*|Institute|Academy|Akademie|"
             r"Ministeri\w+|Kammer|Agentur|Verband|Verbände|Stiftung|Gesellschaft|Behörde|Amt|Bahn|Port|Initiative|"
             r"Programm\w*|Organisation|Fraktion|Landesregierung|Bundesregierung|Staatskanzlei|Projektträger|"
             r"Vertretung|Museum|Messe|Union|Rat|Kommission|Bank|Fonds|Unternehmen|Holding|Company|Ltd)")
_CAP = r"[A-ZÄÖÜ][\w\-]*"
_ORG_PART = (r"(?:kammer|ministerium|agentur|verband|stiftung|gesellschaft|behörde|bank|hochschule|universität|"
             r"institut|kommission|verwaltung|amt|zentrum|werk|werft|genossenschaft)")  # the end of a compound

PATTERNS: dict[str, re.Pattern] = {
    "date": re.compile(rf"\b\d{{1,2}}\.\s?(?:{_MONTHS}|\d{{1,2}}\.)\s?\d{{4}}\b|\b(?:Anfang |Ende |Mitte )?{_MONTHS}\s\d{{4}}\b"
                       rf"|\b(?:im Jahr(?:e)? |seit |bis )?(?:19|20)\d\d\b"),
    "money": re.compile(rf"(?:{_NUM})\s?(?:Mio\.|Mrd\.|Tsd\.|Millionen|Milliarden|Tausend)?\s?(?:Euro|EUR|€|US-Dollar|Dollar)"
                        rf"|(?:EUR|€)\s?(?:{_NUM})(?:\s?(?:Mio\.|Mrd\.|Millionen|Milliarden))?"),
    "percentage": re.compile(rf"(?:{_NUM})\s?(?:Prozent|%|v\.\s?H\.)"),
    "rank": re.compile(r"\b(?:Platz|Rang|Position)\s\d+\b|\b\d+\.\s(?:Platz|Rang)\b"),
    "count": re.compile(rf"\b(?:(?<![.,\d])(?:\d{{1,3}}(?:\.\d{{3}})+|\d+(?:,\d+)?)(?![.,]\d)|{_NW})\s+"
                        rf"(?!(?:Mio|Mrd|Tsd|Millionen|Milliarden|Euro|EUR|Prozent|Dollar)\b)"  # money, a share: other kinds
                        rf"(?:[A-ZÄÖÜ][\w\-]*|weitere\w*\s+[A-ZÄÖÜ][\w\-]*)", re.I),
    "person": re.compile(rf"\b(?:(?:Dr\.|Prof\.|Herr|Frau)\s+)+{_CAP}(?:\s{_CAP})+|"
                         rf"\b(?:der|die|des|dem|den)\s+{_ROLE}(?:\s+(?:für|der|des|im|am|beim)\s+[^,.;:()\n]{{3,80}}?)?"
                         rf"(?=[,.;:()\n]|\s+(?:und|sowie|hat|haben|nahm|führte|besuchte|in|am|an|mit|gab|wurde)\b)"
                         rf"|\b{_ROLE}\s+(?:{_CAP}\s){{0,2}}{_CAP}"),
    "organisation": re.compile(rf"„[^“]{{2,80}}“|\b(?:{_CAP}\s+){{0,4}}{_ORG_WORD}(?:\s+(?:{_CAP}|für|der|des|zu|in|im|und|of|"
                               rf"and)){{0,8}}(?:\s+{_CAP})?|\b[A-Z]{{2,}}(?:\s[IVX]+)?\b"
                               rf"|\b(?:[A-ZÄÖÜ]\w*-\s+und\s+)?[A-ZÄÖÜ][a-zäöüß]+{_ORG_PART}\b(?:\s+(?:zu|in|für|der|des)\s+{_CAP})?"),
    "place": re.compile(rf"\b(?:in|nach|aus|im|am Standort|am Standorten|an den Standorten)\s+(?:der\s+|dem\s+)?"
                        rf"((?!{_MONTHS}\b){_CAP}(?:[\s\-]{_CAP})?)"),
}
_SHORT_ORG = re.compile(r"^(?:Die|Der|Das|Im|Am|In|Auf|Zu|Mit)\s")


def find(text: str, kind: str) -> list[tuple[int, int, str]]:
    """Candidates of one type in ``text``: (start, end, kind), in text order."""
    if kind == "list":
        return list_items(text)
    if kind in ("reason", "description", "yesno"):
        return []
    if kind == "money" and table_unit(text):
        return sorted(set(_find(text, kind) + table_money(text)))
    return _find(text, kind)


def _find(text: str, kind: str) -> list[tuple[int, int, str]]:
    pattern = PATTERNS.get(kind)
    if pattern is None:
        return []
    out = []
    for m in pattern.finditer(text):
        s, e = (m.start(1), m.end(1)) if kind == "place" and m.lastindex else (m.start(), m.end())
        piece = text[s:e].strip()
        if not piece or (kind == "organisation" and (len(piece) < 3 or _SHORT_ORG.match(piece) and len(piece) < 8)):
            continue
        if kind == "count" and re.match(r"(?:19|20)\d\d\b", piece):
            continue  # a year is not a count
        out.append((s, s + len(text[s:e].rstrip()), kind))
    return out


_TABLE_UNIT = re.compile(r"\(in\s+((?:Mio\.|Mrd\.|Tsd\.|Millionen|Milliarden|Tausend)?\s?(?:Euro|EUR|€))\)")
_TABLE_ROW = re.compile(r"^[ \t]*[^\W\d_]*\s*(?:19|20)?\d{0,2}\*?[ \t]+(\d[\d.]*,\d+|\d[\d.]*)\b", re.M)


def table_unit(text: str) -> str:
    """The money unit a table states in its header ("(in Mio. Euro)" -> "Mio. Euro"), or ""."""
    m = _TABLE_UNIT.search(text)
    return m.group(1) if m else ""


def table_money(text: str) -> list[tuple[int, int, str]]:
    """The first figure of each row of a table whose header gives a money unit ("2021 38,2 33,6")."""
    if not table_unit(text):
        return []
    return [(m.start(1), m.end(1), "money") for m in _TABLE_ROW.finditer(text)
            if not re.fullmatch(r"(?:19|20)\d\d", m.group(1))]


def names(text: str, people_only: bool = False) -> list[tuple[int, int, str]]:
    """Proper names only (people named, organisations, quoted names), not role phrases ("der Minister");
    ``people_only``: the names of people ("Wie heißt der Staatssekretär?" is not answered by a ministry)."""
    people = [(s, e, "name") for s, e, _ in find(text, "person") if not re.match(r"(der|die|des|dem|den)\s", text[s:e])]
    if people_only:
        return [c for c in people if re.search(r"\s[A-ZÄÖÜ][a-zäöüß]+(?:-[A-ZÄÖÜ][a-zäöüß]+)?$", text[c[0]:c[1]])
                and not re.search(_ORG_WORD, text[c[0]:c[1]].split(" ", 1)[-1])]
    return sorted(people + [(s, e, "name") for s, e, _ in find(text, "organisation")])


def proper(name: str) -> bool:
    """A name that says which one: a word in it besides the kind of body and linking words ("Museum
    Peenemünde", not "Museum" or "Institutionen und Unternehmen")."""
    words = [w for w in re.findall(r"[\w\-.]+", name)
             if not re.fullmatch(_ORG_WORD, w) and not re.fullmatch(r"und|and|der|des|die|das|dem|den|im|in|für|of|the", w, re.I)]
    return bool(words)


def agents(text: str) -> list[tuple[int, int, str]]:
    """People and organisations together: "wer"/"who" may be answered by either."""
    return sorted(find(text, "person") + find(text, "organisation"))


def list_items(text: str) -> list[tuple[int, int, str]]:
    """Lines of a list: bulleted/numbered lines, or the short lines after an introduction ending in ":"."""
    out = []
    pos = 0
    intro = False
    for line in text.split("\n"):
        start, end = pos, pos + len(line)
        pos = end + 1
        body = line.strip()
        if not body:
            continue
        m = LIST_ITEM_RE.match(body)
        if m or (intro and len(body) <= 120 and not body.endswith(":")):
            lead = line.find(body) + (m.end() if m else 0)
            item = line[lead:].rstrip(" ,;.")
            if item:
                out.append((start + lead, start + lead + len(item), "list"))
        intro = body.endswith(":") or (intro and (bool(m) or body.endswith(",")))
    return out


def counted_items(text: str, focus=()) -> list[tuple[int, int, str]]:
    """The items to count for "how many": the bulleted run whose lead-in lines best mention the
    focus, else every list item of the text."""
    runs, run = [], []
    pos = 0
    for line in text.split("\n"):
        m = LIST_ITEM_RE.match(line.strip())
        if m and line.strip():
            lead = line.find(line.strip()) + m.end()
            run.append((pos + lead, pos + len(line.rstrip(" ,;.")), "list"))
        elif run:
            runs.append(run)
            run = []
        pos += len(line) + 1
    if run:
        runs.append(run)
    if not runs:
        return list_items(text)
    words = [w.lower()[:5] for w in focus if len(w) >= 4]

    def mentions(r):
        before = text[max(0, r[0][0] - 160):r[0][0]].lower()
        return sum(w in before for w in words)
    return max(runs, key=lambda r: (mentions(r), len(r)))


def count_word(n: int, language: str) -> str:
    """A derived count as a word, so it is never mistaken for a number the paper printed."""
    words = {"de": "null eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf".split(),
             "en": "zero one two three four five six seven eight nine ten eleven twelve".split()}[language]
    return words[n] if 0 <= n < len(words) else str(n)


_CLAUSE_END = re.compile(r"[,;:](?=\s)|\s(?=–\s)|\n")
MAX_EXCERPT_WORDS = 22  # with "…" on both sides and the "[1]" marker, the direct answer stays within 25


def shares_stem(word: str, text: str) -> bool:
    """Does ``text`` use ``word``'s first five letters (the check where no lexicon links words)?"""
    return word.lower()[:5] in text.lower()


def excerpt(text: str, focus=(), linked=None, max_words: int = MAX_EXCERPT_WORDS) -> tuple[int, int]:
    """The part of a sentence that answers a descriptive question, as (start, end) into ``text``: the
    whole of it when it has at most ``max_words`` + 2 words (no "…" needed), else the run of clauses (cut at , ; : – and
    line ends) of at most ``max_words`` words that mentions most focus words (``linked(word, text)``;
    a shared stem without a linker), the earliest of equals."""
    start = len(text) - len(text.lstrip())
    end = len(text.rstrip())
    if len(text[start:end].split()) <= max_words + 2:  # a whole sentence needs no "…" on either side
        return start, end
    cuts = [start] + [m.end() for m in _CLAUSE_END.finditer(text, start, end)] + [end]
    pieces = [(a, b) for a, b in zip(cuts, cuts[1:]) if text[a:b].strip()]
    mentions = linked or shares_stem
    best, best_key = None, None
    for i in range(len(pieces)):
        for j in range(i, len(pieces)):
            a, b = pieces[i][0], pieces[j][1]
            if len(text[a:b].split()) > max_words:
                break
            key = (sum(bool(mentions(w, text[a:b])) for w in focus), b - a, -a)
            if best_key is None or key > best_key:
                best, best_key = (a, b), key
    if best is None:  # one clause longer than max_words: its first max_words words
        a, b = pieces[0]
        words = list(re.finditer(r"\S+", text[a:b]))[:max_words]
        best = (a, a + words[-1].end())
    a, b = best
    a += len(text[a:b]) - len(text[a:b].lstrip())
    b -= len(text[a:b]) - len(text[a:b].rstrip(" ,;:–\n"))
    return a, b


_CELL = re.compile(r"\S+(?: \S+)*")  # cells are separated by two or more spaces
_VALUE = re.compile(r"-?\d[\d.]*(?:,\d+)?\*?|–|-")
_HEADING_CELL = re.compile(r"(?:19|20)\d\d(?:/\d\d(?:\d\d)?)?\*?|.*[^\W\d_].*")
_UNIT = re.compile(r"\((?:in\s+)?([^()]{1,30})\)\s*$")


def table_row(text: str, pos: int) -> tuple[str, list[tuple[str, int, int]], str, int] | None:
    """The table row of ``text`` at offset ``pos``, read with its header: (row label, [(column label,
    start, end) of each value], unit from the table's title line, e.g. "Anzahl" or "Mio. Euro", offset
    of the header line), or None when the line is not a row of label and figures under a header of as
    many columns."""
    ls = text.rfind("\n", 0, pos) + 1
    le = text.find("\n", pos)
    le = len(text) if le < 0 else le
    cells = [(m.group(), ls + m.start(), ls + m.end()) for m in _CELL.finditer(text[ls:le].replace("\t", "  "))]
    if len(cells) < 2 or not all(_VALUE.fullmatch(c[0]) for c in cells[1:]):
        return None
    above = text[:ls].rstrip("\n").rsplit("\n", 16)  # the header is within the 11 lines above
    for k in range(len(above) - 1, max(-1, len(above) - 12), -1):
        labels = _CELL.findall(above[k].replace("\t", "  "))
        if not labels:
            continue
        if len(labels) in (len(cells), len(cells) - 1) and all(_HEADING_CELL.fullmatch(x) for x in labels[-(len(cells) - 1):]) \
                and not all(_VALUE.fullmatch(x) for x in labels[-(len(cells) - 1):]):
            cols = labels[-(len(cells) - 1):]
            title = next((t for t in reversed(above[max(0, k - 4):k]) if _UNIT.search(t.strip())), "")
            unit = _UNIT.search(title.strip()).group(1) if title else ""
            header_at = len("\n".join(above[:k])) + (1 if k else 0)
            return cells[0][0], [(c, s, e) for c, (_, s, e) in zip(cols, cells[1:])], unit, header_at
    return None

