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
