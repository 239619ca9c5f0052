"""Property-based fuzzing of the HTTP API from its own OpenAPI schema, with every schemathesis check on:
no server error, no undocumented status, no response that breaks its schema or content type, no
accepted invalid input, no refused valid input, no method that is not a JSON 405. Driven like the
probe: a real HTTP client against the app as `rag serve` builds it (API, /v1 and the chat on one port,
uvicorn on loopback), with the real Pipeline on the fake embedder so it takes seconds, not minutes.
"""
from __future__ import annotations

import atexit
import inspect
import shutil
import tempfile

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks

from rag.server import build_app
from rag.service import Service
from rag.web import ServerOptions
from tests.serving import fake_pipeline, running

EXAMPLES = 40  # per operation and generation phase; the whole file runs in about a minute


def product_app(**options):
    """Built at import: schemathesis turns the schema into tests at collection time."""
    folder = tempfile.mkdtemp(prefix="rag-fuzz-index-")
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return build_app(Service(fake_pipeline(folder)), ServerOptions(**options))


def load(app):
    schema = schemathesis.openapi.from_dict(app.openapi())
    schema.config.generation.update(modes=[GenerationMode.POSITIVE, GenerationMode.NEGATIVE],
                                    max_examples=EXAMPLES)
    rejection = schema.config.checks.negative_data_rejection  # a body over the size limit is refused with 413
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    return schema


def content_type(response) -> str:
    value = response.headers.get("content-type", "")
    return value[0] if isinstance(value, list) else value


def all_checks() -> list:
    load_all_checks()
    return [c for c in CHECKS.get_all() if inspect.isfunction(c) and c.__name__ != "max_response_time"]


OPEN, KEYED = product_app(), product_app(api_key="fuzz-key")
open_api, keyed_api = load(OPEN), load(KEYED)
FUZZ = settings(max_examples=EXAMPLES, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much])


@pytest.fixture(scope="module")
def open_base():
    with running(OPEN) as base:
        yield base


@pytest.fixture(scope="module")
def keyed_base():
    with running(KEYED) as base:
        yield base


def test_every_check_is_on():
    names = {c.__name__ for c in all_checks()}
    assert {"not_a_server_error", "status_code_conformance", "content_type_conformance",
            "response_schema_conformance", "negative_data_rejection", "positive_data_acceptance",
            "unsupported_method"} <= names


@open_api.parametrize()
@FUZZ
def test_no_undocumented_status_and_only_json_errors(open_base, case):
    response = case.call(base_url=open_base)
    # On /v1 a schema-valid conversation can still be refused (422): its last message must be the user's
    # and non-blank, at most max_question_chars long. JSON Schema cannot say "the last item".
    skip = ["positive_data_acceptance"] if case.path == "/v1/chat/completions" else []
    case.validate_response(response, checks=[c for c in all_checks() if c.__name__ not in skip])
    if response.status_code >= 400:  # every refusal is the JSON error shape
        assert content_type(response).startswith("application/json"), response.text[:200]
        assert set(response.json()["error"]) >= {"type", "message"}, response.text


@keyed_api.parametrize()
@FUZZ
def test_no_server_errors_with_a_key(keyed_base, case):
    """With a key configured, guesses at it (and none) are refused, never answered nor a 5xx."""
    response = case.call(base_url=keyed_base)
    case.validate_response(response, checks=[c for c in all_checks() if c.__name__ not in
                                             ("positive_data_acceptance", "ignored_auth")])
    if case.path != "/api/health" and response.status_code < 400:
        pytest.fail(f"{case.method} {case.path} answered {response.status_code} without the key")
    if response.status_code >= 400:
        assert set(response.json()["error"]) >= {"type", "message"}, response.text
