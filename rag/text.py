"""Pure text helpers for German (and some English): sentences, BM25 tokens, language, numbers.

Nothing here reads files or holds state beyond cached constants.
Just over 300 lines, about 50 of them word lists (months, abbreviations, stop words, compound parts, language cues).
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

import snowballstemmer

__all__ = [
    "LIST_ITEM_RE", "MONTHS", "split_sentences", "sentences", "fold", "tokenize",
    "detect_language", "numbers", "normalize_number",
]

# A list item at the start of a line: "- x", "• x", "a) x", "(b) x", "1. x", "2) x", "2 a) x".
LIST_ITEM_RE = re.compile(r"(?:[-–—•*▪◦]|\(?[a-zA-Z]\)|\d{1,2}[.)]|\d{1,2}\s?[a-z]\))\s+(?=\S)")

MONTHS = frozenset(
    "januar jänner februar märz april mai juni juli august september oktober november dezember "
    "january february march may june july october december".split()
)

# Words whose trailing dot is not a sentence end (lower case, without the dot). Single letters
# ("z. B.", "d. h.", initials) and dotted forms ("u.a.", "i.V.m.") are recognised by shape.
_ABBREVIATIONS = frozenset(
    "mio mrd tsd nr bzw ca usw vgl ggf evtl inkl zzgl bspw sog gem abs art dr prof str tel "
    "jh jhd ff etc rd max min bzgl hrsg ebd kap ziff lfd anl bd std drs abg mdl fa "
    "jan feb mär apr jun jul aug sep sept okt nov dez mr mrs ms st no vs approx".split()
)
_END_CAPABLE = frozenset("usw etc mio mrd tsd ff u.a o.ä u.ä usf std".split())
# Capitalised words that typically open a sentence: after "75." they mean "75" ended a sentence;
# otherwise "26. August", "7. Wahlperiode", "1. Gab ..." are read as ordinals/enumerations.
_SENTENCE_STARTERS = frozenset(
    "der die das den dem des ein eine einer im am an es er sie wir ich dies diese dieser dieses "
    "auch dabei zudem außerdem damit hierbei insgesamt bei mit nach seit zur zum für in auf aus "
    "von so als wie the this in it there we they".split()
)
_INDENT = re.compile(r"[ \t]*")
_END = re.compile(r"[.!?…]+[\"'“”»)\]]*(?=\s)")


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence spans ``(start, end)`` into ``text``, stripped of surrounding whitespace.

    A line break ends a sentence unless the next line starts in lower case (a soft wrap) and is
    not a list item; so list items and lines like "Jahr 2015: 12,811 Mio. Euro (Platz 75)," are
    sentences of their own. Inside a line, ".", "!", "?" end a sentence except after
    abbreviations ("Mio.", "z. B.") and ordinals/enumerations ("26. August", "1. Gab ...").
    """
    spans: list[tuple[int, int]] = []
    for seg_start, seg_end in _segments(text):
        start = seg_start
        for m in _END.finditer(text, seg_start, seg_end):
            if _is_boundary(text, m, seg_end):
                spans.append((start, m.end()))
                start = m.end()
        spans.append((start, seg_end))
    out = []
    for s, e in spans:
        while s < e and text[s].isspace():
            s += 1
        while e > s and text[e - 1].isspace():
            e -= 1
        if s < e:
            out.append((s, e))
    return out


LABELLED = re.compile(r"[^\W\d][^:\n]{0,40}:\s+\S.*\d")  # a "label: value" line with a number
YEAR = re.compile(r"\b(?:1[89]\d\d|20\d\d)\b")  # a year as a whole word: 1800-2099
_CLOSED = re.compile(r"[.!?…][\"'“”»)\]]*$")


TABLE_ROW = re.compile(r"\S[^\n]*?(?: {3,}|\t)\S[^\n]*?(?: {3,}|\t)\S[^\n]*$")  # columns set apart by runs of spaces
NESTED_ITEM = re.compile(r"\d{1,2}\.\d{1,2}\.?\s+(?=[^\W\d_])")  # "1.2 Wie ...": numbered within a block (Bavaria)


@lru_cache(maxsize=1024)
def evidence_units(text: str, max_chars: int = 700) -> tuple[tuple[int, int], ...]:
    """Spans that can be quoted on their own: sentences, with fragments joined to what follows
    (cached: scoring and quoting ask for the units of the same passage once per span).

    A heading ("Hochschule Wismar"), a line ending in ":" or "," (a list intro, a list item) is
    no statement by itself, so it is joined with the next sentences until one closes with ".",
    "!" or "?": a list stays together with its introduction ("... rückläufig: Jahr 2015: ...,
    Jahr 2016: ..., Januar bis April 2017: ... ."). Units never exceed ``max_chars`` unless a
    single sentence does. A "label: value" line with a number ("Jahr 2016: 5,458 Mio. Euro") is a
    statement of its own.
    """
    units: list[tuple[int, int]] = []
    cur: tuple[int, int] | None = None
    for n, (s, e) in enumerate(split_sentences(text)):
        if n == 0 and _is_heading(text[s:e]):
            continue  # the heading of a passage says nothing itself; the section path carries it
        if LABELLED.match(text[s:e]) or TABLE_ROW.match(text[s:e]):  # "Jahr 2016: 5,458 Mio. Euro (Platz 98),"
            # and a table row ("Detmold     298     365") stand alone
            if cur is not None:
                units.append(cur)
            units.append((s, e))
            cur = None
            continue
        if cur is None:
            cur = (s, e)
        elif e - cur[0] > max_chars:
            units.append(cur)
            cur = (s, e)
        else:
            cur = (cur[0], e)
        if _CLOSED.search(text[cur[0]:cur[1]]):
            units.append(cur)
            cur = None
    if cur is not None:
        units.append(cur)
    return tuple(units)


def _is_heading(sentence: str) -> bool:
    return len(sentence.split()) <= 4 and not re.search(r"[.,:;!?\d]", sentence)


def sentences(text: str) -> list[str]:
    """The sentences of ``text`` as strings (see ``split_sentences``)."""
    return [text[s:e] for s, e in split_sentences(text)]


def _segments(text: str):
    """Runs of lines that belong together: a line break separates runs unless it is a soft wrap."""
    start = 0
    pos = 0
    for line in text.splitlines(keepends=True):
        nxt = pos + len(line)
        j = _INDENT.match(text, nxt).end()
        soft = (nxt < len(text) and text[nxt] not in "\n\r" and text[j:j + 1].islower()
                and not LIST_ITEM_RE.match(text, j))
        if not soft:
            yield start, nxt
            start = nxt
        pos = nxt
    if start < len(text):
        yield start, len(text)


def _is_boundary(text: str, m: re.Match, seg_end: int) -> bool:
    after = text[m.end():min(seg_end, m.end() + 40)].lstrip()
    if not after:
        return True
    if after[0].islower():
        return False
    punct = m.group()
    if not punct.startswith(".") or punct.startswith(".."):
        return True  # "?", "!", "..."
    before = text[max(0, m.start() - 40):m.start()]
    word = "" if before[-1:].isspace() else (before.split() or [""])[-1].lstrip("(„\"'[«‚")
    if punct != "." and word:  # "Seidenstraße“." / "(siehe unten)." etc.: closing marks end it
        return not (len(word) == 1 and word.isalpha())
    low = word.lower()
    nxt = re.match(r"\w+", after)
    starter = bool(nxt) and nxt.group().lower() in _SENTENCE_STARTERS
    if (len(low) == 1 and low.isalpha()) or low in _ABBREVIATIONS or "." in low:
        return low in _END_CAPABLE and starter  # "... usw. Die", but "Mio. Euro", "z. B. Die"
    if low.isdigit() and len(low) <= 3:  # ordinal or enumeration unless a sentence starts
        return starter
    return True


# ---------------------------------------------------------------- tokens for BM25

_STOP_DE = """
aber alle allem allen aller alles als also am an ander andere anderem anderen anderer anderes
auch auf aus bei beim bin bis bist bitte da dabei dadurch daher damit dann darauf daruber das
dass dazu dem den denen denn der deren des dessen dich die dies diese diesem diesen dieser
dieses dir doch dort du durch ein eine einem einen einer eines einige er es etwa euch euer fur
gab gegen gewesen gibt habe haben hat hatte hatten hier hin ich ihm ihn ihnen ihr ihre ihrem
ihren ihrer im in ins ist ja jede jedem jeden jeder jedes jetzt kann kein keine konnen konnte
man manche mehr mein mich mir mit muss nach nein nicht nichts noch nun nur ob oder ohne sehr
sei sein seine seinem seinen seiner seit sich sie sind so solche soll sollte sondern sowie
uber um und uns unser unter viel vom von vor wann war waren warum was weil welche welchem
welchen welcher welches wenn wer werde werden wie wieder wieviel will wir wird wo wurde wurden
zu zum zur zwischen zwar beziehungsweise bzw usw ca sowie danach
"""
_STOP_EN = """
a about after again all also am an and any are as at be been before being between both but by
can could did do does doing during each few for from had has have having he her here him his
how i if in into is it its just many me more most much my no nor not now of off on once only
or other our out over own same she should so some such than that the their them then there
these they this those through to too under until up very was we were what when where which
while who whom why will with would you your
"""
_STOP = frozenset(_STOP_DE.split()) | frozenset(_STOP_EN.split())

# Frequent parts of German compounds: a token that starts or ends with one also yields the part,
# so "Handel" finds "Außenhandel" and "Kooperation" finds "Hochschulkooperationen".
_PARTS = """
handel wirtschaft politik beziehung partnerschaft kooperation hochschule universitat delegation
reise energie logistik verkehr messe hafen bildung kultur unternehmen ministerium minister
projekt investition markt gesprach veranstaltung institut schule bahn landtag regierung
anfrage antwort jahr forschung studium student tourismus landwirtschaft agrar export import
"""
_TOKEN = re.compile(r"\d+(?:[.,]\d+)*|[^\W\d_]+")


@lru_cache(maxsize=1)
def _stemmer():
    return snowballstemmer.stemmer("german")


@lru_cache(maxsize=65536)
def _stem(word: str) -> str:
    return _stemmer().stemWord(word)


@lru_cache(maxsize=1)
def _parts() -> tuple[str, ...]:
    return tuple(sorted({_stem(w) for w in _PARTS.split()}, key=len, reverse=True))


def fold(text: str) -> str:
    """Lower case, "ß" -> "ss", accents and umlauts dropped ("ä" -> "a", "é" -> "e")."""
    text = text.lower().replace("ß", "ss").replace("ẞ", "ss")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def tokenize(text: str) -> list[str]:
    """BM25 terms: folded, stop words dropped, German Snowball stems (for English text too).

    Umlauts fold to the base vowel, and the stemmer also reads "ae"/"oe"/"ue" as umlauts, so
    "Außenhandel", "Aussenhandel", "München", "Muenchen" and "Munchen" meet. Numbers stay whole
    in a canonical form ("12,811" and "12.811" both give "12,811"; see ``normalize_number``).
    Compounds containing a frequent part also yield that part ("außenhandel" -> + "handel").
    """
    out: list[str] = []
    for m in _TOKEN.finditer(fold(text)):
        tok = m.group()
        if tok[0].isdigit():
            out.append(normalize_number(tok))
            continue
        if len(tok) < 2 or tok in _STOP:
            continue
        stem = _stem(tok)
        out.append(stem)
        for part in _parts():
            if len(stem) >= len(part) + 3 and (stem.startswith(part) or stem.endswith(part)):
                out.append(part)
    return out


# ---------------------------------------------------------------- language

_LANG_DE = frozenset("""
der die das den dem des und ist sind war waren wie welche welcher welches welchen wer wo wann
warum wieso weshalb wieviel wie viele nicht ein eine einer einem einen im am zum zur mit für
von auf auch gibt gab es sich wurde wurden wird werden hat haben hatte bitte danach davor
dazu noch nur oder aber vom beim bei über unter nach seit jahr jahre gespräche hochschulen
""".split())
_LANG_EN = frozenset("""
the and is are were how what which who whom whose where when why not of to for with
on at by from did does do has have had there their this that these those any many much after
before year years please about could would should can will universities university trade
""".split())
_SHARED = _LANG_DE & _LANG_EN  # ignored; "was", "in", "an" are in neither list on purpose


def detect_language(text: str, default: str = "de") -> str:
    """Return "de" or "en" for a question, from function words, umlauts/ß and word endings.

    Short questions carry little signal: "Wismar?" or "2016?" has none, and then ``default``
    is returned (the corpus is German, so "de"; a caller with a conversation should pass the
    language of the previous turn so follow-ups keep the user's language).
    """
    words = re.findall(r"[^\W\d_]+", text.lower())
    de = en = 0.0
    for w in words:
        if w in _SHARED:
            continue
        de += w in _LANG_DE
        en += w in _LANG_EN
        if len(w) >= 5:
            de += 0.5 * bool(re.search(r"(ung|keit|heit|schaft|sch|lich|ßen|ieren)$", w))
            en += 0.5 * bool(re.search(r"(ing|ly|ies|ed|th|tion)$", w))
    de += bool(re.search(r"[äöüß]", text.lower()))
    if de > en:
        return "de"
    if en > de:
        return "en"
    return default


# ---------------------------------------------------------------- numbers

_NUMBER = re.compile(r"(?<![\w.,])\d+(?:[.,]\d+)*")


def numbers(text: str) -> list[str]:
    """Numbers as written, in order: "12,811", "2015", "26" (from "26. August"), "26.07.2017".

    A separator belongs to a number only between digits, so the dot of "26." or "2017." and
    the comma of "75)," stay outside.
    """
    return _NUMBER.findall(text)


def normalize_number(s: str) -> str:
    """A canonical key for comparing numbers: digit groups joined by ",", no leading zeros.

    German writes "12,811" for 12.811 (decimal comma) and "12.811" for 12811 (thousands dot);
    a model answering may switch conventions. We deliberately treat "." and "," alike, so
    "12,811" == "12.811" ("12,811"), while "12811" stays different, and "07" equals "7" only as
    the first group ("07.2017" == "7.2017", but "12,081" != "12,81").
    """
    groups = re.split(r"[.,]", s.strip())
    groups[0] = groups[0].lstrip("0") or "0"
    return ",".join(groups)
