"""A quick evaluation with the real models: a handful of gold questions, every configuration."""
from __future__ import annotations

import json

import pytest

from eval.runner import CONFIGS, run

pytestmark = pytest.mark.real


def test_quick_eval_real_pipeline(real_pipeline, real_settings, tmp_path):
    shared = {"embedder": real_pipeline.embedder, "generator": real_pipeline.generator}

    def factory(settings, _shared):
        from rag.pipeline import Pipeline

        return Pipeline(settings, **shared)

    report = run(configs=list(CONFIGS), out_dir=tmp_path, limit=6, progress=False,
                 settings_overrides={"index_dir": real_settings.index_dir}, pipeline_factory=factory,
                 thresholds=["hybrid-extractive:hit@3>=0.8"])
    results = json.loads((report.report_path.parent / "results.json").read_text())
    assert report.report_path.exists() and list(report.report_path.parent.glob("*.png"))
    assert not report.failed_thresholds, report.failed_thresholds
    assert set(results["configs"]) == set(CONFIGS)
    records = [r for cfg in results["configs"].values() for r in cfg["records"]]
    assert len(records) == 6 * len(CONFIGS)
    assert not [r for r in records if r.get("error")]
