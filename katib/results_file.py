"""The results file (`katib-local-results` v1, docs/contracts.md §6): one layout, one reader.

`katib.local` writes it after every trial (`katib.backends.local.results`), the tuning step
writes it for a cluster run (`document_from_result`), and the local backend, the warm-start
source and the tuning step read it (`read_document` / `parse_document` / `experiment_result`).
Standard library only (plus `nac.documents`), so the lean suggestion image can read it.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from katib.constants import RESULTS_FORMAT, RESULTS_VERSION
from katib.suggestion.metrics import parse_metric
from katib.types import (
    ExperimentResult,
    ExperimentStatus,
    Objective,
    ObjectiveType,
    TrialResult,
)
from nac.documents import check_header, header

#: Seconds to wait for an http(s) results file.
_FETCH_TIMEOUT_S = 10.0
#: How to get a file of the right kind (appended to header errors).
HINT = "write it with `python -m katib.local run` or connect a tune step's `results` output"


def document(*, experiment: str, objective: Objective, parameters: Iterable[Mapping[str, Any]],
             trials: list[dict[str, Any]], best: Any | None,
             **sections: Any) -> dict[str, Any]:
    """The results document: `trials` are JSON trial entries, `best` a trial with `.name`,
    `.assignments` and `.metrics` (or None); `sections` (algorithm_settings, pareto) follow."""
    doc: dict[str, Any] = {
        **header(RESULTS_FORMAT, RESULTS_VERSION),
        "experiment": experiment,
        "objective": {"type": str(objective.type), "metric": objective.metric,
                      "goal": objective.goal},
        "parameters": [dict(p) for p in parameters],
        "trials": trials,
        "best": None if best is None else {
            "name": best.name, "assignments": dict(best.assignments),
            "objective": parse_metric(best.metrics.get(objective.metric))},
    }
    doc.update({k: v for k, v in sections.items() if v})
    return doc


def document_from_result(result: ExperimentResult,
                         parameters: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The results document of a neutral ExperimentResult (e.g. a cluster run's Trial CRs)."""
    trials = [{"name": t.name, "assignments": dict(t.assignments), "metrics": dict(t.metrics),
               "status": str(t.status)} for t in result.trials]
    return document(experiment=result.name, objective=result.objective, parameters=parameters,
                    trials=trials, best=result.best)


def parse_document(text: str, *, where: str, error: type[Exception] = ValueError,
                   hint: str = HINT) -> dict[str, Any]:
    """The document in `text`; `error` names `where` when it is not JSON or not this format."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise error(f"{where} is not readable JSON ({e}); {hint}") from None
    return check_document(doc, where=where, error=error, hint=hint)


def check_document(doc: Any, *, where: str, error: type[Exception] = ValueError,
                   hint: str = HINT) -> dict[str, Any]:
    """`doc` when it is a results document of the version this release reads."""
    return check_header(doc, RESULTS_FORMAT, RESULTS_VERSION, where=where, error=error,
                        hint=hint)


def read_document(source: str, *, where: str = "", error: type[Exception] = ValueError,
                  hint: str = HINT) -> dict[str, Any]:
    """Read a results file from a path, a `file://` URL or an `http(s)://` URL; messages start
    with `where` (default: the quoted source)."""
    where = where or repr(source)
    parsed = urllib.parse.urlparse(source)
    try:
        if parsed.scheme in ("http", "https"):
            from urllib.request import urlopen  # http.client, email: loaded only for URLs

            with urlopen(source, timeout=_FETCH_TIMEOUT_S) as resp:  # noqa: S310
                text = resp.read().decode("utf-8")
        else:
            path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else source)
            text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as e:
        raise error(f"{where} cannot be read as a results file: {e}") from None
    return parse_document(text, where=where, error=error, hint=hint)


def trials_of(doc: Mapping[str, Any]) -> list[TrialResult]:
    """The document's trials as TrialResults (entries with an unknown status are skipped)."""
    out = []
    for t in doc.get("trials") or []:
        try:
            out.append(TrialResult(
                name=str(t.get("name", "")),
                assignments={str(k): str(v) for k, v in (t.get("assignments") or {}).items()},
                metrics={str(k): str(v) for k, v in (t.get("metrics") or {}).items()},
                status=str(t.get("status", ""))))
        except (AttributeError, ValueError):
            continue
    return out


def objective_of(doc: Mapping[str, Any]) -> Objective:
    obj = doc.get("objective") or {}
    goal = obj.get("goal")
    return Objective(type=ObjectiveType(obj.get("type") or "maximize"),
                     metric=str(obj.get("metric", "")),
                     goal=float(goal) if goal is not None else None)


def experiment_result(doc: Mapping[str, Any], *, status: ExperimentStatus, reason: str = "",
                      message: str = "") -> ExperimentResult:
    """The neutral ExperimentResult of a (header-checked) results document."""
    return ExperimentResult(name=str(doc.get("experiment", "")), status=status,
                            objective=objective_of(doc), trials=trials_of(doc), reason=reason,
                            message=message, extra={"best": doc.get("best")})


__all__ = ["HINT", "check_document", "document", "document_from_result", "experiment_result",
           "objective_of", "parse_document", "read_document", "trials_of"]
