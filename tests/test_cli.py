"""The `rag` command: help that matches the settings, readable text by default and JSON with --json,
history for single questions and the chat loop, and bad input -> one line, non-zero exit, no change."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from rag import config
from rag.cli import main
from rag.config import REPO, Settings
from rag.errors import InputError
from tests.serving import fake_pipeline

VERBS = ["ask", "chat", "search", "index", "models", "serve", "eval"]
GERMAN = "Wann besuchte der Botschafter das Museum in Peenemünde?"
ENGLISH = "When did the ambassador of Kazakhstan visit the museum in Peenemünde?"


def test_help_lists_every_verb_and_readme_uses_only_real_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for verb in VERBS:
        assert re.search(rf"^\s+{verb}\s", out, re.M), verb
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"\.venv/bin/rag (\w+)", readme))
    assert used and used <= set(VERBS)


def test_help_offers_exactly_the_modes_settings_accept(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "{" + ",".join(config.ANSWER_MODES) + "}" in out and f"(default {Settings.answer_mode})" in out
    assert "{" + ",".join(config.RETRIEVAL_MODES) + "}" in out and f"(default {Settings.retrieval})" in out
    for mode in config.ANSWER_MODES:
        Settings(answer_mode=mode)
    for mode in config.RETRIEVAL_MODES:
        Settings(retrieval=mode)
    with pytest.raises(InputError) as info:  # Settings names the same modes: the lists cannot drift apart
        Settings(answer_mode="no-such-mode")
    assert set(re.findall(r"\w+", str(info.value).split("(")[-1])) == set(config.ANSWER_MODES)
    with pytest.raises(InputError) as info:
        Settings(retrieval="no-such-mode")
    assert set(re.findall(r"\w+", str(info.value).split("(")[-1])) == set(config.RETRIEVAL_MODES)


def test_console_script_runs():
    out = subprocess.run([str(REPO / ".venv/bin/rag"), "--help"], capture_output=True, text=True)
    assert out.returncode == 0 and "verbs" in out.stdout


@pytest.mark.parametrize("content,expect", [
    (None, "no such file"),
    (b"", "empty"),
    (b"\x00\x01\x02binary\x00", "binary"),
    ("Grüße".encode("latin-1"), "UTF-8"),
])
def test_index_build_bad_input_changes_nothing(tmp_path, capsys, content, expect):
    path = tmp_path / "doc.txt"
    if content is not None:
        path.write_bytes(content)
    index_dir = tmp_path / "index"
    code = main(["--index-dir", str(index_dir), "index", "build", str(path)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and expect.lower() in err.lower(), err
    assert not index_dir.exists() or not any(index_dir.iterdir())


@pytest.mark.parametrize("lines,expect", [
    (['{"question": "x"', ], "invalid JSON"),
    (['{"frage": "x"}'], "expected"),
    (['{"question": "x", "history": [["only one"]]}'], "history"),
    (['{"question": "' + "x" * 1001 + '"}'], ":1: question is too long"),
    ([], "no questions"),
])
def test_batch_file_is_validated_before_anything_runs(tmp_path, capsys, lines, expect):
    f = tmp_path / "q.jsonl"
    f.write_text("\n".join(lines), encoding="utf-8")
    code = main(["--index-dir", str(tmp_path / "index"), "search", "--batch", str(f), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and expect in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("content,expect", [
    (None, "no such file"),
    ("[[\"a\", \"b\"]", "invalid JSON"),
    ('{"user": "a"}', "history must be a list"),
    ('[["only one"]]', "history[0]"),
    ('[["a", 2]]', "history[0]"),
])
def test_history_file_is_validated_before_anything_runs(tmp_path, capsys, content, expect):
    f = tmp_path / "history.json"
    if content is not None:
        f.write_text(content, encoding="utf-8")
    code = main(["--index-dir", str(tmp_path / "index"), "ask", "--history", str(f), "Und 2016?"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and expect in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "index").exists()


@pytest.mark.parametrize("argv,expect", [
    (["ask", "   "], "empty"),
    (["ask"], "no question"),
    (["search", "--k", "0", "x"], "--k"),
    (["ask", "x" * 1001], "too long"),
    (["ask", "--batch", "q.jsonl", "x"], "not both"),
])
def test_bad_questions_are_one_line(tmp_path, capsys, argv, expect):
    assert main(["--index-dir", str(tmp_path / "i"), *argv]) == 2
    err = capsys.readouterr().err.strip()
    assert expect in err and len(err.splitlines()) == 1
    assert not (tmp_path / "i").exists()


def test_index_info_is_readable_and_json_on_request(tmp_path, capsys):
    index = fake_pipeline(tmp_path / "index").index
    assert main(["--index-dir", str(tmp_path / "index"), "index", "info"]) == 0
    text = capsys.readouterr().out
    assert f"chunks     {len(index.chunks)} (flat index" in text and "drucksache-7-844.txt" in text
    assert "embedder   fake-embedder" in text and not text.lstrip().startswith("{")
    assert main(["--index-dir", str(tmp_path / "index"), "index", "info", "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["chunks"] == len(index.chunks) and info["embedder"]["id"] == "fake-embedder"


def test_models_info_is_readable_and_json_on_request(capsys):
    assert main(["models", "info"]) == 0
    text = capsys.readouterr().out
    assert re.search(r"^embedder\s+embeddinggemma-300m: ", text, re.M)
    assert re.search(r"^generator\s+gemma-3-270m: ", text, re.M) and "licence: Gemma Terms of Use" in text
    assert main(["models", "info", "--json"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r["kind"] for r in rows] == ["embedder", "generator"]


# -- with the real models -----------------------------------------------------------------------------------
def rag(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    """`rag` in a process of its own, as a user runs it (the models load in it)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "rag.cli", *args], capture_output=True, text=True, env=env,
                          input=stdin, timeout=600)


@pytest.mark.real
def test_single_questions_are_quiet_readable_and_keep_history(real_pipeline, real_settings, tmp_path):
    history = tmp_path / "history.json"
    history.write_text(json.dumps([["Wie hoch war der Außenhandel mit Kasachstan im Jahr 2015?",
                                    "12,811 Mio. Euro [1]"]]), encoding="utf-8")
    out = rag("--index-dir", str(real_settings.index_dir), "ask", "--history", str(history), "--json",
              "Und im Jahr danach?")
    assert out.returncode == 0, out.stderr
    assert "Loading weights" not in out.stderr and "%|" not in out.stderr, out.stderr  # no library bars
    answer = json.loads(out.stdout)
    assert "2016" in answer["answer"] and not answer["refused"]
    timings = answer["timings"]
    assert timings["load"] > 1 and timings["retrieval"] < timings["load"], timings  # loading is not retrieval


@pytest.mark.real
def test_chat_repl_keeps_the_conversation(real_pipeline, real_settings):
    questions = "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2015?\n\nUnd im Jahr danach?\n/new\n   \n"
    out = rag("--index-dir", str(real_settings.index_dir), "chat", "--json", stdin=questions)
    assert out.returncode == 0, out.stderr
    answers = [json.loads(line) for line in out.stdout.splitlines()]
    assert len(answers) == 2 and "12,811" in answers[0]["answer"] and "2016" in answers[1]["answer"]
    assert "Loading weights" not in out.stderr


@pytest.mark.real
def test_ask_and_search_print_page_labels_in_the_askers_language(real_pipeline, real_settings, capsys):
    base = ["--index-dir", str(real_settings.index_dir)]
    assert main([*base, "ask", GERMAN]) == 0
    german = capsys.readouterr().out
    assert "26. August 2016" in german and "\n\nQuellen:\n[1] Drucksache 7/844, S. 2, " in german
    assert main([*base, "ask", ENGLISH]) == 0
    english = capsys.readouterr().out
    assert "\n\nSources:\n[1] Drucksache 7/844, p. 2, " in english and "S. " not in english
    assert main([*base, "search", "--k", "2", GERMAN]) == 0
    assert re.match(r"\[1\] S\. \d+, ", capsys.readouterr().out)
    assert main([*base, "search", "--k", "2", ENGLISH]) == 0
    assert re.match(r"\[1\] p\. \d+, ", capsys.readouterr().out)


@pytest.mark.real
def test_search_batch_json_contract(real_pipeline, real_settings, tmp_path, capsys):
    f = tmp_path / "q.jsonl"
    f.write_text("\n".join(json.dumps(o, ensure_ascii=False) for o in [
        {"question": "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2015?"},
        {"question": "And the year after?", "history": [["How much trade was there in 2015?", "12,811 Mio. Euro"]]},
        {"question": "Which universities in Wismar cooperate with Kazakhstan?", "history": []},
    ]), encoding="utf-8")
    code = main(["--index-dir", str(real_settings.index_dir), "search", "--batch", str(f), "--json"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(lines) == 3
    for line in lines:
        out = json.loads(line)
        assert out["hits"] and set(out["timings"]) == {"load", "retrieval"}
        for h in out["hits"]:
            assert set(h) == {"chunk_id", "doc_id", "page", "section", "text", "sentences", "score"}
            assert all(s in h["text"] for s in h["sentences"])
    first = json.loads(lines[0])["hits"]
    assert any("12,811" in h["text"] for h in first[:3])
    assert any("Kostanay" in h["text"] for h in json.loads(lines[2])["hits"][:3])
    assert main(["--index-dir", str(real_settings.index_dir), "search", "--batch", str(f)]) == 0
    readable = capsys.readouterr().out
    assert readable.startswith("? Wie hoch") and "{" not in readable  # --batch alone is readable text


@pytest.mark.real
def test_ask_batch_json_contract(real_pipeline, real_settings, tmp_path, capsys):
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"question": GERMAN}) + "\n"
                 + json.dumps({"question": "What is the weather in Schwerin today?"}) + "\n", encoding="utf-8")
    code = main(["--index-dir", str(real_settings.index_dir), "ask", "--batch", str(f), "--json"])
    out = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert code == 0 and len(out) == 2
    good, refused = out
    assert set(good) == {"answer", "direct", "language", "refused", "citations", "timings"}
    assert not good["refused"] and good["language"] == "de" and "26. August 2016" in good["answer"]
    for c in good["citations"]:
        assert set(c) == {"n", "chunk_id", "doc_id", "page", "section", "quote", "text", "label"}
        assert c["quote"] in c["text"] and f"[{c['n']}]" in good["answer"]
        assert c["label"].startswith("Drucksache 7/844, S. ")
    assert refused["refused"] and refused["citations"] == [] and refused["language"] == "en"
    assert set(good["timings"]) >= {"load", "retrieval", "generation", "total"}
    assert main(["--index-dir", str(real_settings.index_dir), "ask", "--batch", str(f)]) == 0
    readable = capsys.readouterr().out
    assert readable.startswith(f"? {GERMAN}\n") and "Quellen:" in readable and '{"answer"' not in readable
