"""The ordered list of places to fetch a model from: environment overrides, mirrors, then its archive."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from mirage_desktop.models.manifest import ModelEntry

#: names kept for compatibility with the variables users already know from the issue tracker
NAMED_OVERRIDES = {"inswapper_128": "MIRAGE_INSWAPPER_URL", "codeformer": "MIRAGE_CODEFORMER_URL"}


@dataclass(frozen=True, slots=True)
class Source:
    url: str
    #: "direct" (the model file itself) or "archive" (a zip holding it)
    kind: str = "direct"
    #: the environment variable it came from, if any
    origin: str = ""
    #: set when the source cannot be used; reported with the other mirrors' answers
    problem: str = ""


def override_variables(model_id: str) -> tuple[str, ...]:
    generic = "MIRAGE_MODEL_URL_" + re.sub(r"[^A-Z0-9]", "_", model_id.upper())
    named = NAMED_OVERRIDES.get(model_id)
    return (named, generic) if named else (generic,)


def sources_for(entry: ModelEntry, environ: Mapping[str, str]) -> tuple[Source, ...]:
    found: list[Source] = []
    for variable in override_variables(entry.id):
        for url in environ.get(variable, "").split():
            problem = "" if url.startswith(("https://", "http://")) else "not an http(s) URL"
            found.append(Source(url=url, origin=variable, problem=problem))
    found.extend(Source(url=url) for url in entry.urls)
    if entry.archive is not None:
        found.extend(Source(url=url, kind="archive") for url in entry.archive.archive.urls)
    unique: dict[str, Source] = {}
    for source in found:
        unique.setdefault(source.url, source)
    return tuple(unique.values())
