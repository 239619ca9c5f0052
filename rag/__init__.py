"""Offline, cited question answering over German parliamentary papers.

    from rag import Pipeline
    answer = Pipeline().ask("Wie hoch war der Außenhandel mit Kasachstan 2016?")
"""
from .config import Settings
from .errors import RagError
from .pipeline import Pipeline
from .types import Answer, Chunk, Citation, Hit

__all__ = ["Pipeline", "Settings", "Answer", "Citation", "Hit", "Chunk", "RagError"]
