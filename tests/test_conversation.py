"""Follow-ups resolved by need, not by length; topic switches stay new questions."""
from rag.conversation import needs_context, resolve

H = [["Wie hoch war der Außenhandel mit Kasachstan im Jahr 2015?", "12,811 Mio. Euro [1]"]]
TRADE = [["Wie hoch war der Außenhandel der Firma mit Ruritanien 2016?", "5,4 Mio. Euro [1]"]]


def test_no_history_unchanged():
    assert resolve("Und im Jahr danach?") == "Und im Jahr danach?"


def test_year_after_and_before():
    assert resolve("Und im Jahr danach?", H) == "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?"
    assert resolve("And the year before?", H) == "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2014?"


def test_comparison_keeps_both_years():
    out = resolve("Was that more or less than the year before?", TRADE)
    assert "2016" in out and "2015" in out


def test_anaphora_carries_previous_question():
    h = [["Which universities in Wismar cooperate with Ruritania?", "..."]]
    out = resolve("What do those partnerships cover?", h)
    assert out.startswith("Which universities in Wismar") and out.endswith("cover?")


def test_topic_switches_stand_alone():
    for q in ("Which universities cooperate with Ruritania?", "Wie wird das Wetter morgen?",
              "Wer hat die Anfrage gestellt?", "Gibt es Partnerschaften mit Hochschulen?",
              "Is there a partnership in agriculture?"):
        assert not needs_context(q), q
        assert resolve(q, TRADE) == q


def test_ellipsis_and_short_questions_need_context():
    for q in ("Und 2017?", "And in Wismar?", "Wismar?", "Which of the two has more partners?"):
        assert needs_context(q), q


def test_older_turns_carry_over():
    h = TRADE + [["Und im Jahr danach?", "1,8 Mio. Euro [1]"]]
    assert "2018" in resolve("And the year after that?", h)  # 2016 -> 2017 -> 2018
