"""Two popular OpenAI clients against the real server, set up as the README's "Use it from your tools"
says: Simon Willison's `llm` command line (streaming and --no-stream, through an
extra-openai-models.yaml in its own user folder) and langchain-openai's ChatOpenAI."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rag.openai_api import MODEL_ID, TokenCounter
from tests.serving import QUESTION, app_for, fake_pipeline, running

ENGLISH = "Which universities in Wismar have partnerships in Kazakhstan?"


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return fake_pipeline(tmp_path_factory.mktemp("tools-index"))


@pytest.fixture(scope="module")
def base(pipeline):
    with running(app_for(pipeline, api_key="tool-key")) as url:
        yield url


@pytest.fixture(scope="module")
def expected(pipeline):
    """What /v1 answers for the two questions, and how many tokens that is."""
    from rag.openai_api import with_sources

    documents = {d.doc_id: d.metadata for d in pipeline.documents()}
    counter = TokenCounter(pipeline.settings)
    out = {}
    for question in (QUESTION, ENGLISH):
        text = with_sources(pipeline.ask(question), documents)
        out[question] = (text, counter.count(question), counter.count(text))
    return out


def run_llm(tmp_path, base: str, *args: str) -> subprocess.CompletedProcess:
    """`llm` with a user folder of its own: the model is declared in extra-openai-models.yaml."""
    (tmp_path / "extra-openai-models.yaml").write_text(
        f"- model_id: drucksache\n  model_name: {MODEL_ID}\n  api_base: \"{base}/v1\"\n  api_key_name: drucksache\n",
        encoding="utf-8")
    (tmp_path / "keys.json").write_text('{"drucksache": "tool-key"}', encoding="utf-8")
    env = {**os.environ, "LLM_USER_PATH": str(tmp_path)}
    env.pop("OPENAI_API_KEY", None)
    return subprocess.run([sys.executable, "-m", "llm", "-m", "drucksache", *args], capture_output=True,
                          text=True, env=env, timeout=300)


@pytest.mark.parametrize("mode", [[], ["--no-stream"]], ids=["stream", "no-stream"])
def test_llm_cli(tmp_path, base, expected, mode):
    text, prompt_tokens, completion_tokens = expected[QUESTION]
    out = run_llm(tmp_path, base, *mode, "--usage", QUESTION)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == text.strip()
    assert "Quellen:\n[1] Drucksache 7/844, S. " in out.stdout
    assert f"Token usage: {prompt_tokens} input, {completion_tokens} output" in out.stderr
    follow = run_llm(tmp_path, base, *mode, "-c", "Und im Jahr danach?")  # continues the logged conversation
    assert follow.returncode == 0 and follow.stdout.strip(), follow.stderr


def test_llm_cli_wrong_key_and_system_prompt(tmp_path, base):
    (tmp_path / "keys.json").write_text('{"drucksache": "wrong"}')
    out = run_llm(tmp_path, base, "--key", "wrong", ENGLISH)
    assert out.returncode != 0 and "API key" in out.stderr
    out = run_llm(tmp_path, base, "-s", "Answer like a pirate.", ENGLISH)
    assert out.returncode == 0 and "Sources:\n[1] Drucksache 7/844, p. " in out.stdout


def test_langchain_chat_openai(base, expected):
    from langchain_openai import ChatOpenAI

    text, prompt_tokens, completion_tokens = expected[ENGLISH]
    chat = ChatOpenAI(model=MODEL_ID, base_url=base + "/v1", api_key="tool-key", max_retries=0, timeout=120)
    reply = chat.invoke(ENGLISH)
    assert reply.content == text
    assert reply.usage_metadata is not None
    assert (reply.usage_metadata["input_tokens"], reply.usage_metadata["output_tokens"]) == \
        (prompt_tokens, completion_tokens)
    chunks = list(ChatOpenAI(model=MODEL_ID, base_url=base + "/v1", api_key="tool-key", max_retries=0,
                             stream_usage=True).stream(ENGLISH))
    whole = chunks[0]
    for c in chunks[1:]:
        whole += c
    assert whole.content == text and whole.usage_metadata["total_tokens"] == prompt_tokens + completion_tokens
    short = ChatOpenAI(model=MODEL_ID, base_url=base + "/v1", api_key="tool-key", max_retries=0, max_tokens=5)
    cut = short.invoke(ENGLISH)
    assert cut.response_metadata["finish_reason"] == "length" and cut.usage_metadata["output_tokens"] == 5
