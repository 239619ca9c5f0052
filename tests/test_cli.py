"""The `rag` command: help, the batch JSON contracts, and bad input -> one line, non-zero exit, no change."""
from __future__ import annotations

import json
import re
import subprocess

import pytest

from rag.cli import main
from rag.config import REPO

VERBS = ["ask", "search", "index", "models", "serve", "eval"]


def test_help_lists_every_verb_and_readme_uses_only_real_verbs(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    out = capsys.readouterr().out
    for verb in VERBS:
        assert re.search(rf"^\s+{verb}\s", out, re.M), verb
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    used = set(re.findall(r"\.venv/bin/rag (\w+)", readme))
    assert used and used <= set(VERBS)


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
    ([], "no questions"),
])
def test_batch_file_is_validated_before_anything_runs(tmp_path, capsys, lines, expect):
    f = tmp_path / "q.jsonl"
    f.write_text("\n".join(lines), encoding="utf-8")
    code = main(["--index-dir", str(tmp_path / "index"), "search", "--batch", str(f), "--json"])
    err = capsys.readouterr().err
    assert code == 2 and expect in err
    assert not (tmp_path / "index").exists()


def test_empty_question_is_an_input_error(tmp_path, capsys):
    assert main(["--index-dir", str(tmp_path / "i"), "ask", "   "]) == 2
    assert "empty" in capsys.readouterr().err


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
        hits = json.loads(line)["hits"]
        assert hits
        for h in hits:
            assert set(h) == {"chunk_id", "doc_id", "page", "section", "text", "sentences", "score"}
            assert all(s in h["text"] for s in h["sentences"])
    first = json.loads(lines[0])["hits"]
    assert any("12,811" in h["text"] for h in first[:3])
    assert any("Kostanay" in h["text"] for h in json.loads(lines[2])["hits"][:3])


@pytest.mark.real
def test_ask_batch_json_contract(real_pipeline, real_settings, tmp_path, capsys):
    f = tmp_path / "q.jsonl"
    f.write_text(json.dumps({"question": "Wann besuchte der Botschafter das Museum in Peenemünde?"}) + "\n"
                 + json.dumps({"question": "What is the weather in Schwerin today?"}) + "\n", encoding="utf-8")
    code = main(["--index-dir", str(real_settings.index_dir), "ask", "--batch", str(f), "--json"])
    out = [json.loads(x) for x in capsys.readouterr().out.strip().splitlines()]
    assert code == 0 and len(out) == 2
    good, refused = out
    assert set(good) == {"answer", "language", "refused", "citations", "timings"}
    assert not good["refused"] and good["language"] == "de" and "26. August 2016" in good["answer"]
    for c in good["citations"]:
        assert set(c) == {"n", "chunk_id", "doc_id", "page", "section", "quote", "text"}
        assert c["quote"] in c["text"] and f"[{c['n']}]" in good["answer"]
    assert refused["refused"] and refused["citations"] == [] and refused["language"] == "en"
    assert set(good["timings"]) >= {"retrieval", "generation", "total"}
