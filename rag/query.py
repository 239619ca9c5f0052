"""Question analysis: what kind of answer is asked for, about what, in which language.

General rules from German and English question words and syntax; nothing here knows a paper's
topics. The expected answer type is one of ``TYPES``; the focus is the content words naming the
thing asked for; ``meta`` names the document-card field when the question is about the paper itself
(who asked, which party, the date, how many questions, what question 3 asked, ...).
"""
from __future__ import annotations

import re

from .language import detect_language
from .text import YEAR, fold
from .types import Query

TYPES = ("person", "organisation", "name", "place", "date", "money", "count", "percentage", "rank", "list",
         "yesno", "reason", "description")

_I = re.IGNORECASE
_MONEY = re.compile(r"(euro|eur\b|€|\bgeld|kosten|\bkostet\w*|betrag|\bbetrug|volumen|volumina|umsatz|wert\b|"
                    r"summe|mittel\b|\bförder\w*|budget|ausgaben|einnahmen|\binvesti\w*|handel\b|"
                    r"money|cost\w*|amount|sum|worth|value|volume|funding|funds|spend\w*|budget|revenue|"
                    r"turnover|trade|exports?|imports?|paid|price|sales|income|erlös\w*)\b", _I)
_PERCENT = re.compile(r"\b(prozent\w*|anteil\w*|quote|percent\w*|share|proportion|rate)\b|%", _I)
_RANK = re.compile(r"\b(platz|rang\w*|rank\w*|position)\b", _I)
_HOW_MANY = re.compile(r"\b(wie\s*viele|wieviele|anzahl|zahl der|how\s+many|number\s+of)\b", _I)
_HOW_MUCH = re.compile(r"\b(wie\s+hoch|wie\s*viel|wieviel|how\s+much|how\s+high|how\s+large|how\s+big|"
                       r"what\s+(?:was|is|were|are)\s+the\s+(?:\w+\s+)?(?:volume|value|amount|level|total))\b", _I)
_MONEY_HEAD = re.compile(r"\W*(\w*(euro|geld|mittel|kosten|betrag|summe)|eur|€|dollar|money|mio|millionen|milliarden)\b",
                         _I)  # the word after "wie viele"/"wie viel" names money
_COST = re.compile(r"\b(was\s+kostet\w*|was\s+kosteten|wie\s+teuer|what\s+(?:\w+\s+){0,8}cost|how\s+expensive|"
                   r"what\s+(?:is|was|are|were)\s+the\s+(?:\w+\s+)?(?:price|cost)s?)\b", _I)
_MEASURE = re.compile(r"\b((what|was)\s+(is|was|are|were|ist|war|sind|waren)\s+(the|die|der|das)\s+(\w+\s+)?(population|"
                      r"einwohnerzahl|number|zahl|size|größe|length|länge|capacity|kapazität|leistung|total|gesamtzahl|"
                      r"volume)|wie\s+(lang|groß|gross|breit|schwer|weit)\s+(ist|war|sind|waren|wird|werden)|how\s+(long|big|"
                      r"large|wide|far|heavy)\s+(is|was|are|were|will))\b", _I)
# A noun right after "wie viel" / "how much" that is not money ("Leistung", "storage capacity"): a quantity.
_QUANTITY_NOUN = re.compile(r"\s+(?!(?:did|does|do|was|is|were|are|has|have|had|will|would|can|could|money|funding|"
                            r"hat|hatte|haben|ist|war|wird|wurde|wurden|sind|kostet\w*|geld|mittel|euro|davon|dafür|hiervon|insgesamt|noch|"
                            r"mehr|etwa|ungefähr|genau|of|more|less|in|im|it|that|this|das|dies)\b)[A-Za-zÄÖÜäöüß][\w\-]+"
                            r"(?:\s+(?!(?:did|does|was|is|were|are|has|have|will|hat|ist|war|wird|wurde|sind)\b)[a-z][\w\-]+)?"
                            r"\s+(?:did|does|do|was|is|were|are|has|have|had|will|ist|war|wird|wurde|wurden|sind|hat|haben|gibt|"
                            r"gab|in|an|im|bei|for|of|from)\b", _I)
_WHEN = re.compile(r"\b(wann|an welchem tag|in welchem (jahr|monat)|seit wann|bis wann|welche[ms]? datum|"
                   r"when|what date|which date|what day|in which (year|month)|what year|which year)\b", _I)
_WHERE = re.compile(r"\b(wo|wohin|woher|in welche[rm]? (stadt|ort|land|region)|where|in which (city|town|place|country))\b", _I)
_WHO = re.compile(r"^\W*(?:und\s+|and\s+)?(wer|wem|wen|wessen|von wem|mit wem|who|whom|whose|by whom)\b", _I)
_WHY = re.compile(r"\b(warum|weshalb|wieso|weswegen|aus welche\w* grund|mit welche\w* (ziel|zweck)|zu welche\w* zweck|"
                  r"wozu|why|for what (reason|purpose)|what (was|is|were) the (purpose|aim|goal|reason))\b", _I)
_LIST = re.compile(r"\b(welche\s+\w+|which\s+\w+|what\s+\w+\s+(are|were|have|did)|nenne\w*|aufz\w+|liste\w*|list|"
                   r"name\s+(all|the)|alle\b|all\b|what are the|was sind die|which ones)\b", _I)
_NAME = re.compile(r"\b(wie hei(ß|ss)t|wie lautet der name|name[n]?\b|namens|called|named|what is the name)\b", _I)
_PERSON_NOUN = re.compile(r"\b(person|abgeordnete\w*|minister\w*|staatssekret\w*|präsident\w*|bürgermeister\w*|"
                          r"fragesteller\w*|unterzeichn\w*|leiter\w*|vertreter\w*|minister|secretary|mayor|"
                          r"president|mp|member|asker|representative|signator\w*|head|leader|chair\w*|botschafter\w*|"
                          r"konsul\w*|gesandte\w*|diplomat\w*|kanzler\w*|senator\w*|ambassador|consul|envoy|chancellor|"
                          r"governor|spokes\w*|sprecher\w*)\b", _I)
_PLACE_NOUN = re.compile(r"\b(stadt|ort|land|region|hauptstadt|city|town|place|country|capital|venue)\b", _I)
_YESNO = {"de": re.compile(r"^\W*(?:und\s+|auch\s+)?(gibt|gab|hat|hatte|haben|hatten|ist|sind|war|waren|wird|"
                          r"werden|wurde|wurden|kann|können|soll|sollen|existier\w*|bestehen|besteh\w*|plant)\b", _I),
          "en": re.compile(r"^\W*(?:and\s+|also\s+)?(do|does|did|is|are|was|were|has|have|had|can|could|will|would|"
                          r"should)\b", _I)}
_ORDINAL_WORDS = {"erste": 1, "zweite": 2, "dritte": 3, "vierte": 4, "fünfte": 5, "sechste": 6, "first": 1,
                  "second": 2, "third": 3, "fourth": 4, "fifth": 5, "sixth": 6}

# Questions about the paper itself -> the document-card field that answers them.
_SIGN = r"(unterzeichn\w*|unterschrieb\w*|unterschrieben|signed|signator\w*|signature\w*|signing)"
_META = [
    ("reference", re.compile(r"\b(ursprünglich\w*|original\w*)\b.{0,40}\b(anfrage|question|inquiry|request|drucksache)|"
                             r"drucksache(n-?nummer)?\s+der\s+(kleinen\s+|großen\s+|schriftlichen\s+)?anfrage", _I)),
    ("signers", re.compile(rf"\b{_SIGN}\b.{{0,40}}\b(antrag\w*|motion|anfrage|inquiry|request)\b|"
                           rf"\b(antrag\w*|motion|anfrage|inquiry)\b.{{0,40}}\b{_SIGN}", _I)),
    ("signed", re.compile(rf"\b{_SIGN}\b.{{0,40}}\b(stellungnahme|antwort|answer|reply|response|statement|paper|"
                          rf"dokument|document|drucksache)\b|\b(stellungnahme|antwort|answer|reply|response|statement|"
                          rf"dokument|document|drucksache)\b.{{0,40}}\b{_SIGN}", _I)),
    ("question_text", re.compile(r"\b(frage|question)\s*(nr\.?\s*)?\d+\s*[a-z]?\)?|\b(erste|zweite|dritte|vierte|fünfte|"
                                 r"first|second|third|fourth|fifth)n?\s+(frage|question)", _I)),
    ("joint", re.compile(r"(zusammen\w*|gemeinsam)\s+beantwort|together|jointly|combined", _I)),
    ("question_count", re.compile(r"(wie\s*viele|wieviele|anzahl\w*( der)?|how many|number of)\s+(\w+\s+)?(fragen|questions|"
                                  r"teilfragen|sub-?questions|punkte|points)", _I)),
    ("party", re.compile(r"\b(partei|fraktion|party|faction|parliamentary group|caucus)\b", _I)),
    ("asker", re.compile(r"\b(wer\b.{0,40}\b(ge)?(fragt|gestellt|eingereicht)|fragesteller\w*|who\b.{0,40}\b(ask|submit|"
                         r"pose|file|raise|put)\w*|author of the (question|inquiry|request)|which (mp|member))", _I)),
    ("answerer", re.compile(r"\b((wer|wen)\b.{0,40}\b(be)?antwort\w*|who\b.{0,40}\b(answer|respond|repl)\w*|namens|on (whose )?behalf|"
                            r"in whose name|(welche[sm]?|which)\s+(ministeri\w*|ministry|department|behörde|authority|body|"
                            r"stelle|ressort)\b.{0,60}\b(antwort\w*|beantwort\w*|answer\w*|respon\w*|repl\w*|stellung)|"
                            r"stellung\s+genommen|nimmt\s+stellung|nahm\s+stellung)", _I)),
    ("transmitted", re.compile(r"\b(übermittelt|uebermittelt|übersandt|übersendet|weitergeleitet|zugeleitet|geschickt|"
                               r"schreiben vom|transmit\w*|sen[dt]s?|forward\w*|letter|submitted)\b", _I)),
    ("period", re.compile(r"\b(wahlperiode|legislaturperiode|legislative (period|term)|electoral term)\b", _I)),
    ("number", re.compile(r"\b(drucksachen-?nummer|nummer der drucksache|document number|paper number|"
                          r"printed paper number|which drucksache|drucksache number|number of (this|the) (paper|document|"
                          r"drucksache))\b", _I)),
    ("parliament", re.compile(r"\b(welche[ms]? (landtag|parlament)|which (parliament|state parliament|landtag))\b", _I)),
    ("kind", re.compile(r"\b(art des dokuments|dokumenttyp|was für ein dokument|um was für|what (kind|type) of "
                        r"(document|paper)|document type|type of (document|paper))\b", _I)),
    ("asked_on", re.compile(r"\b(wann|when|an welchem (tag|datum)|on what (day|date)|what date|which date)\b.{0,60}\b"
                            r"(gestellt|eingereicht|eingebracht|submitted|asked|filed|tabled|posed|sent in)\b", _I)),
    ("answered_on", re.compile(r"\b(wann|when|an welchem (tag|datum)|on what (day|date)|what date|which date)\b.{0,60}\b"
                               r"(beantwortet|geantwortet|answer|answered|respond|responded|reply|replied|response)\b", _I)),
    ("issued", re.compile(r"\b(veröffentlicht|ausgegeben|erschienen|herausgegeben|published|issued|released)\b", _I)),
    ("date", re.compile(r"\b(datum|datiert|date[d]?|wann\b.{0,40}\b(drucksache|dokument|antwort|veröffentlicht|erschienen)|"
                        r"when\b.{0,40}\b(paper|document|answer|published|issued|dated))\b", _I)),
    ("title", re.compile(r"\b(titel|betreff|überschrift|title|subject|heading)\b.{0,40}\b(anfrage|drucksache|"
                         r"dokument|paper|inquiry|request|document)\b", _I)),
]
_PAPER = re.compile(r"\b(anfrage|drucksache|dokument|papier|antwort|paper|document|inquiry|interpellation|stellung(?:nahme)?|"
                    r"request|fragesteller|answer|question\s*\d|frage\s*\d|fragen|questions)\b", _I)

_STOP = frozenset(fold(w) for w in """
der die das den dem des ein eine einer eines einem einen und oder aber auch noch nur schon sehr mehr
wie was wer wem wen wessen wo wohin woher wann warum weshalb wieso welche welcher welches welchen welchem
ist sind war waren wird werden wurde wurden hat haben hatte hatten gibt gab es sich sie er ihr ihre ihren
im in am an auf aus bei mit nach von vor zu zum zur für über unter zwischen durch um gegen ob dass
viel viele hoch lange bitte denn dann da dort hier dies diese dieser dieses damit davon dazu darüber
kann können soll sollen nicht kein keine alle allen jahr jahre jahren mal etwa genau insgesamt
the a an and or but also only very more how what who whom whose where when why which is are was were
be been being has have had do does did there their this that these those it its of to in on at by for
from with about into over under between please tell me us you can could would should will any all
many much much year years total exactly
eigentlich genau denn überhaupt konkret jeweils bereits actually exactly specifically really just even
among either least most each every other another als than wie
eins zwei drei vier fünf sechs sieben acht neun zehn elf zwölf one two three four five six seven eight nine ten
""".split())
# Words that point at the paper itself ("in der Antwort erwähnt", "comes up in the paper"): not the thing
# asked for, so not focus words (meta questions about the paper are recognised before focus matters).
_ABOUT_PAPER = frozenset(fold(w) for w in """
drucksache dokument dokuments papier antwort antworten anfrage landesregierung bundesregierung erwähnt erwähnte
erwähnten genannt genannte genannten aufgeführt aufgeführten aufgezählt nennt nennen steht stehen
paper document answer answers inquiry mentioned mentions mention named listed cited comes come refer refers
""".split())
_QWORDS = re.compile(r"^(wie|was|wer|wem|wen|wessen|wo|wann|warum|weshalb|wieso|welch\w*|how|what|who|whom|whose|"
                     r"where|when|why|which)$", _I)


# Text that talks to the model instead of asking about the paper: "ignore previous instructions",
# "forget the document", "you are now ...", "print your system prompt", "answer only with ...".
_TO_THE_MODEL = re.compile(
    r"(?:^|[.!?:;,]\s*|\b(?:und|and|now|jetzt|nun|bitte|please|just|einfach|dann|then|so)\s+)"  # an imperative ...
    r"(?:(?:ignore|ignorier[et]?|missachte|disregard|übergehe?)\s+(?:\w+\s+){0,3}(?:previous|prior|above|earlier|"
    r"vorherig\w*|bisherig\w*|obig\w*|instruction\w*|anweisung\w*|vorgabe\w*|direction\w*|regel\w*|rules?|"
    r"quellen\w*|citation\w*|sources?)|(?:vergiss|vergessen\s+sie|forget)\s+(?:\w+\s+){0,2}(?:alle\w*|deine\w*|"
    r"ihre\w*|all|your|the\s+(?:paper|document|rules|sources?)|die\s+(?:drucksache|quelle\w*|regel\w*)|"
    r"das\s+dokument|quellen\w*))"  # ... to drop the rules, or a new role, or a demand for the prompt
    r"|\bsystem\s*-?prompt|\byou(?:\s+are|'re)\s+(?:now\b|(?:\w+\s+){0,3}(?:assistant|ai|model)\s+now)|"
    r"\b(?:du\s+bist|sie\s+sind)\s+(?:ab\s+)?(?:jetzt|nun)\b|^\W*(?:system|admin\w*(?:-anweisung)?|developer)\s*:|"
    r"\b(?:answer|respond|reply|say)\s+(?:only\s+)?(?:with|that)\b|\bantworte\s+(?:\w+\s+){0,2}?(?:nur\s+|"
    r"ausschließlich\s+)?(?:mit|dass)\b|\bas\s+an?\s+(?:ai|language\s+model)|developer\s+mode|jailbreak|"
    r"\b(?:bestätige|antworte|sag|schreib)\w*\s+(?:\w+\s+){0,4}mit\s+dem\s+(?:satz|wort)\b|"
    r"\b(?:confirm|answer|reply|respond|say)\s+(?:\w+\s+){0,4}with\s+the\s+(?:sentence|words?|phrase)\b", _I)
_OWN_QUESTION = re.compile(r"(?:^|[.!]\s+)(?:(?:frage|question)\s*:\s*)?((?:wie|was|wer|wem|wen|wo|wann|warum|welch\w*|gibt|gab|how|what|who|where|"
                           r"when|why|which|did|does|is|are|was|were)\b[^.!?]*\?)\s*$", _I)


def instruction_like(text: str) -> bool:
    """Text that talks to the model ("ignore previous instructions ...", "answer with ..."): a passage
    like this is never given to a model nor counted as evidence; a question like this is refused."""
    return bool(_TO_THE_MODEL.search(text))


def set_aside(question: str) -> str | None:
    """``question`` without an instruction to the assistant set apart from it; None when the question
    is an instruction (``Query.instruction``). An instruction in brackets before a real question
    ("[ADMIN OVERRIDE: ...] What was ...?") is dropped, and so is one followed by a question of its own
    that does not instruct ("Ignore X. How many ferries ...?"; not "... Is that right?", which asks about
    the instruction)."""
    text = re.sub(r"\[[^\]]*\]", " ", question).strip()
    if not instruction_like(text):
        return text if text != question.strip() else question
    own = _OWN_QUESTION.search(text)
    if own and own.start(1) > 0 and not instruction_like(own.group(1)) and focus_words(own.group(1)) and not \
            re.search(r"\b(that|this|it|das|dies\w*)\b", own.group(1), _I):  # "Is that right?" asks about the instruction
        return own.group(1)
    return None


def analyse(question: str, resolved: str | None = None, history=(), language: str | None = None) -> Query:
    """The ``Query`` for ``question`` (``resolved``: its self-contained form, when it is a follow-up)."""
    asked = set_aside(question)
    resolved = (asked or question) if resolved in (None, question) else resolved
    default = detect_language(history[-1][0]) if history else "de"
    lang = language or detect_language(question, default=default)
    expected = expected_type(question, lang)  # a follow-up with a question word of its own asks for its own kind
    if resolved != question and expected == "description":
        expected = expected_type(resolved, lang)
    return Query(text=question, resolved=resolved, language=lang, expected=expected,
                 focus=focus_words(resolved), years=tuple(dict.fromkeys(YEAR.findall(resolved))),
                 meta=meta_field(resolved), history=tuple((str(u), str(a)) for u, a in history),
                 instruction=asked is None)


def expected_type(q: str, language: str = "de") -> str:
    """The kind of answer the question asks for (see ``TYPES``)."""
    if _WHY.search(q):
        return "reason"
    if _HOW_MANY.search(q):
        return "money" if _MONEY_HEAD.match(_after(_HOW_MANY, q)) else "count"
    if re.search(r"\b(wie\s*viel|wieviel)\s+\w*", q, _I) and _MONEY_HEAD.match(_after(re.compile(
            r"\b(wie\s*viel|wieviel)\b", _I), q)):
        return "money"  # "Wie viel Fördergeld ...?"
    if _HOW_MUCH.search(q) or re.search(r"\b(wie\s+hoch|how\s+(much|high))\b", q, _I):
        if _PERCENT.search(q):
            return "percentage"
        if _RANK.search(q):
            return "rank"
        much = re.search(r"\b(how\s+much|wie\s*viel(?!e))\b", q, _I)
        if much and not _MONEY.search(q) and _QUANTITY_NOUN.match(q[much.end():]):
            return "count"  # "wie viel Elektrolyseleistung", "how much storage capacity": a quantity, not money
        return "money" if (_MONEY.search(q) or much) else "count"
    if _COST.search(q):
        return "money"  # "Was kostet ...?", "What will it cost?", "Wie teuer ...?"
    if _MEASURE.search(q) and not _MONEY.search(q):
        return "count"  # "What is the population of ...?", "Wie lang ist ...?"
    if _RANK.search(q) and re.search(r"\b(welche\w*|which|what|where|wo|wie)\b", q, _I):
        return "rank"
    if _PERCENT.search(q) and re.search(r"\b(welche\w*|which|what|wie)\b", q, _I):
        return "percentage"
    if _WHEN.search(q):
        return "date"
    if _WHO.search(q):
        return "person" if _PERSON_NOUN.search(q) or re.search(r"\b(wer|who)\b", q, _I) else "organisation"
    if _NAME.search(q):
        return "place" if _PLACE_NOUN.search(q) else "name"  # a proper name, not a role ("the minister")
    if _WHERE.search(q):
        return "place"
    if _YESNO[language].search(q):
        # "Wächst er oder schrumpft er?", "Did it improve or worsen?": a choice, answered by the quote
        return "description" if re.search(r"\w\s+(oder|or)\s+\w+", q, _I) and not re.search(
            r"\b(oder|or)\s+(nicht|not|no|kein\w*)\b", q, _I) else "yesno"
    if re.search(r"\b(what|was)\s+(is|was|ist|war)\s+(the|die|der|das)\s+(\w+\s+)?", q, _I) and _PLACE_NOUN.search(q):
        return "place"
    if _LIST.search(q):
        head = re.search(r"\b(?:welche|which)\s+(\w+)", q, _I)
        if head and _PLACE_NOUN.fullmatch(head.group(1)):
            return "place"
        if head and _PERSON_NOUN.fullmatch(head.group(1)):
            return "person"
        if head and re.fullmatch(r"\w+(en|er|e|n|s|ies|es)", head.group(1), _I) and not re.fullmatch(
                r"(rolle|role|bedeutung|art|form|zweck|ziel|purpose|aim)\w*", head.group(1), _I):
            return "list"
        return "description"
    return "description"


def counted(q: str) -> tuple[str, ...]:
    """The words naming the thing counted in a "how many" question: ("funded", "hydrogen", "projects")
    in "How many of the funded hydrogen projects ...", ("Förderprogramme",) in "Wie viele
    Förderprogramme ...", or ()."""
    m = re.search(r"\b(?:wie\s*viele|wieviele|how\s+many|number\s+of|anzahl\s+(?:der|an))\s+(?:of\s+)?(?:the\s+|these\s+|those\s+)?"
                  r"((?:[\w\-]+\s+){0,4}?)([\w\-]+?(?:s|en|er|e|n)?)(?=\s+(?:are|were|did|do|does|have|has|had|is|was|"
                  r"in|at|on|of|for|sind|waren|wurden|werden|hat|haben|gibt|gab|gehören|im|in|auf|für|der|die|des)\b|\W*$)", q, _I)
    if not m:
        return ()
    phrase = m.group(1) + m.group(2)
    if re.match(r"(have|has|had|are|were|is|was|did|do|does|will|would|can|could|sind|waren|haben|hatten|gibt|gab|"
                r"wurden|werden|kamen|kommen)\b", phrase, _I):
        return ()  # "How many have joined?": the thing counted is in the conversation, not here
    noun = re.search(r"\b[A-ZÄÖÜ][\w\-]+", phrase)  # German: the first noun
    if noun and re.match(r"\s*(wie|wieviele|anzahl)", q[m.start():], _I):
        return (noun.group(),)
    return tuple(w for w in re.findall(r"[\w\-]+", phrase) if fold(w) not in _STOP and len(w) > 2)


def asks_person_role(q: str) -> bool:
    """ "Who is the president of ...?", "Wer ist Leiter ...?": a person holding a role, not a body."""
    return bool(_PERSON_NOUN.search(q))


def asks_person_name(q: str) -> bool:
    """ "Wie heißt der Staatssekretär?", "the name of the minister": a person's name, not a role or body."""
    return bool(_NAME.search(q) and _PERSON_NOUN.search(q))


def _after(pattern: re.Pattern, q: str) -> str:
    m = pattern.search(q)
    return q[m.end():] if m else q


# The words meta questions turn on, so that a typo ("anfrge", "gestelt") does not hide one.
_META_WORDS = ("anfrage", "gestellt", "fragesteller", "drucksache", "fraktion", "partei", "beantwortet", "eingereicht",
               "übermittelt", "wahlperiode", "question", "questions", "asked", "submitted", "answered", "document")


# Words a question about the paper itself uses; they say nothing about which paper is meant.
PAPER_WORDS = frozenset(fold(w) for w in _META_WORDS + tuple("""
antrag antrags stellungnahme unterzeichnet unterschrieben unterzeichnete signed signatory motion inquiry request
ministerium ministry fragen punkte points veröffentlicht published issued ausgegeben original ursprüngliche
nummer number tabled datum date wer who paper papier dokument gestellt eingebracht abgeordnete mps member
""".split()))


def _near(a: str, b: str) -> bool:
    """One edit apart (a letter left out, added, changed, or two swapped)."""
    if abs(len(a) - len(b)) > 1 or a == b:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        return len(diff) == 1 or (len(diff) == 2 and diff[1] == diff[0] + 1 and a[diff[0]] == b[diff[1]]
                                  and a[diff[1]] == b[diff[0]])
    short, long_ = sorted((a, b), key=len)
    return any(long_[:i] + long_[i + 1:] == short for i in range(len(long_)))


def _spelled(q: str) -> str:
    """``q`` with words one typo away from a meta word written right."""
    def fix(m):
        w = m.group()
        if len(w) < 5 or w.lower() in _META_WORDS:
            return w
        return next((k for k in _META_WORDS if _near(w.lower(), k)), w)
    return re.sub(r"[^\W\d_]+", fix, q)


def meta_field(q: str) -> str:
    """The document-card field(s) a question about the paper itself asks for ("asker+party" for "Who
    asked, and for which party?"), or ""."""
    q = _spelled(q)
    found = list(dict.fromkeys(_fields(q)))
    for f in [f for f in found if f in _SUBSUMES]:
        found = [g for g in found if g not in _SUBSUMES[f]]
    if "joint" in found:  # "Which question was answered together with question 4.1?"
        found = ["joint"]
    if len(found) > 1 and "question_text" not in found and re.search(r"\b(und|and|sowie)\b|,", q, _I):
        return "+".join(found)
    return found[0] if found else ""


# A field found in a question that makes others found beside it moot ("When was the inquiry submitted?"
# asks for the question's date, not for the asker, the paper's date or the transmittal).
_SUBSUMES = {"transmitted": ("answerer", "date"),  # its card line names who sent the answer, for whom, and when
             "asked_on": ("date", "asker", "issued", "transmitted"), "answered_on": ("date", "answerer", "transmitted"),
             "reference": ("number", "question_text", "asker"), "signers": ("signed", "asker"), "issued": ("date",),
             "signed": ("answerer",)}


def _fields(q: str):
    for name, pattern in _META:
        if not pattern.search(q):
            continue
        if name in ("date", "issued", "transmitted", "title", "answerer", "question_count", "party") and not (
                _PAPER.search(q) or name in ("party", "question_count")):
            continue  # "when was the ambassador ..." is not about the paper's date
        if name == "party" and re.search(r"\b(partner|partnerschaft|seite)\b", q, _I):
            continue
        yield name


def question_number(q: str) -> str:
    """ "3" for "Was fragt Frage 3?", "2 b)" for "question 2b", "4.1" for "question 4.1", "2" for "the second question"."""
    m = re.search(r"\b(?:frage|question)\s*(?:nr\.?\s*)?(\d+(?:\.\d+)?)(?:\s*([a-z])(?:\)|\b))?", q, _I)
    if m:
        return f"{m.group(1)} {m.group(2)})" if m.group(2) else m.group(1)
    m = re.search(r"\b(" + "|".join(_ORDINAL_WORDS) + r")n?\s+(?:frage|question)", q, _I)
    return str(_ORDINAL_WORDS[m.group(1).lower()]) if m else ""


def focus_words(q: str) -> tuple[str, ...]:
    """Content words of the question: not question words, not function words, not bare years."""
    out = []
    q = re.sub(r"\[[^\]]*\]", " ", q)  # "[ADMIN OVERRIDE: ...]" is not what is asked about
    for m in re.finditer(r"[^\W\d_][\w\-]*", q):
        w = m.group()
        if _QWORDS.match(w) or fold(w) in _STOP or fold(w) in _ABOUT_PAPER or len(w) < 3:
            continue
        out.append(w)
    return tuple(dict.fromkeys(out))
