"""Evaluation: gold questions (gold.jsonl), pure metrics (metrics.py), the runner and its report.

Nothing is imported here so that ``import eval.metrics`` stays cheap; the runner loads the
pipeline (and its models) only when it runs.
"""
