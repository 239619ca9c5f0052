"""Time the cached packaged models: path resolution, embedder load + one query, generator load + 16 tokens.

Usage: .venv/bin/python scripts/time_model_loads.py   (fetches the models first if they are missing)
Drop the page cache first (sync; echo 3 > /proc/sys/vm/drop_caches) to time a cold load.
"""
from __future__ import annotations

import json
import time

from rag import models
from rag.config import Settings


def main() -> None:
    settings = Settings.from_env()
    out = {}
    t = time.perf_counter()
    emb, gen = models.embedder_path(settings), models.generator_path(settings)
    out["resolve_paths_s"] = time.perf_counter() - t

    t = time.perf_counter()
    from sentence_transformers import SentenceTransformer

    embedder = SentenceTransformer(emb, device="cpu")
    out["embedder_load_s"] = time.perf_counter() - t
    t = time.perf_counter()
    vec = embedder.encode_query(["Handel mit Kasachstan"])
    out["embedder_first_query_s"] = time.perf_counter() - t
    out["embedding_dim"] = int(vec.shape[1])

    t = time.perf_counter()
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(gen)
    model = AutoModelForCausalLM.from_pretrained(gen)
    out["generator_load_s"] = time.perf_counter() - t
    out["generator_dtype"] = str(model.dtype)
    ids = tokenizer("Die Landesregierung antwortet auf die Kleine Anfrage", return_tensors="pt")
    t = time.perf_counter()
    new = model.generate(**ids, max_new_tokens=16, do_sample=False)
    out["generator_16_tokens_s"] = time.perf_counter() - t
    out["generator_sample"] = tokenizer.decode(new[0][ids["input_ids"].shape[1]:], skip_special_tokens=True)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in out.items()}, indent=1,
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
