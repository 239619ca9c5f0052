"""The checks a machine translation must pass before it is shown (pure; no model)."""
from rag.translate import problems

SRC = "Am 3. Mai 2020 besuchte die Ministerin den Hafen „Nordkai“ in Ruritanien-Ost."


def test_a_faithful_translation_passes():
    assert problems(SRC, "On 3 May 2020 the minister visited the port „Nordkai“ in Ruritanien-Ost.", 0.8, 0.7) == []


def test_lost_or_added_numbers_names_cut_off_and_drift_are_caught():
    assert any("numbers lost" in p for p in problems(SRC, "The minister visited „Nordkai“ in Ruritanien-Ost.", 0.8, 0.7))
    assert any("numbers added" in p for p in problems(SRC, "On 3 May 2020 and 2021 „Nordkai“ Ruritanien-Ost.", 0.8, 0.7))
    assert any("name lost" in p for p in problems(SRC, "On 3 May 2020 the minister visited the port.", 0.8, 0.7))
    assert "cut off" in problems(SRC, "On 3 May 2020 the minister visited „Nordkai“ in Ruritanien-Ost and", 0.8, 0.7)
    assert any("drifted" in p for p in problems(SRC, "On 3 May 2020 „Nordkai“ in Ruritanien-Ost.", 0.3, 0.7))


def test_the_token_budget_follows_the_length_bound():
    from rag.translate import LENGTH_RATIO, MAX_NEW_TOKENS, MIN_LENGTH_CHECKED, max_length, max_new_tokens

    assert max_length("x" * 100) == LENGTH_RATIO[1] * 100
    assert max_length("Verkehr") == max_length("x" * MIN_LENGTH_CHECKED)  # short sources: as a 40-character one
    assert max_new_tokens("Verkehr") == int(LENGTH_RATIO[1] * MIN_LENGTH_CHECKED) + 1
    assert max_new_tokens(SRC * 5) == MAX_NEW_TOKENS
    # a token writes at least one character: a translation that used up the budget is too long anyway
    assert any(p.startswith("length out of proportion")
               for p in problems("Verkehr", "x" * max_new_tokens("Verkehr"), 1.0, 0.0))


def test_a_short_source_may_not_grow_without_bound():
    assert problems("Verkehr", "Traffic", 1.0, 0.0) == []
    assert any(p.startswith("length out of proportion")
               for p in problems("Verkehr", "Traffic and transport in the state and in the whole region of the north", 1.0, 0.0))


def test_failed_early_sees_only_what_more_text_cannot_repair():
    from rag.translate import failed_early

    assert failed_early(SRC, "On 3 May 2020 the minister") == []
    assert failed_early(SRC, "On 3 May 20") == []  # the last word may still grow into "2020"
    assert [p.split(":")[0] for p in failed_early(SRC, "On 3 May 2021 the")] == ["numbers added"]
    loop = "the port and the port and the port and "
    assert any(p.startswith("repeats itself") for p in failed_early(SRC, loop))
    assert any(p.startswith("length out of proportion") for p in failed_early(SRC, "word " * 40))
    assert [p.split(":")[0] for p in failed_early("Es waren 1,5 Mio. Euro.", "It was 1,5 million ")] == \
        ["numbers not converted"]


def test_failed_early_never_rejects_a_translation_the_checks_accept():
    """Oracle: every prefix of the 65 stored model outputs and of their references. Whatever
    ``failed_early`` finds in a prefix, the full checks find in the whole translation."""
    import json
    from pathlib import Path

    from rag.translate import check_name, failed_early

    report = Path(__file__).resolve().parents[1] / "eval" / "translation" / "report.json"
    runs = json.loads(report.read_text(encoding="utf-8"))["runs"]
    pairs = [(r["de"], r[key]) for r in runs for key in ("output", "en")]
    stopped = 0
    for de, text in pairs:
        source, full = " ".join(de.split()), " ".join(text.split())
        final = {check_name(p) for p in problems(source, full, 1.0, float("-inf"))}
        for k in range(1, len(text) + 1):
            early = {check_name(p) for p in failed_early(source, text[:k])}
            assert early <= final, (source, text[:k], early, final)
            if early:
                stopped += 1
                break
    assert stopped >= 5  # the rule does stop some of the stored outputs early


class _CountingEmbedder:
    """The fake embedder, counting the texts it was asked to embed."""

    def __init__(self):
        from rag.embedding import FakeEmbedder

        self.inner, self.texts = FakeEmbedder(), []

    def embed_documents(self, texts, progress=False):
        self.texts += list(texts)
        return self.inner.embed_documents(texts)


def _citation(quote: str):
    from rag.types import Chunk, Citation

    chunk = Chunk("c1", "d1", quote, 0, len(quote), 4, "Antwort zu Frage 3")
    return Citation(1, chunk, quote, 0, len(quote))


QUOTE = "Der Ausschuss tagte am 3. Mai 2020 in Nordstadt.\nEr beriet über den Hafen."


def test_the_quote_is_translated_sentence_by_sentence():
    from rag.generation import FakeGenerator
    from rag.translate import translate

    gen = FakeGenerator(["The committee met in Nordstadt on 3 May 2020.", "It discussed the port."])
    note = translate(gen, _CountingEmbedder(), [_citation(QUOTE)], -1.0)
    assert [r.passages[0][1] for r in gen.requests] == ["Der Ausschuss tagte am 3. Mai 2020 in Nordstadt.",
                                                         "Er beriet über den Hafen."]
    assert "The committee met in Nordstadt on 3 May 2020. It discussed the port. [1]" in note


def test_a_failing_sentence_ends_the_work_with_the_pointer():
    from rag.generation import FakeGenerator
    from rag.translate import translate

    embedder = _CountingEmbedder()
    gen = FakeGenerator(["The committee met on 3 May 2021 in Nordstadt, and so on and on and on.", "It discussed the port."])
    note = translate(gen, embedder, [_citation(QUOTE)], -1.0)
    assert note == ""  # the answer points to the German passage instead (answering.answer_stream)
    assert len(gen.requests) == 1  # the second sentence is never translated
    assert embedder.texts == []  # nor is a translation that fails another check embedded


def test_the_stream_is_stopped_at_the_first_lasting_problem():
    from rag.translate import check_batch

    class Streaming:
        def __init__(self):
            self.pieces = 0

        def stream(self, request):
            for word in ("On", " 3", " May", " 2021", " the", " committee", " met", " again", "."):
                self.pieces += 1
                yield word

    gen = Streaming()
    (checked,) = check_batch(gen, _CountingEmbedder(), ["Am 3. Mai 2020 tagte der Ausschuss."], 0.0, stop_early=True)
    assert gen.pieces == 5 and checked.text == "On 3 May 2021 the"  # "2021" is written once a space follows
    assert [p.split(":")[0] for p in checked.problems] == ["numbers added"]
