from rag.conversation import is_followup, resolve

H = [["Wie hoch war der Außenhandel mit Kasachstan im Jahr 2015?", "12,811 Mio. Euro [1]"]]


def test_no_history_unchanged():
    assert resolve("Und im Jahr danach?") == "Und im Jahr danach?"


def test_year_after_and_before():
    assert resolve("Und im Jahr danach?", H) == "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?"
    assert resolve("And the year before?", H) == "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2014?"


def test_other_followups_carry_previous_question():
    h = [["Which universities in Wismar cooperate with Kazakhstan?", "..."]]
    out = resolve("What do those partnerships cover?", h)
    assert out.startswith("Which universities in Wismar") and out.endswith("cover?")


def test_standalone_question_with_history_unchanged():
    q = "Welche Hochschule kooperiert mit der Innovativen Eurasischen Universität in Pavlodar?"
    assert not is_followup(q)
    assert resolve(q, H) == q
