"""Property-based fuzzing of the HTTP API from its own OpenAPI schema: no input, valid or not, may
produce a server error. Runs against the ASGI app in-process with the real Pipeline on the fake
embedder (extractive answers), so it takes seconds, not minutes.
"""
from __future__ import annotations

import atexit
import shutil
import tempfile
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error, response_schema_conformance

from rag.api import create_app
from rag.config import DEFAULT_CORPUS as CORPUS, Settings
from rag.embedding import FakeEmbedder
from rag.server import ServerOptions

EXAMPLES = 40  # per operation and generation phase; the whole file runs in well under a minute


def fuzz_app(**options):
    """Built at import: schemathesis turns the schema into tests at collection time (its lazy
    fixture loader does not work with pytest 9)."""
    from rag.pipeline import Pipeline

    folder = tempfile.mkdtemp(prefix="rag-fuzz-index-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    pipe_settings = Settings.from_env(index_dir=Path(folder), corpus=(CORPUS,), answer_mode="extractive")
    pipeline = Pipeline(pipe_settings, embedder=FakeEmbedder(), log=lambda m: None).warm_up()
    return create_app(pipeline, options=ServerOptions(**options))


def load(app):
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    max_examples=EXAMPLES)
    return schema


open_api = load(fuzz_app())
keyed_api = load(fuzz_app(api_key="fuzz-key"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much,
                                       HealthCheck.function_scoped_fixture])


@open_api.parametrize()
@FUZZ
def test_no_server_errors(case):
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error, response_schema_conformance])
    if response.status_code >= 400:  # every refusal is the JSON error shape
        assert set(response.json()["error"]) >= {"type", "message"}, response.text


@keyed_api.parametrize()
@FUZZ
def test_no_server_errors_with_a_key(case):
    """With a key configured, guesses at it (and none) are refused, never answered nor a 5xx."""
    response = case.call()
    case.validate_response(response, checks=[not_a_server_error])
    if case.path != "/api/health" and response.status_code < 400:
        pytest.fail(f"{case.method} {case.path} answered {response.status_code} without the key")
