"""Speed and memory of the real pipeline on this machine; prints medians.

    .venv/bin/python scripts/bench.py [--answer-mode verified|extractive] [--runs 3]
    .venv/bin/python scripts/bench.py --translated [--runs 3]   # English descriptive answers (translation path)

Ready time is measured from process start (before any import) to a warmed-up pipeline, with models
cached and the index built. Each question is asked --runs times; end-to-end and time-to-first-text
are taken from the streaming call as a user of the chat window would see them. With --translated the
questions are English descriptive ones that the local model translates (each must take that path, else
the run fails); the first text is then the German quote, streamed before the translation is computed.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402

from tqdm.auto import tqdm  # noqa: E402

QUESTIONS = [
    "Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?",
    "How much trade was there with Kazakhstan in 2015?",
    "Wann besuchte der Botschafter das Museum in Peenemünde?",
    "Which universities in Wismar have partnerships in Kazakhstan?",
    "Wie viele Gäste kamen zur Veranstaltung am 29. März 2017?",
    "What is the name of the Kazakh ambassador?",
    "Welche Vorteile verspricht sich die Landesregierung?",
    "Who signed the memoranda of understanding in 2015 and 2016?",
]
# English "why / how / what was discussed" questions on Drucksache 7/844 whose answer is a German quote
# with no typed value: the answer adds a checked machine translation (or a pointer when it fails).
TRANSLATED = [
    "What was discussed with the ambassador on 27 March 2017?",
    "Why did the ambassador visit Peenemünde?",
    "What did the participants of the event represent?",
    "What are companies from Mecklenburg-Vorpommern interested in?",
    "How does the state government describe the level of trade with Kazakhstan?",
    "What support is offered if Kazakh companies want to settle in Mecklenburg-Vorpommern?",
    "What was the purpose of the state secretary's 2015 trip to Kazakhstan?",
    "What was the declaration signed at transport logistic 2017 about?",
]


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answer-mode", default=None, choices=["verified", "extractive"])
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--translated", action="store_true", help="time English descriptive answers (translation path)")
    args = ap.parse_args(argv)
    from rag import Pipeline, Settings
    from rag.render import frames

    settings = Settings.from_env(answer_mode=args.answer_mode, **({"translate": True} if args.translated else {}))
    pipe = Pipeline(settings).warm_up()
    questions = TRANSLATED if args.translated else QUESTIONS
    notes: list[str] = []  # what the translation step returned for each question (--translated)
    if args.translated:
        pipe.generator.warm_up()  # the translation model loads at start-up in the service too
        translate = pipe._translate
        pipe._translate = lambda citations: notes.append(translate(citations)) or notes[-1]
    ready = time.perf_counter() - T0
    shown = frames("en")["translation"].split("{text}")[0]
    pointed = frames("en")["pointer"].split("{page}")[0]
    load_before = os.getloadavg()[0]
    totals, firsts, kept = [], [], []
    for _ in tqdm(range(args.runs), desc="runs", file=sys.stderr):
        for q in questions:
            t = time.perf_counter()
            first = answer = None
            for item in pipe.ask_stream(q):
                if first is None:
                    first = time.perf_counter() - t
                answer = item
            totals.append(time.perf_counter() - t)
            firsts.append(first)
            if args.translated:
                if len(notes) != len(totals):
                    raise SystemExit(f"did not take the translation path ({answer.mode}): {q}")
                kept.append(answer.mode == "translated" or answer.text.startswith(pointed))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "answer_mode": pipe.settings.answer_mode + (" (translated)" if args.translated else ""),
        "questions": len(questions) * args.runs,
        "ready_s": round(ready, 2),
        "median_total_s": round(statistics.median(totals), 3),
        "median_first_text_s": round(statistics.median(firsts), 3),
        "p95_total_s": round(sorted(totals)[int(0.95 * (len(totals) - 1))], 3),
        "peak_rss_mb": round(peak_mb),
        "loadavg": [round(load_before, 2), round(os.getloadavg()[0], 2)],
    }
    if args.translated:
        result["translations_accepted"] = sum(bool(n) and n.startswith(shown) for n in notes)
        result["notes_kept_in_answer"] = sum(kept)  # a translation, or the pointer to the German passage
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
