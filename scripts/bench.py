"""Speed and memory of the real pipeline on this machine; prints medians.

    .venv/bin/python scripts/bench.py [--answer-mode verified|extractive] [--runs 3]

Ready time is measured from process start (before any import) to a warmed-up pipeline, with models
cached and the index built. Each question is asked --runs times; end-to-end and time-to-first-text
are taken from the streaming call as a user of the chat window would see them.
"""
from __future__ import annotations

import time

T0 = time.perf_counter()

import argparse  # noqa: E402
import json  # noqa: E402
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


def main(argv=None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--answer-mode", default=None, choices=["verified", "extractive"])
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args(argv)
    from rag import Pipeline, Settings

    pipe = Pipeline(Settings.from_env(answer_mode=args.answer_mode)).warm_up()
    ready = time.perf_counter() - T0
    totals, firsts = [], []
    for _ in tqdm(range(args.runs), desc="runs", file=sys.stderr):
        for q in QUESTIONS:
            t = time.perf_counter()
            first = None
            for item in pipe.ask_stream(q):
                if first is None:
                    first = time.perf_counter() - t
            totals.append(time.perf_counter() - t)
            firsts.append(first)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result = {
        "answer_mode": pipe.settings.answer_mode,
        "questions": len(QUESTIONS) * args.runs,
        "ready_s": round(ready, 2),
        "median_total_s": round(statistics.median(totals), 3),
        "median_first_text_s": round(statistics.median(firsts), 3),
        "p95_total_s": round(sorted(totals)[int(0.95 * (len(totals) - 1))], 3),
        "peak_rss_mb": round(peak_mb),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
