"""Shared fixtures: fakes for fast tests, the real models loaded once per test session."""
from __future__ import annotations


import pytest

from rag.config import DEFAULT_CORPUS as CORPUS, Settings
from rag.embedding import FakeEmbedder



@pytest.fixture
def fake_settings(tmp_path) -> Settings:
    return Settings.from_env(index_dir=tmp_path / "index", corpus=(CORPUS,), answer_mode="extractive")


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
