"""Every threshold and margin of the answering step, in one object: defaults here, fitted values
saved beside the index by ``rag eval calibrate`` and keyed by the embedder's fingerprint (another
embedder gets its own file, and falls back to the defaults until it is calibrated).
"""
from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

from .errors import InputError


@dataclass(frozen=True)
class Policy:
    min_similarity: float = 0.25  # best evidence span's cosine to the question below this: refuse
    strong_similarity: float = 0.60  # at or above this the evidence answers even if the focus is not linked
    word_link: float = 0.65  # a focus word counts as mentioned when a passage word is this similar
    min_focus: float = 0.5  # share of the focus words the evidence must mention
    min_focus_en: float = 0.5  # the same for English questions: their words link to the German text more weakly
    # English questions meet German passages at lower cosines: their own similarity thresholds (None: as German)
    min_similarity_en: float | None = None
    strong_similarity_en: float | None = None
    second_margin: float = 0.04  # a span from another passage this close to the best is quoted too
    next_margin: float = 0.35  # the span after the best one is quoted too when it scores this close
    previous_margin: float = 0.15  # and the one before it
    list_margin: float = 0.25  # list questions gather spans from every passage scoring this close
    min_support: float = 0.55  # generated sentences: cross-lingual similarity to their cited quote
    min_translation: float = 0.70  # machine translations: similarity of translation and source
    fitted_on: str = "defaults"  # what the values were fitted on

    def with_(self, **changes) -> "Policy":
        return replace(self, **changes)

    def for_language(self, language: str) -> tuple[float, float, float]:
        """(min_similarity, min_focus, strong_similarity) for questions in ``language``."""
        if language != "en":
            return self.min_similarity, self.min_focus, self.strong_similarity
        pick = lambda own, base: base if own is None else own  # noqa: E731
        return (pick(self.min_similarity_en, self.min_similarity), self.min_focus_en,
                pick(self.strong_similarity_en, self.strong_similarity))


def path_for(index_dir: Path, fingerprint: str) -> Path:
    return Path(index_dir) / f"policy-{(fingerprint or 'unknown')[:16]}.json"


SHIPPED = Path(__file__).parent / "policies"  # fitted policies shipped with the code, by embedder


def load(index_dir: Path, fingerprint: str) -> Policy:
    """The policy fitted for this embedder: beside the index, else shipped, else the defaults."""
    p = path_for(index_dir, fingerprint)
    if not p.is_file():
        p = path_for(SHIPPED, fingerprint)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return Policy()
    except (OSError, ValueError) as exc:
        raise InputError(f"cannot read the answering policy {p}: {exc}; delete it or run `rag eval calibrate`") from None
    known = {f.name for f in fields(Policy)}
    return Policy(**{k: v for k, v in data.items() if k in known})


def save(policy: Policy, index_dir: Path, fingerprint: str) -> Path:
    """Beside the index, and into the shipped folder when the code is writable (so a fresh clone uses it)."""
    if os.access(SHIPPED, os.W_OK):
        _write(policy, path_for(SHIPPED, fingerprint))
    return _write(policy, path_for(index_dir, fingerprint))


def _write(policy: Policy, p: Path) -> Path:
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(f".{p.name}.{os.getpid()}")
    tmp.write_text(json.dumps(asdict(policy), indent=1), encoding="utf-8")
    os.replace(tmp, p)
    return p


def update(index_dir: Path, fingerprint: str, note: str = "", **changes) -> list[Path]:
    """Change only ``changes`` in this embedder's saved policies (the shipped one, created from the
    defaults if missing, and the one beside the index if there is one), keeping every other field.
    ``note`` replaces an earlier note on the same field in ``fitted_on``."""
    unknown = set(changes) - {f.name for f in fields(Policy)}
    if unknown:
        raise InputError(f"unknown policy fields: {sorted(unknown)}")
    targets = [path_for(index_dir, fingerprint)] if path_for(index_dir, fingerprint).is_file() else []
    if os.access(SHIPPED, os.W_OK):
        targets.insert(0, path_for(SHIPPED, fingerprint))
    done = []
    for p in targets:
        old = load(p.parent, fingerprint) if p.is_file() else Policy()
        fitted_on = old.fitted_on
        if note:
            key = note.split(":")[0] + ":"
            kept = [part for part in fitted_on.split("; ") if not part.startswith(key)]
            fitted_on = "; ".join(kept + [note])
        done.append(_write(old.with_(**changes, fitted_on=fitted_on), p))
    return done
