"""Machine-translation reference set (reference.jsonl) and its scorer (python -m eval.translation.score)."""
