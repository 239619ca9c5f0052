"""The generation seam: one method, ``generate(GenerationRequest) -> Generation`` (text plus its claims).

- ``TransformersGenerator``: the packaged small model in this process. Task "answer" copies a span of
  passage 1 by constrained decoding (it cannot write anything that is not in the evidence); task
  "translate" translates passage 1 into English greedily.
- ``OpenAIGenerator`` (rag/openai_backend.py): any OpenAI-compatible server (vLLM, llama.cpp, Ollama)
  writes a free answer with [n] markers, which rag/generated.py verifies sentence by sentence.
- ``FakeGenerator``: scripted and deterministic, for fast tests.

``make_generator(settings)`` picks one from ``settings.generator``. The in-process model and the fake
also ``stream`` task "translate", so rag/translate.py can stop a translation that already fails a check.
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache
from pathlib import Path
from typing import Iterator, Protocol, Sequence

from .errors import InputError
from .text import split_sentences
from .types import Claim, Generation, GenerationRequest

PROMPTS = Path(__file__).parent / "prompts"
OPENAI_PREFIX = "openai:"  # RAG_GENERATOR=openai:<base-url>#<model>
TASKS = ("answer", "translate")


class Generator(Protocol):
    name: str

    def warm_up(self) -> None: ...  # idempotent: load the model / check the server

    def generate(self, request: GenerationRequest) -> Generation: ...


def make_generator(settings) -> Generator:
    """The generator ``settings.generator`` names: ``openai:<base-url>#<model>`` for a model server,
    else a packaged name or a local folder for the in-process model."""
    if settings.generator.strip().startswith(OPENAI_PREFIX):
        from .openai_backend import OpenAIGenerator

        return OpenAIGenerator.from_settings(settings)
    from . import models

    return TransformersGenerator(models.generator_path(settings), quantize=settings.quantize)


@lru_cache(maxsize=None)
def template(kind: str, lang: str) -> str:
    """The prompt file ``rag/prompts/<kind>_<lang>.txt``."""
    path = PROMPTS / f"{kind}_{lang}.txt"
    if not path.is_file():
        raise InputError(f"no {kind} prompt for language {lang!r}")
    return path.read_text(encoding="utf-8")


def answer_prompt(request: GenerationRequest) -> str:
    """The free-answer prompt for a capable model (``answer_<lang>.txt``). Question, candidates and
    passages are data between delimiters the data itself cannot contain."""
    passages = "\n".join(f"[{n}] {_data(text)}" for n, text in request.passages)
    candidates = "; ".join(_data(c) for c in request.candidates) or "-"
    return (template("answer", _lang(request.language)).replace("{question}", _data(request.question))
            .replace("{candidates}", candidates).replace("{passages}", passages)).rstrip()


def _data(text: str) -> str:
    """Text as prompt data: one line, without the "<<<"/">>>" delimiters."""
    return " ".join(re.sub(r"<{3,}|>{3,}", " ", text).split())


# ---------------------------------------------------------------- [n] markers -> claims

MARKER = re.compile(r"\[(\d+(?:\s*[,;]\s*\d+)*)\]")
_AFTER_END = re.compile(r"(?<=\S)([.!?…])((?:\s*\[\d+(?:\s*[,;]\s*\d+)*\])+)")


def markers(text: str) -> tuple[int, ...]:
    """The passage numbers cited in ``text`` ("[1]", "[1][2]", "[1, 2]"), in order, without repeats."""
    found = (int(n) for m in MARKER.finditer(text) for n in re.split(r"\s*[,;]\s*", m.group(1)))
    return tuple(dict.fromkeys(found))


def split_claims(text: str, default: Sequence[int] = ()) -> tuple[Claim, ...]:
    """One claim per sentence, citing the passages of its own [n] markers (``default`` when it has none).

    Markers written after the full stop ("... Euro. [1] Next") are moved before it first, so they stay
    with the sentence they close.
    """
    text = _AFTER_END.sub(lambda m: " " + m.group(2).strip() + m.group(1), text)
    claims = []
    for s, e in split_sentences(text):
        sentence = text[s:e].strip()
        if sentence:
            claims.append(Claim(sentence, markers(sentence) or tuple(default)))
    return tuple(claims)


# ---------------------------------------------------------------- the in-process model

class TransformersGenerator:
    """The packaged (or any local) transformers model. Loads on first use; one request at a time."""

    def __init__(self, model: str | Path, *, quantize: bool = False, threads: int | None = 1,
                 name: str | None = None):
        from .decoding import CausalLM  # imports no torch until the model loads

        self.lm = CausalLM(model, quantize=quantize, threads=threads, name=name)
        self.name = self.lm.name
        self._lock = threading.Lock()  # the decoder reuses the last prompt's cache: no interleaving

    def warm_up(self) -> None:
        self.lm.warm_up()

    def generate(self, request: GenerationRequest) -> Generation:
        if request.task not in TASKS:
            raise InputError(f"unknown generation task {request.task!r} ({', '.join(TASKS)})")
        if not request.passages:
            return Generation("")
        with self._lock:
            if request.task == "translate":
                return self._translate(request)
            return self._answer(request)

    def _answer(self, request: GenerationRequest) -> Generation:
        """A verbatim span of passage 1 (whitespace runs as single spaces) answering the question."""
        n, passage = request.passages[0]
        source = " ".join(passage.split())
        prompt = (template("short", _lang(request.language)).replace("{evidence}", source)
                  .replace("{question}", request.question.strip()))
        span = self.lm.copy_span(prompt, source, max_new_tokens=request.max_new_tokens)
        return Generation(span, (Claim(span, (n,)),) if span else ())

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Task "translate" as it is written, piece by piece; closing the iterator stops the model (the
        caller may see early that a translation cannot be shown)."""
        if request.task != "translate":
            raise InputError(f"only task 'translate' streams, not {request.task!r}")
        if not request.passages:
            return
        with self._lock:
            yield from self._translation(request)

    def _translate(self, request: GenerationRequest) -> Generation:
        """Passage 1 in ``request.language`` (only English has a prompt), one line, no claims."""
        return Generation("".join(self._translation(request)).strip())

    def _translation(self, request: GenerationRequest) -> Iterator[str]:
        _, passage = request.passages[0]
        prompt = template("translate", request.language).replace("{text}", " ".join(passage.split())).rstrip()
        return self.lm.stream(prompt, max_new_tokens=request.max_new_tokens, stop=["\n"])


def _lang(language: str) -> str:
    return language if language in ("de", "en") else "en"


# ---------------------------------------------------------------- the fake

class FakeGenerator:
    """Deterministic stand-in for fast tests; loads nothing.

    With ``replies`` (one string, or a list used in turn with the last one repeating) each request gets
    the next reply as its text, split into claims by its [n] markers. Without, task "answer" copies the
    first sentence of passage 1 (up to ". ", "? ", "! " or a line break, cut to ``max_new_tokens`` words)
    as one claim citing that passage, and "translate" returns passage 1 unchanged. ``requests`` records
    every request, so tests can check what a generator was (and was not) given.
    """

    name = "fake-generator"

    def __init__(self, replies: str | Sequence[str] | None = None):
        self.replies = [replies] if isinstance(replies, str) else list(replies or [])
        self.requests: list[GenerationRequest] = []

    def warm_up(self) -> None:
        pass

    def stream(self, request: GenerationRequest) -> Iterator[str]:
        """Task "translate" word by word (the text ``generate`` would return)."""
        if request.task != "translate":
            raise InputError(f"only task 'translate' streams, not {request.task!r}")
        yield from re.findall(r"\s*\S+", self.generate(request).text)

    def generate(self, request: GenerationRequest) -> Generation:
        if request.task not in TASKS:
            raise InputError(f"unknown generation task {request.task!r} ({', '.join(TASKS)})")
        self.requests.append(request)
        if self.replies:
            reply = self.replies[min(len(self.requests), len(self.replies)) - 1]
            return Generation(reply, split_claims(reply) if request.task == "answer" else ())
        if not request.passages:
            return Generation("")
        n, passage = request.passages[0]
        if request.task == "translate":
            return Generation(passage)
        m = re.search(r"[.?!](?=\s)|\n", passage)
        words = re.findall(r"\s*\S+", passage[:m.end()] if m else passage)
        span = "".join(words[:request.max_new_tokens]).strip()
        return Generation(span, (Claim(span, (n,)),) if span else ())
