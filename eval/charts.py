"""PNG charts for the report, drawn with matplotlib's Agg canvas (no pyplot state, no display)."""
from __future__ import annotations

import math
from pathlib import Path
from typing import Mapping, Sequence

CHART_METRICS = ("hit@5", "mrr", "ndcg@5", "accuracy", "fact_accuracy", "refusal_precision", "refusal_recall",
                 "citation_precision", "citation_recall", "language_accuracy")


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height))
    fig.subplots_adjust(left=0.07, right=0.98, top=0.9, bottom=0.25, wspace=0.25)
    FigureCanvasAgg(fig)
    return fig


def _value(x) -> float:
    return math.nan if x is None else float(x)


def _grouped_bars(ax, categories: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str) -> None:
    n = max(len(series), 1)
    width = 0.8 / n
    for i, (name, values) in enumerate(series.items()):
        xs = [c + (i - (n - 1) / 2) * width for c in range(len(categories))]
        ax.bar(xs, [_value(v) for v in values], width=width, label=name)
    ax.set_xticks(range(len(categories)))
    ax.set_xticklabels(categories, rotation=30, ha="right")
    ax.set_ylim(0, 1.2)  # headroom above 1.0 for the legend
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel(ylabel)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize="small", ncols=min(n, 4), loc="upper center")


def metrics_chart(summaries: Mapping[str, Mapping], path: Path) -> Path:
    fig = _figure(11, 4.5)
    ax = fig.add_subplot()
    series = {cfg: [s["overall"].get(m) for m in CHART_METRICS] for cfg, s in summaries.items()}
    _grouped_bars(ax, CHART_METRICS, series, "score (higher is better)")
    ax.set_title("Metrics per configuration (all questions)")
    fig.savefig(path, dpi=100)
    return path


def groups_chart(summaries: Mapping[str, Mapping], path: Path) -> Path:
    """Accuracy by language and by question type."""
    groups = sorted({g for s in summaries.values() for g in s["by_language"]})
    types = sorted({t for s in summaries.values() for t in s["by_type"]})
    labels = groups + types
    series = {cfg: [s["by_language"].get(g, {}).get("accuracy") for g in groups]
              + [s["by_type"].get(t, {}).get("accuracy") for t in types] for cfg, s in summaries.items()}
    fig = _figure(11, 4.5)
    ax = fig.add_subplot()
    _grouped_bars(ax, labels, series, "accuracy")
    ax.set_title("Accuracy by language and by question type")
    fig.savefig(path, dpi=100)
    return path


def latency_chart(results: Mapping[str, Sequence[Mapping]], path: Path) -> Path:
    """Box plots of the time to the first text and to the final answer, per configuration."""
    fig = _figure(11, 4)
    names = list(results)
    for i, (key, title) in enumerate((("latency_first_text", "time to first text"),
                                      ("latency_total", "time to the final answer"))):
        ax = fig.add_subplot(1, 2, i + 1)
        data = [[r[key] for r in results[n] if r.get(key) is not None] for n in names]
        if any(data):
            ax.boxplot([d or [math.nan] for d in data], showmeans=True)
            ax.set_xticks(range(1, len(names) + 1))
            ax.set_xticklabels(names, rotation=20, ha="right")
        else:
            ax.text(0.5, 0.5, "no timings", ha="center", va="center", transform=ax.transAxes)
        ax.set_title(title)
        ax.set_ylabel("seconds")
        ax.grid(axis="y", alpha=0.3)
    fig.savefig(path, dpi=100)
    return path


def write_charts(summaries: Mapping[str, Mapping], results: Mapping[str, Sequence[Mapping]], folder: Path) -> dict:
    """Every chart into ``folder``; returns {name: path}."""
    return {
        "metrics": metrics_chart(summaries, folder / "metrics.png"),
        "groups": groups_chart(summaries, folder / "accuracy_by_group.png"),
        "latency": latency_chart(results, folder / "latency.png"),
    }
