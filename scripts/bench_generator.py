"""Speed and a quick quality check of the generator, fp32 against dynamic int8.

    python scripts/bench_generator.py                      # speed + quality, fp32 and int8
    python scripts/bench_generator.py --modes fp32 --skip-speed --model /path/to/folder
    python scripts/bench_generator.py --threads 0 --skip-quality   # torch's default thread count

Each mode runs in a fresh subprocess (clean load time and peak RSS). The machine may be shared: the
load average is printed next to every result, and medians over ``--repeats`` runs are reported.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rag.config import REPO, Settings  # noqa: E402

# ---------------------------------------------------------------- research helpers (not used by the product)

def plain_prompt(system: str, examples, user: str, answer_label: str = "Antwort:") -> str:
    """A few-shot completion prompt: blocks separated by blank lines, ending with the label."""
    parts = [system.strip()] if system.strip() else []
    parts += [f"{u.strip()}\n{answer_label} {v.strip()}" for u, v in examples]
    parts.append(f"{user.strip()}\n{answer_label}")
    return "\n\n".join(parts)


def score(gen, prompt: str, continuations: Sequence[str]) -> list[float]:
    """Total log-probability of each continuation after ``prompt``.

    The prompt runs once; its cache is repeated over the batch of right-padded continuations (causal
    attention never looks at the padding to the right, so no mask is needed).
    """
    import torch

    if not continuations:
        return []
    tok = gen.tokenizer
    conts = [tok(c, add_special_tokens=False).input_ids for c in continuations]
    cache, first = gen._prefill(gen._encode_prompt(prompt))
    first_lp = torch.log_softmax(first, -1)
    scores = [float(first_lp[c[0]]) if c else 0.0 for c in conts]
    longest = max(len(c) for c in conts)
    if longest < 2:
        return scores
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    batch = torch.tensor([c + [pad] * (longest - len(c)) for c in conts])
    keep = torch.zeros_like(batch, dtype=torch.bool)  # positions whose logits predict a real token
    for i, c in enumerate(conts):
        keep[i, :max(len(c) - 1, 0)] = True
    cache.batch_repeat_interleave(len(conts))
    with torch.inference_mode():
        logits = gen.model(input_ids=batch, cache=cache, use_cache=True, logits_to_keep=keep).logits
    logits = logits.reshape(-1, logits.shape[-1]) if logits.dim() == 3 and logits.shape[0] == 1 else logits
    targets = torch.cat([torch.tensor(c[1:], dtype=torch.long) for c in conts if len(c) > 1])
    lp = torch.log_softmax(logits.float(), -1).gather(-1, targets[:, None])[:, 0]
    i = 0
    for row, c in enumerate(conts):
        n = max(len(c) - 1, 0)
        scores[row] += float(lp[i:i + n].sum())
        i += n
    return scores


# ---------------------------------------------------------------- the few-shot prompt (not from 7/844)

SYSTEM = ("Beantworte die Frage nur mit den Worten aus dem Kontext. "
          "Schreibe die kürzeste Stelle aus dem Kontext ab, die die Frage beantwortet.")
EXAMPLES = [
    ("Kontext: Im Jahr 2016 wurden im Landkreis Rostock 14 neue Radwege mit einer Gesamtlänge von 38,5 "
     "Kilometern gebaut. Die Kosten beliefen sich auf 9,2 Mio. Euro. Im Jahr 2017 sind weitere sechs "
     "Radwege geplant.\nFrage: Wie lang waren die im Jahr 2016 gebauten Radwege insgesamt?",
     "38,5 Kilometern"),
    ("Kontext: Am 14. März 2018 besuchte eine Delegation aus Litauen den Hafen Wismar. Gesprächsthemen "
     "waren die Fährverbindung nach Klaipėda und gemeinsame Förderprojekte. Die Delegation wurde vom "
     "Minister für Wirtschaft empfangen.\nFrage: Who received the delegation from Lithuania?",
     "vom Minister für Wirtschaft"),
    ("Kontext: Die Hochschule Stralsund unterhält Partnerschaften mit der Universität Riga und der "
     "Technischen Universität Tallinn. Beide Partnerschaften betreffen den Austausch von Studierenden."
     "\nFrage: Mit welchen Hochschulen unterhält die Hochschule Stralsund Partnerschaften?",
     "mit der Universität Riga und der Technischen Universität Tallinn"),
]

# ---------------------------------------------------------------- questions on Drucksache 7/844
# sentences: the passage split into candidate sentences (the first listed is NOT always the right one);
# gold: index of the sentence that answers; answer: a string a correct answer must contain (normalised);
# spans: candidate short answers of the same type, the first is right.

CASES = [
    dict(q="Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?", answer="5,458",
         sentences=["Die Republik Kasachstan ist eine der leistungsfähigsten Volkswirtschaften in Zentralasien.",
                    "Dessen ungeachtet bewegt sich der Außenhandel des Landes Mecklenburg-Vorpommern mit der "
                    "Republik Kasachstan auf einem sehr geringen Niveau und ist in den vergangenen zwei Jahren "
                    "rückläufig:",
                    "Jahr 2015: 12,811 Mio. Euro (Platz 75),",
                    "Jahr 2016: 5,458 Mio. Euro (Platz 98),",
                    "Januar bis April 2017: 1,844 Mio. Euro."], gold=3,
         spans=["5,458 Mio. Euro", "12,811 Mio. Euro", "1,844 Mio. Euro"]),
    dict(q="Which rank did Kazakhstan have in the foreign trade of Mecklenburg-Vorpommern in 2015?", answer="75",
         sentences=["Jahr 2015: 12,811 Mio. Euro (Platz 75),",
                    "Jahr 2016: 5,458 Mio. Euro (Platz 98),",
                    "Januar bis April 2017: 1,844 Mio. Euro.",
                    "Die Republik Kasachstan ist eine der leistungsfähigsten Volkswirtschaften in Zentralasien."],
         gold=0, spans=["Platz 75", "Platz 98"]),
    dict(q="Wann besuchte der Botschafter der Republik Kasachstan das Historisch-Technische Museum Peenemünde?",
         answer="26. August 2016",
         sentences=["Am 26. August 2016 besuchte der Botschafter der Republik Kasachstan das Historisch-Technische "
                    "Museum Peenemünde, um sich über das Museum, seine Ausstellungen und Planungen zu informieren.",
                    "Am 9. Januar 2017 nahm der Botschafter der Republik Kasachstan am Neujahrsempfang des "
                    "Ministerpräsidenten teil.",
                    "Am 27. März 2017 führte der Minister für Energie, Infrastruktur und Digitalisierung ein "
                    "weiteres Gespräch mit dem Botschafter der Republik Kasachstan in Berlin."], gold=0,
         spans=["26. August 2016", "9. Januar 2017", "27. März 2017"]),
    dict(q="When did the minister talk to the ambassador of Kazakhstan in Berlin?", answer="27. März 2017",
         sentences=["Am 26. August 2016 besuchte der Botschafter der Republik Kasachstan das Historisch-Technische "
                    "Museum Peenemünde.",
                    "Am 9. Januar 2017 nahm der Botschafter der Republik Kasachstan am Neujahrsempfang des "
                    "Ministerpräsidenten teil.",
                    "Am 27. März 2017 führte der Minister für Energie, Infrastruktur und Digitalisierung ein "
                    "weiteres Gespräch mit dem Botschafter der Republik Kasachstan in Berlin."], gold=2,
         spans=["27. März 2017", "26. August 2016", "9. Januar 2017"]),
    dict(q="Mit welcher Universität hat die Hochschule Neubrandenburg eine Partnerschaft?",
         answer="Innovativen Eurasischen Universität",
         sentences=["Im Hochschulbereich bestehen folgende Hochschulkooperationen zwischen Mecklenburg-Vorpommern "
                    "und Kasachstan:",
                    "Hochschule Neubrandenburg: Partnerschaft mit der „Innovativen Eurasischen Universität“ in "
                    "Pavlodar im Bereich Agrarwirtschaft.",
                    "Hochschule Wismar: Partnerschaften im Bereich Wirtschaft mit Kostanay State University, "
                    "Rudniy Industrial Institute und Karaganda State Technical University.",
                    "Sämtliche Partnerschaften beziehen sich auf die Anerkennung von Studien- und "
                    "Prüfungsleistungen."], gold=1,
         spans=["„Innovativen Eurasischen Universität“", "Kostanay State University",
                "Karaganda State Technical University"]),
    dict(q="Wie viele Gäste kamen zu der Abendveranstaltung am 29. März 2017?", answer="300",
         sentences=["Am 29. März 2017 wurde in der Vertretung des Landes Mecklenburg-Vorpommern beim Bund in "
                    "Berlin gemeinsam mit zahlreichen Partnern eine Abendveranstaltung mit etwa 300 Gästen über "
                    "die Partizipationsmöglichkeiten von Mecklenburg-Vorpommern an der „Neuen Seidenstraße“ "
                    "durchgeführt.",
                    "Dieser Erklärung haben sich inzwischen insgesamt 26 Institutionen und Unternehmen aus elf "
                    "Ländern angeschlossen.",
                    "Auf der Leitmesse „transport logistic“ in München im Mai 2017 unterzeichneten sieben "
                    "Institutionen und Unternehmen eine Absichtserklärung."], gold=0,
         spans=["etwa 300", "26", "sieben"]),
    dict(q="How many institutions and companies have joined the declaration?", answer="26",
         sentences=["Auf der Leitmesse „transport logistic“ in München im Mai 2017 unterzeichneten sieben "
                    "Institutionen und Unternehmen aus Russland und Mecklenburg-Vorpommern eine "
                    "Absichtserklärung.",
                    "Dieser Erklärung haben sich inzwischen insgesamt 26 Institutionen und Unternehmen aus elf "
                    "Ländern angeschlossen.",
                    "Am 29. März 2017 wurde in Berlin eine Abendveranstaltung mit etwa 300 Gästen durchgeführt."],
         gold=1, spans=["26", "sieben", "elf"]),
    dict(q="Wer hat die Kleine Anfrage gestellt?", answer="Holger Arppe",
         sentences=["Der Chef der Staatskanzlei hat namens der Landesregierung die Antwort auf die Kleine Anfrage "
                    "mit Schreiben vom 25. Juli 2017 übermittelt.",
                    "Kleine Anfrage des Abgeordneten Holger Arppe, Fraktion der AfD.",
                    "Beziehungen von Mecklenburg-Vorpommern zur Republik Kasachstan."], gold=1,
         spans=["Holger Arppe", "Der Chef der Staatskanzlei", "die Landesregierung"]),
    dict(q="Where will the New Silk Road be discussed in September 2017?", answer="Leningrader Oblast",
         sentences=["Russland und Kasachstan sind Gründungsmitglieder der Eurasischen Wirtschaftsunion.",
                    "Das Thema „Neue Seidenstraße“ wird daher auch im Rahmen der Wirtschaftsdelegationsreise des "
                    "Landes Mecklenburg-Vorpommern in den Leningrader Oblast im September 2017 diskutiert werden.",
                    "Aus hiesiger Sicht werden keine negativen Einflüsse auf das deutsch-russische Verhältnis "
                    "erwartet."], gold=1,
         spans=["in den Leningrader Oblast", "in der Eurasischen Wirtschaftsunion", "in Berlin"]),
    dict(q="Auf welcher Messe unterzeichneten im Mai 2017 sieben Institutionen eine Absichtserklärung?",
         answer="transport logistic",
         sentences=["Im Rahmen der Wirtschaftsdelegationsreisen anlässlich der Transport- und Logistikmesse "
                    "„TransRussia“ in Moskau wurden im April 2015 und im April 2016 jeweils ein „Memorandum of "
                    "Understanding“ gezeichnet.",
                    "Auf der diesjährigen internationalen Leitmesse „transport logistic“ in München im Mai 2017 "
                    "unterzeichneten sieben Institutionen und Unternehmen aus Russland und Mecklenburg-Vorpommern "
                    "eine Absichtserklärung zur Schaffung einer transkontinentalen Logistikpartnerschaft.",
                    "Dieser Erklärung haben sich inzwischen insgesamt 26 Institutionen und Unternehmen aus elf "
                    "Ländern angeschlossen."], gold=1,
         spans=["„transport logistic“", "„TransRussia“", "„Memorandum of Understanding“"]),
]


def norm(text: str) -> str:
    return re.sub(r"[\s„“\"'.,:;()]+", " ", text.lower()).strip()


def user_turn(case: dict, with_question: bool = True) -> str:
    ctx = "Kontext: " + " ".join(case["sentences"])
    return ctx + (f"\nFrage: {case['q']}" if with_question else "")


def quality(gen) -> dict:
    rows, n = [], len(CASES)
    for case in CASES:
        prompt = plain_prompt(SYSTEM, EXAMPLES, user_turn(case))
        noq = plain_prompt(SYSTEM, EXAMPLES, user_turn(case, with_question=False))
        passage = " ".join(case["sentences"])
        free = gen.complete(prompt, max_new_tokens=24, stop=["\n"]).strip()
        sents = [" " + s for s in case["sentences"]]
        tot = score(gen, prompt, sents)
        base = score(gen, noq, sents)
        ntok = [gen.count_tokens(s) for s in sents]
        mean = [t / k for t, k in zip(tot, ntok)]
        pmi = [t - b for t, b in zip(tot, base)]
        spans = [" " + s for s in case["spans"]]
        span_tot = score(gen, prompt, spans)
        span_pmi = [t - b for t, b in zip(span_tot, score(gen, noq, spans))]
        copied = gen.copy_span(prompt, passage, max_new_tokens=30)
        argmax = lambda xs: max(range(len(xs)), key=xs.__getitem__)  # noqa: E731
        rows.append(dict(
            q=case["q"], free=free, copied=copied,
            free_ok=norm(case["answer"]) in norm(free),
            copy_ok=norm(case["answer"]) in norm(copied),
            copy_substring=copied in passage,
            sent_total_ok=argmax(tot) == case["gold"], sent_mean_ok=argmax(mean) == case["gold"],
            sent_pmi_ok=argmax(pmi) == case["gold"],
            span_total_ok=argmax(span_tot) == 0, span_pmi_ok=argmax(span_pmi) == 0,
        ))
    keys = ["free_ok", "copy_ok", "sent_total_ok", "sent_mean_ok", "sent_pmi_ok", "span_total_ok", "span_pmi_ok"]
    return {"accuracy": {k: f"{sum(r[k] for r in rows)}/{n}" for k in keys}, "rows": rows}


# ---------------------------------------------------------------- speed

def speed_prompt(gen, target: int = 600) -> str:
    words = " ".join((REPO / "corpus" / "drucksache-7-844.txt").read_text(encoding="utf-8").split()).split(" ")
    lo, hi = 1, len(words)
    while lo < hi:  # the longest word prefix with at most ``target`` tokens
        mid = (lo + hi + 1) // 2
        if gen.count_tokens(" ".join(words[:mid])) <= target:
            lo = mid
        else:
            hi = mid - 1
    return " ".join(words[:lo])


def timed(fn):
    """(result, wall seconds, CPU seconds of this process) of ``fn()``."""
    w, c = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w, time.process_time() - c


def speed(gen, repeats: int) -> dict:
    """Medians of wall and CPU seconds; "cold" runs the prompt, "warm" reuses the last prompt's cache."""
    import torch

    prompt = speed_prompt(gen) + "\nFrage: Wie hoch war der Außenhandel mit Kasachstan im Jahr 2016?\nAntwort:"
    ids = gen._encode_prompt(prompt)
    cands = [f" Im Jahr {2006 + i} betrug der Außenhandel {i + 1},{i * 37 % 1000:03d} Mio. Euro (Platz {70 + i})."
             for i in range(10)]
    source = " ".join(CASES[0]["sentences"] + CASES[5]["sentences"] + CASES[9]["sentences"])
    argmax = lambda logit_of, step: int(logit_of(None).argmax())  # noqa: E731  never stops: fixed count
    walls: dict[str, list[float]] = {}
    cpus: dict[str, list[float]] = {}

    def record(key, fn):
        out, w, c = timed(fn)
        walls.setdefault(key, []).append(w)
        cpus.setdefault(key, []).append(c)
        return out

    def decode32():  # 32 greedy steps after the (reused) prefill
        it = gen._decode(ids, 33, argmax)
        next(it)
        return sum(1 for _ in it)

    copy_tokens = []
    for _ in range(repeats):
        gen._memo = None
        record("prefill", lambda: gen._prefill(ids))
        record("decode32", decode32)
        gen._memo = None
        record("score10_cold", lambda: score(gen, prompt, cands))
        record("score10_warm", lambda: score(gen, prompt, cands))
        gen._memo = None
        record("copy_cold", lambda: gen.copy_span(prompt, source, max_new_tokens=30))
        out = record("copy_warm", lambda: gen.copy_span(prompt, source, max_new_tokens=30))
        copy_tokens.append(gen.count_tokens(out))
    med = lambda xs: round(statistics.median(xs), 3)  # noqa: E731
    res = {"prompt_tokens": len(ids), "threads": torch.get_num_threads(), "copy_tokens": med(copy_tokens),
           "wall_s": {k: med(v) for k, v in walls.items()}, "cpu_s": {k: med(v) for k, v in cpus.items()}}
    res["prefill_tok_s"] = round(len(ids) / res["wall_s"]["prefill"], 1)
    res["decode_tok_s"] = round(32 / res["wall_s"]["decode32"], 1)
    res["copy_tok_s_warm"] = round(res["copy_tokens"] / res["wall_s"]["copy_warm"], 1)
    return res


def single(args) -> dict:
    from rag.decoding import CausalLM

    gen = CausalLM(args.model, quantize=args.single == "int8", threads=args.threads or None)
    load0 = os.getloadavg()[0]
    t = time.perf_counter()
    gen.warm_up()
    result = {"mode": args.single, "load_s": round(time.perf_counter() - t, 2), "loadavg_at_start": load0}
    if not args.skip_speed:
        result["speed"] = speed(gen, args.repeats)
    if not args.skip_quality:
        result["quality"] = quality(gen)
    result["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
    result["loadavg_at_end"] = os.getloadavg()[0]
    return result


def default_model() -> str:
    try:
        from rag import models

        return str(models.generator_path(Settings.from_env()))
    except Exception:  # rag.models missing or the model not fetched yet
        return "/tmp/gen/hf"


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=None, help="model folder (default: the packaged gemma-3-270m)")
    ap.add_argument("--modes", default="fp32,int8")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default, all cores)")
    ap.add_argument("--skip-speed", action="store_true")
    ap.add_argument("--skip-quality", action="store_true")
    ap.add_argument("--out", type=Path, default=None, help="write the full JSON here")
    ap.add_argument("--single", default=None, help=argparse.SUPPRESS)  # internal: one mode, this process
    args = ap.parse_args(argv)
    args.model = args.model or default_model()
    if args.single:
        print(json.dumps(single(args), ensure_ascii=False))
        return
    results = []
    for mode in args.modes.split(","):
        cmd = [sys.executable, __file__, "--single", mode, "--model", args.model, "--repeats", str(args.repeats)]
        cmd += ["--threads", str(args.threads)]
        cmd += ["--skip-speed"] * args.skip_speed + ["--skip-quality"] * args.skip_quality
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode:
            sys.exit(f"{mode} failed:\n{proc.stderr[-3000:]}")
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    for r in results:
        summary = {k: v for k, v in r.items() if k != "quality"}
        if "quality" in r:
            summary["quality"] = r["quality"]["accuracy"]
        print(json.dumps(summary, ensure_ascii=False))
        for row in r.get("quality", {}).get("rows", []):
            print(f"  [{r['mode']}] {row['q'][:60]!r}\n      free={row['free']!r}\n      copy={row['copied']!r}")
    if args.out:
        args.out.write_text(json.dumps(results, ensure_ascii=False, indent=1), encoding="utf-8")


if __name__ == "__main__":
    main()
