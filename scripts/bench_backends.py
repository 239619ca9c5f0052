"""The default (extractive) mode against the vLLM-backed generated mode on the same questions.

    python scripts/bench_backends.py                          # starts vLLM (scripts/vllm_server.py) itself
    python scripts/bench_backends.py --url http://127.0.0.1:8000/v1 --model gemma-3-270m --questions 12

For each mode: latency p50/p95 with one asker, then throughput with 4 concurrent askers. Modes:
``extractive`` (the product's default: no model writes anything), ``verified`` (the in-process
gemma-3-270m, transformers fp32, one thread, translating descriptive answers for English askers) and ``generated`` (the vLLM-served
model writes the answer, then rag/generated.py verifies it). A last row compares raw decoding
throughput: 4 concurrent 64-token generations through vLLM against the in-process transformers model
(one request at a time, as the product runs it), in the same run. The machine may be shared: the load
average is printed with the results.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "scripts"))

from rag.config import Settings  # noqa: E402
from rag.generated import generated_answer  # noqa: E402
from rag.generation import answer_prompt  # noqa: E402
from rag.openai_backend import OpenAIGenerator  # noqa: E402
from rag.pipeline import Pipeline  # noqa: E402
from rag.types import GenerationRequest, Query  # noqa: E402

MIN_SUPPORT = 0.782  # python -m eval.support.fit
ASKERS = 4


def questions(n: int) -> list[dict]:
    rows = [json.loads(line) for line in (ROOT / "eval" / "gold.jsonl").read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if r.get("answerable") and not r.get("history")][:n]


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, max(0, round(q * (len(values) - 1))))]


def measure(name: str, ask, rows: list[dict]) -> dict:
    """Sequential latencies, then wall time for all questions with ``ASKERS`` concurrent askers."""
    ask(rows[0])  # warm: the first question pays for loading
    lat, outcomes = [], []
    for row in rows:
        t = time.perf_counter()
        outcomes.append(ask(row))
        lat.append(time.perf_counter() - t)
    t = time.perf_counter()
    with ThreadPoolExecutor(ASKERS) as pool:
        list(pool.map(ask, rows))
    wall = time.perf_counter() - t
    out = {"mode": name, "questions": len(rows), "p50_s": round(statistics.median(lat), 2),
           "p95_s": round(pct(lat, 0.95), 2), "throughput_qps": round(len(rows) / wall, 3),
           "loadavg": round(os.getloadavg()[0], 1)}
    if any(o is not None for o in outcomes):
        out["generated_shown"] = sum(1 for o in outcomes if o)
    print(json.dumps(out), flush=True)
    return out


def decode_ratio(vllm: OpenAIGenerator, pipeline: Pipeline, rows: list[dict], tokens: int = 64) -> dict:
    """Aggregate tokens/s of ``ASKERS`` concurrent fixed-length generations: vLLM against in-process."""
    import httpx

    prompts = []
    for r in rows[:ASKERS]:
        passages = tuple((c.n, c.quote) for c in pipeline.ask(r["question"]).citations)
        prompts.append(answer_prompt(GenerationRequest(task="answer", question=r["question"],
                                                       language=r["language"], passages=passages)))

    def served(prompt):
        body = {"model": vllm.model, "prompt": prompt, "max_tokens": tokens, "temperature": 0, "ignore_eos": True}
        return httpx.post(vllm.base_url + "/completions", json=body, timeout=600).json()["usage"]["completion_tokens"]

    t = time.perf_counter()
    with ThreadPoolExecutor(ASKERS) as pool:
        n_served = sum(pool.map(served, prompts))
    served_rate = n_served / (time.perf_counter() - t)

    gen = pipeline.generator  # TransformersGenerator: one request at a time (its lock), as in the product
    lm = gen.lm
    lm.warm_up()
    never_stop = lambda logit_of, step: int(logit_of(None).argmax())  # noqa: E731

    def local(prompt):
        with gen._lock:
            return sum(1 for _ in lm._decode(lm._encode_prompt(prompt), tokens, never_stop))

    t = time.perf_counter()
    with ThreadPoolExecutor(ASKERS) as pool:
        n_local = sum(pool.map(local, prompts))
    local_rate = n_local / (time.perf_counter() - t)
    out = {"mode": "decode", "vllm_tok_s": round(served_rate, 1), "transformers_tok_s": round(local_rate, 1),
           "ratio": round(served_rate / local_rate, 2), "loadavg": round(os.getloadavg()[0], 1)}
    print(json.dumps(out), flush=True)
    return out


def table(results: list[dict], decode: dict) -> str:
    lines = ["| mode | questions | p50 (s) | p95 (s) | answers/s, 4 askers | generated answers shown |",
             "|---|---|---|---|---|---|"]
    for r in results:
        shown = f"{r['generated_shown']}/{r['questions']}" if "generated_shown" in r else "-"
        lines.append(f"| {r['mode']} | {r['questions']} | {r['p50_s']} | {r['p95_s']} | {r['throughput_qps']} | {shown} |")
    lines.append("")
    lines.append(f"Decoding, 4 concurrent 64-token generations: vLLM {decode['vllm_tok_s']} tokens/s, in-process "
                 f"transformers {decode['transformers_tok_s']} tokens/s: ratio {decode['ratio']}x.")
    return "\n".join(lines)


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default=None, help="a running server's /v1 URL (default: start vLLM here)")
    ap.add_argument("--model", default="gemma-3-270m")
    ap.add_argument("--questions", type=int, default=12)
    ap.add_argument("--max-new-tokens", type=int, default=96)
    ap.add_argument("--out", type=Path, default=None, help="write the results as JSON here")
    args = ap.parse_args(argv)
    rows = questions(args.questions)
    proc = None
    if args.url is None:
        import vllm_server as helper

        python = helper.ensure_venv()
        port, log = helper.free_port(), Path(Settings.from_env().home) / "vllm-bench.log"
        proc = helper.start(python, helper.default_model(), port, log)
        print(f"vLLM ready after {helper.wait_ready(proc, port, log, timeout=900):.0f} s", flush=True)
        args.url = f"http://127.0.0.1:{port}/v1"
    try:
        settings = Settings.from_env()
        pipeline = Pipeline(settings.with_(answer_mode="extractive"), log=lambda m: None).warm_up()
        verified = Pipeline(settings.with_(answer_mode="verified"), embedder=pipeline.embedder,
                            log=lambda m: None).warm_up()
        vllm = OpenAIGenerator(args.url, args.model, timeout=600)
        vllm.warm_up()

        def generated(row):
            ans = pipeline.ask(row["question"])
            query = Query(text=row["question"], resolved=row["question"], language=ans.language)
            return generated_answer(vllm, pipeline.embedder, query, ans.citations, MIN_SUPPORT,
                                    max_new_tokens=args.max_new_tokens) is not None

        results = [measure("extractive (default)", lambda r: pipeline.ask(r["question"]) and None, rows),
                   measure("verified (in-process gemma-3-270m: English translations)",
                           lambda r: verified.ask(r["question"]) and None, rows),
                   measure("generated (vLLM gemma-3-270m)", generated, rows)]
        decode = decode_ratio(vllm, verified, rows)
    finally:
        if proc is not None:
            helper.stop(proc)
    print(table(results, decode))
    if args.out:
        args.out.write_text(json.dumps({"results": results, "decode": decode}, indent=1))


if __name__ == "__main__":
    main()
