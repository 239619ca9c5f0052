"""Shared fixtures: fakes for fast tests, the real models loaded once per test session."""
from __future__ import annotations


import os

import pytest

# Fast tests must not load the real generator behind a fake pipeline: an English descriptive answer would
# otherwise be translated by the packaged model (the product default). Translation has its own tests.
os.environ.setdefault("RAG_TRANSLATE", "false")

from rag.config import DEFAULT_CORPUS as CORPUS, Settings
from rag.embedding import FakeEmbedder



@pytest.fixture
def fake_settings(tmp_path) -> Settings:
    return Settings.from_env(index_dir=tmp_path / "index", corpus=(CORPUS,), answer_mode="extractive", translate=False)


@pytest.fixture
def fake_pipeline(fake_settings):
    from rag.pipeline import Pipeline

    return Pipeline(fake_settings, embedder=FakeEmbedder(), log=lambda m: None)


@pytest.fixture(scope="session")
def real_settings(tmp_path_factory) -> Settings:
    """The default settings (real packaged models), with an index of the session's own."""
    return Settings.from_env(index_dir=tmp_path_factory.mktemp("real-index"), corpus=(CORPUS,))


@pytest.fixture(scope="session")
def real_pipeline(real_settings):
    """The real pipeline: EmbeddingGemma + gemma-3-270m, loaded once per session."""
    from rag.pipeline import Pipeline

    return Pipeline(real_settings).warm_up()


@pytest.fixture(scope="session")
def real_extractive(real_pipeline, real_settings):
    """The real embedder and index without the generator (shares the loaded models)."""
    from rag.pipeline import Pipeline

    return Pipeline(real_settings.with_(answer_mode="extractive"), embedder=real_pipeline.embedder,
                    generator=real_pipeline.generator).warm_up()
