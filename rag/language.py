"""Which language a text is in, German or English: py3langid (a maintained n-gram classifier)
restricted to the two languages the product answers in.

Short inputs ("2016?", "Wismar?") carry little signal: below ``MIN_CONFIDENCE`` the caller's default
is returned (the language of the conversation so far, else German, the papers' language).
"""
from __future__ import annotations

import re
import threading
from functools import lru_cache

LANGUAGES = ("de", "en")
MIN_CONFIDENCE = 0.9
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _identifier():
    with _lock:
        from pathlib import Path

        import py3langid.langid as langid

        model = Path(langid.__file__).parent / langid.MODEL_FILE
        ident = langid.LanguageIdentifier.from_modelpath(model, norm_probs=True)
        ident.set_languages(list(LANGUAGES))
        return ident


def detect_language(text: str, default: str = "de") -> str:
    """ "de" or "en"; ``default`` when the text is too short or too mixed to tell."""
    letters = re.sub(r"[\d\W_]+", " ", text).strip()
    if len(letters) < 3:
        return default
    lang, confidence = _identifier().classify(text)
    if confidence >= MIN_CONFIDENCE:
        return lang
    # names ("Mecklenburg-Vorpommern", "Kazakhstan") blur the n-grams: let the function words decide
    words = re.findall(r"[^\W\d_]+", text.lower())
    de, en = sum(w in _FUNCTION["de"] for w in words), sum(w in _FUNCTION["en"] for w in words)
    return "de" if de > en else "en" if en > de else default


_FUNCTION = {
    "de": frozenset("der die das den dem des und ist sind wie welche welcher welches wer wann wo warum hat haben "
                    "mit von zu zum zur viel viele im am auf für nicht ein eine einen gab gibt wurde wurden".split()),
    "en": frozenset("the and is are how what which who whom when where why did does do has have with of to for "
                    "much many not a an there were been by from".split()),
}
