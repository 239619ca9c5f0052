"""Files -> cleaned ``Document``. The only module that reads sources.

The clean text is what every offset refers to. Its shape is a contract chunking relies on:
paragraphs are separated by exactly one blank line ("\\n\\n"); a single "\\n" inside a paragraph is
a deliberate line break (list item, table row, a short line such as a sub-heading); wrapped lines
are joined with a space and words split at a line end are joined again; no trailing spaces.
"""
from __future__ import annotations

import hashlib
import io
import json
import re
from pathlib import Path

from .errors import InputError
from .text import LIST_ITEM_RE, MONTHS, NESTED_ITEM, TABLE_ROW
from .types import Document

__all__ = ["SUPPORTED", "load_document", "clean_text", "parse_metadata"]

SUPPORTED = (".txt", ".pdf")
META_KEYS = ("drucksache", "wahlperiode", "date", "parliament", "kind", "asker", "party", "title",
             "transmitted")
_PREAMBLE = 400  # text before the first page marker shorter than this is a cover note on page 1
_CONJUNCTIONS = frozenset({"und", "oder", "bzw", "sowie", "als", "noch", "wie", "bis", "u"})
_ADJ_BEFORE = re.compile(r"(?:^|[\s(„\"])[a-zäöüß]\w*(?:sch|lich)$")
_ADJ_AFTER = re.compile(r"[a-zäöüß]\w*(?:isch|lich)(?:e|en|er|es|em)?\b")
_PAGE_NUMBER = re.compile(r"(?:-\s*)?(?:Seite\s+)?\d{1,4}(?:\s*(?:-|von\s+\d+))?", re.I)


def load_document(path) -> Document:
    """Read a .txt (UTF-8) or .pdf file into a cleaned ``Document``; ``InputError`` if unusable."""
    p = Path(path)
    raw = _read_bytes(p)
    if p.suffix.lower() == ".pdf":
        text, page_starts = clean_text("\f".join(_pdf_pages(raw, p)))
    else:
        text, page_starts = clean_text(_decode(raw, p))
    if not text:
        raise InputError(f"{p} contains no text")
    metadata = {**parse_metadata(text), **_sidecar(p)}
    metadata.update(pages=len(page_starts), format=p.suffix.lower().lstrip("."))
    from . import card
    from .chunking import structure

    questions, joint = structure(text)
    return Document(doc_id=p.stem, text=text, source=str(p), sha256=hashlib.sha256(raw).hexdigest(),
                    page_starts=page_starts, metadata=metadata, card=card.build(text, metadata, questions, joint))


# ---------------------------------------------------------------- reading

def _read_bytes(p: Path) -> bytes:
    if not p.exists():
        raise InputError(f"no such file: {p}")
    if p.is_dir():
        raise InputError(f"{p} is a directory, not a file")
    if p.suffix.lower() not in SUPPORTED:
        raise InputError(f"unsupported file type {p.suffix or '(none)'!r} for {p.name}; use .txt or .pdf")
    try:
        raw = p.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read {p}: {err.strerror}") from None
    if not raw.strip():
        raise InputError(f"{p} is empty")
    return raw


def _decode(raw: bytes, p: Path) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise InputError(f"{p} is UTF-16 text; save it as UTF-8")
    if b"\x00" in raw:
        at = raw.index(b"\x00")
        raise InputError(f"{p} looks binary (NUL byte at offset {at}), not text")
    try:
        return raw.decode("utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as err:
        raise InputError(f"{p} is not UTF-8 text: invalid byte 0x{raw[err.start]:02x} "
                         f"at offset {err.start}") from None


def _pdf_pages(raw: bytes, p: Path) -> list[str]:
    from pypdf import PdfReader

    if not raw.lstrip().startswith(b"%PDF"):
        raise InputError(f"{p} is not a PDF file")
    try:
        reader = PdfReader(io.BytesIO(raw))
        if reader.is_encrypted:
            reader.decrypt("")
        pages = [(page.extract_text() or "").replace("\f", "\n") for page in reader.pages]
    except Exception as err:  # pypdf raises many types for damaged or encrypted files
        raise InputError(f"cannot read PDF {p}: {err}") from None
    if not any(t.strip() for t in pages):
        raise InputError(f"{p} has no extractable text (a scanned PDF needs OCR first)")
    return pages


def _sidecar(p: Path) -> dict:
    """Facts the extraction lost, from ``<stem>.meta.json`` beside the source (optional)."""
    side = p.with_name(p.stem + ".meta.json")
    if not side.is_file():
        return {}
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InputError(f"cannot read metadata {side}: {err}") from None
    if not isinstance(data, dict):
        raise InputError(f"metadata {side} must be a JSON object")
    return data


# ---------------------------------------------------------------- cleaning

def clean_text(raw: str) -> tuple[str, tuple[int, ...]]:
    """Raw extracted text -> (clean text, page_starts). Pages are split by form feeds, or else
    by page markers: lines starting with one space, where the extraction dropped a page header
    (the first marker is page 1's own header when the text before it is a short cover note).

    Lines are joined into paragraphs. Paragraph breaks are blank lines; but when the extraction
    doubled every line break (a blank line after each line, detected by sentences continuing
    across those blank lines), only whitespace-only lines with spaces or 2+ blank lines break.
    """
    pages = raw.replace("\r\n", "\n").replace("\r", "\n").split("\f")
    pages = _drop_running_lines(_split_at_page_heads(pages[0]) if len(pages) == 1 else pages)
    rows = [(line, page) for page, body in enumerate(pages) for line in body.split("\n")]
    texts = [line.strip() for line, _ in rows if line.strip()]
    if not texts:
        return "", (0,)
    markers = {i for i, (line, _) in enumerate(rows) if re.match(r" \S", line)}
    use_markers = len(pages) == 1 and 0 < len(markers) <= max(1, len(texts) // 10)
    doubled = _is_doubled(rows)
    widths = sorted(len(t) for t in texts)
    width = max(60, widths[int(0.9 * (len(widths) - 1))])

    paras: list[str] = []
    starts: list[int] = []  # clean offsets where a new source page or a marker begins
    cur, gap, prev_page, prev_line, offset = "", [], 0, "", 0
    for i, (line, page) in enumerate(rows):
        stripped = line.strip()
        if not stripped:
            gap.append(line)
            continue
        marker = use_markers and i in markers
        breaks = (any(gap) or len(gap) >= 2) if doubled else bool(gap)
        if page != prev_page:  # blank lines at page edges say nothing; a finished sentence does,
            # and so does a numbered item opening a page after text that is no list (a question after a footer)
            breaks = prev_line.endswith((".", "!", "?", ":")) or bool(
                LIST_ITEM_RE.match(stripped) and not _starts_with_date(stripped)
                and not (LIST_ITEM_RE.match(cur) or LIST_ITEM_RE.match(prev_line) or prev_line.endswith((",", ";"))))
        if cur and (breaks or marker):
            paras.append(cur)
            offset += len(cur) + 2
            cur = ""
        if cur:
            head, sep = _join(cur, prev_line, stripped, width)
            cur = head + sep
        starts += [offset + len(cur)] * (page - prev_page + marker)
        cur += stripped
        gap, prev_page, prev_line = [], page, stripped
    paras.append(cur)
    text = "\n\n".join(paras)
    starts += [len(text)] * (len(pages) - 1 - prev_page)  # trailing pages without text
    if use_markers and starts[0] < _PREAMBLE:
        starts = starts[1:]  # page 1's own header stood there
    return text, (0, *starts)


def _is_doubled(rows) -> bool:
    """True when a blank line follows every line, so single blank lines are not paragraphs."""
    gaps, prev, blank = [], None, []
    for line, _ in rows:
        if not line.strip():
            blank.append(line)
            continue
        if prev is not None:
            gaps.append((prev, blank, line.strip()))
        prev, blank = line.strip(), []
    single = [(a, b) for a, g, b in gaps if g == [""]]
    if not gaps or len(single) < 0.5 * len(gaps):
        return False
    continued = sum(b[:1].islower() or a.endswith((",", "-")) for a, b in single)
    return continued >= 0.25 * len(single)


def _join(a: str, last: str, b: str, width: int) -> tuple[str, str]:
    """How paragraph text ``a`` (whose last source line is ``last``) continues with the next
    source line ``b``: (new a, separator)."""
    word = re.sub(r"\W+$", "", b.split()[0]).lower()
    if a.endswith("\u00ad"):  # soft hyphen
        return a[:-1], ""
    if len(a) >= 2 and a[-1] == "-" and a[-2].isalpha():
        if word in _CONJUNCTIONS:
            return a, " "  # suspended compound: "Kultur- und Bildungspolitik"
        if not b[0].islower():
            return a, ""  # "Mecklenburg-" + "Vorpommern", "Historisch-" + "Technische"
        if _ADJ_BEFORE.search(last[:-1]) and _ADJ_AFTER.match(b):
            return a, ""  # "deutsch-" + "russische"
        return a[:-1], ""  # "Landes-" + "regierung"
    if LIST_ITEM_RE.match(b) and not _starts_with_date(b):
        if last[-1] in ".:;,?!" or LIST_ITEM_RE.match(last):
            return a, "\n"
    if NESTED_ITEM.match(b) and last[-1] in ".:;?!":
        return a, "\n"  # "1.3 Wie ...?" after "1.2 ...?": questions numbered within a block, one a line
    if TABLE_ROW.match(last) or TABLE_ROW.match(b):
        return a, "\n"  # a table row: its columns are set apart by runs of spaces
    if len(last) + 1 + len(b.split()[0]) <= 0.7 * width:
        return a, "\n"  # the line ended early on purpose: a list row or a short heading line
    return a, " "


def _starts_with_date(line: str) -> bool:
    m = re.match(r"\d{1,2}\.\s+(\w+)", line)
    return bool(m) and m.group(1).lower() in MONTHS


_PAGE_HEAD = re.compile(r"\bSeite\s+#(?:\s*(?:/|von)\s*#)?(?!\w)|(?:^|\s)[-–]\s*#\s*[-–](?:\s|$)")


def _split_at_page_heads(body: str) -> list[str]:
    """A text extracted without form feeds, cut into pages at its running page lines: a line with a
    page number ("Seite 3/6", "- 3 -") whose shape repeats. Each such line opens its page."""
    lines = body.split("\n")
    shapes = [_shape(ln) for ln in lines]
    counts: dict[str, int] = {}
    for sh in shapes:
        counts[sh] = counts.get(sh, 0) + 1
    heads = [i for i, sh in enumerate(shapes) if sh and counts[sh] >= 2 and _PAGE_HEAD.search(sh)]
    if len(heads) < 2:
        return [body]
    cuts = [0, *heads, len(lines)]
    return ["\n".join(lines[a:b]) for a, b in zip(cuts, cuts[1:]) if b > a]


def _drop_running_lines(pages: list[str]) -> list[str]:
    """Drop page numbers and header/footer lines repeated at the top or bottom of most pages."""
    if len(pages) < 2:
        return pages
    edges = []
    for body in pages:
        lines = [ln for ln in body.split("\n") if ln.strip()]
        edges.append({_shape(ln) for ln in lines[:2] + lines[-2:]})
    counts: dict[str, int] = {}
    for shapes in edges:
        for s in shapes:
            counts[s] = counts.get(s, 0) + 1
    running = {s for s, n in counts.items() if n >= max(2, (len(pages) + 2) // 3)}
    out = []
    for body in pages:
        lines = body.split("\n")
        idx = [i for i, ln in enumerate(lines) if ln.strip()]
        edge = set(idx[:2] + idx[-2:])
        out.append("\n".join(ln for i, ln in enumerate(lines) if i not in edge or not (
            _shape(ln) in running or _PAGE_NUMBER.fullmatch(ln.strip()))))
    return out


def _shape(line: str) -> str:
    return re.sub(r"\d+", "#", " ".join(line.split()))


# ---------------------------------------------------------------- metadata

def parse_metadata(text: str) -> dict:
    """What the clean text says about itself; keys of ``META_KEYS``, ``None`` where unknown."""
    meta: dict = dict.fromkeys(META_KEYS)
    paras = text.split("\n\n")
    m = re.search(r"\b(?:des|der) Abgeordneten ([^,\n]+?),\s*Fraktion (?:der )?([^\n]+)", text)
    if m:
        meta["asker"], meta["party"] = m.group(1).strip(), m.group(2).strip()
        i = text.count("\n\n", 0, m.start()) + 1
        if i < len(paras) and len(paras[i]) <= 300:
            meta["title"] = " ".join(paras[i].split())
    m = re.search(r"mit Schreiben\s+vom\s+(\d{1,2}\.\s*[^\W\d]+\s+\d{4})", text)
    if m:
        meta["transmitted"] = " ".join(m.group(1).split())
    m = re.search(r"Drucksache\s+(\d{1,2})/(\d+)", text)
    if m:
        meta["drucksache"], meta["wahlperiode"] = f"{m[1]}/{m[2]}", int(m[1])
    m = re.search(r"^(KLEINE|GROSSE|GROẞE) ANFRAGE\b", text, re.M)
    if m:
        kind = m.group(1).capitalize().replace("Grosse", "Große") + " Anfrage"
        if re.search(r"^ANTWORT\b", text, re.M):
            kind += " und Antwort der Landesregierung"
        meta["kind"] = kind
    return meta
