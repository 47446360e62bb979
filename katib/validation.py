"""The one Experiment validator, used by both backends: parse and check a Katib v1beta1
Experiment the way Katib's webhook would.

The document is checked against the typed `kubeflow_katib_api` models (so a file that runs here
also parses for the cluster), for misspelt keys (with a did-you-mean), then against the webhook
rules (`pkg/webhook/v1beta1/experiment/validator/validator.go`, in `katib.validation_rules`) and
defaulted as Katib does (`experiment_defaults.go`). Every problem is reported with its field
path, all at once. `parse_experiment` is the local runner's entry (it also refuses what cannot
run without a cluster); `validate_experiment` is the Kubernetes backend's (the body to send).
"""

from __future__ import annotations

import copy
import difflib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pydantic
import yaml
from kubeflow_katib_api import models

from katib import validation_rules as rules
from katib.constants import API_VERSION, EXPERIMENT_KIND
from katib.types import Objective, name_problem
from katib.validation_rules import MedianStopSettings


class ExperimentError(ValueError):
    """The Experiment cannot run; the message names every bad field and how to fix it."""

    def __init__(self, problems: list[str], *, source: str = "experiment") -> None:
        self.problems = list(problems)
        if len(problems) == 1:
            text = f"{source} is invalid: {problems[0]}"
        else:
            text = f"{source} is invalid ({len(problems)} problems):\n" + "\n".join(
                f"  - {p}" for p in problems)
        super().__init__(text)


@dataclass(frozen=True)
class Experiment:
    """A validated Experiment, ready for the local runner."""

    name: str
    namespace: str
    objective: Objective
    algorithm_name: str
    algorithm_settings: tuple[tuple[str, str], ...]
    parallel_trial_count: int
    max_trial_count: int | None
    max_failed_trial_count: int | None
    parameters: tuple[dict[str, Any], ...]
    nas_config: dict[str, Any] | None
    trial_template: dict[str, Any]
    metrics_formats: tuple[str, ...]
    early_stopping: MedianStopSettings | None
    early_stopping_settings: tuple[tuple[str, str], ...] = ()
    #: "" (none), "medianstop" (in-process) or an algorithm of katib.earlystopping ("asha").
    early_stopping_algorithm: str = ""
    document: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)


def load_experiment(source: str | os.PathLike[str] | Mapping[str, Any]) -> Experiment:
    """Read (YAML path or dict) and validate an Experiment; raise ExperimentError on bad input."""
    if isinstance(source, Mapping):
        return parse_experiment(dict(source))
    path = Path(source)
    label = str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ExperimentError([f"file not found: {path}"], source=label) from None
    except OSError as e:
        raise ExperimentError([f"cannot read {path}: {e.strerror}"], source=label) from None
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise ExperimentError([f"not valid YAML{where}: {problem}"], source=label) from None
    experiments = [d for d in docs if isinstance(d, dict) and d.get("kind") == EXPERIMENT_KIND]
    if len(experiments) != 1:
        kinds = [d.get("kind") if isinstance(d, dict) else type(d).__name__ for d in docs]
        raise ExperimentError(
            [f"expected exactly one document of kind: Experiment, found {len(experiments)} "
             f"(kinds: {kinds or 'none'})"], source=label)
    return parse_experiment(experiments[0], source=label)


def validate_experiment(experiment: Any) -> dict[str, Any]:
    """The body to send to a cluster: a copy of `experiment` with apiVersion/kind defaulted,
    checked by the same rules as a local run minus what only a local run cannot do (any
    algorithm name, ConfigMap templates, other collectors). Raises ExperimentError (a
    ValueError) naming every bad field."""
    body = with_defaults(experiment)
    parse_experiment(body, local=False)
    return body


def with_defaults(experiment: Any) -> dict[str, Any]:
    """A copy of the document with `apiVersion`/`kind` filled in when absent (as both backends
    accept a bare spec dict); raises ExperimentError for anything but a mapping."""
    if not isinstance(experiment, Mapping):
        raise ExperimentError([f"expected a mapping (an Experiment document), got "
                               f"{type(experiment).__name__}"])
    body = copy.deepcopy(dict(experiment))
    body.setdefault("apiVersion", API_VERSION)
    body.setdefault("kind", EXPERIMENT_KIND)
    return body


def parse_experiment(doc: dict[str, Any], *, source: str = "experiment",
                     local: bool = True) -> Experiment:
    """Validate an Experiment document (a dict as `kubectl apply` would send it).

    `local=True` also refuses what the local runner cannot run (see `validate_experiment`).
    """
    if not isinstance(doc, dict):
        raise ExperimentError([f"expected a mapping, got {type(doc).__name__}"], source=source)
    problems: list[str] = []
    if doc.get("apiVersion") != API_VERSION:
        problems.append(f"apiVersion: must be {API_VERSION!r}, got {doc.get('apiVersion')!r}")
    if doc.get("kind") != EXPERIMENT_KIND:
        problems.append(f"kind: must be {EXPERIMENT_KIND!r}, got {doc.get('kind')!r}")
    problems += _model_problems(doc)
    if problems:
        raise ExperimentError(problems, source=source)
    problems += _unknown_keys(doc)
    meta = doc.get("metadata") or {}
    name = meta.get("name") or ""
    bad_name = name_problem(name)
    if bad_name is not None:
        problems.append(f"metadata.name: {bad_name}")
    spec = doc.get("spec")
    if not isinstance(spec, dict):
        problems.append("spec: required (objective, algorithm, parameters, trialTemplate)")
        raise ExperimentError(problems, source=source)
    objective = rules.objective(spec.get("objective"), problems)
    algorithm_name, algorithm_settings = rules.algorithm(spec.get("algorithm"), problems, local)
    counts = rules.counts(spec, problems)
    parameters = rules.parameters(spec, problems)
    template = rules.trial_template(spec.get("trialTemplate"), parameters, problems, local)
    formats = rules.metrics_formats(spec.get("metricsCollectorSpec"), problems, local)
    obj_doc = spec.get("objective")
    early, early_settings = rules.early_stopping(spec.get("earlyStopping"), problems, local,
                                                 obj_doc if isinstance(obj_doc, dict) else {})
    if problems:
        label = f"Experiment {name!r}" if name else "Experiment"
        if source != "experiment":
            label = f"{source}: {label}"
        raise ExperimentError(problems, source=label)
    assert objective is not None
    return Experiment(
        name=name, namespace=meta.get("namespace") or "default", objective=objective,
        algorithm_name=algorithm_name, algorithm_settings=algorithm_settings,
        parallel_trial_count=counts[0], max_trial_count=counts[1],
        max_failed_trial_count=counts[2], parameters=tuple(parameters),
        nas_config=spec.get("nasConfig"), trial_template=template, metrics_formats=formats,
        early_stopping=early, early_stopping_settings=early_settings,
        early_stopping_algorithm=(spec.get("earlyStopping") or {}).get("algorithmName") or "",
        document=doc)


def field_path(loc: tuple[Any, ...]) -> str:
    """('spec', 'parameters', 1, 'name') -> 'spec.parameters[1].name'."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _model_problems(doc: dict[str, Any]) -> list[str]:
    """Type errors from the kubeflow_katib_api pydantic models, with YAML-facing hints."""
    try:
        models.V1beta1Experiment.model_validate(doc)
    except pydantic.ValidationError as e:
        out: list[str] = []
        for err in e.errors():
            loc = tuple(err["loc"])
            got = err.get("input")
            if loc and loc[-1] in ("float", "int") and len(loc) > 1:  # Union[float, int]
                message = f"{field_path(loc[:-1])}: must be a number, got {got!r}"
                if message not in out:
                    out.append(message)
                continue
            path = field_path(loc)
            if err["type"] == "string_type" and isinstance(got, int | float | bool):
                out.append(f"{path}: must be a string; quote it: \"{got}\"")
            elif err["type"] in ("int_type", "int_parsing"):
                out.append(f"{path}: must be an integer, got {got!r}")
            else:
                out.append(f"{path}: {err['msg'].lower()} (got {got!r})")
        return out
    return []


def _unknown_keys(doc: dict[str, Any]) -> list[str]:
    """Misspelt keys: Katib's CRD preserves unknown fields, so a typo would be silently ignored."""
    out: list[str] = []

    def walk(value: Any, model: type[pydantic.BaseModel], path: str) -> None:
        if not isinstance(value, dict):
            return
        known = {f.alias or n: f for n, f in model.model_fields.items()}
        for key, sub in value.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in known:
                close = difflib.get_close_matches(str(key), list(known), n=1)
                hint = f"; did you mean {close[0]!r}?" if close else \
                    f" (known: {', '.join(sorted(known))})"
                out.append(f"{where}: unknown field{hint}")
                continue
            sub_model = _nested_model(known[key].annotation)
            if sub_model is None:
                continue
            if isinstance(sub, list):
                for i, item in enumerate(sub):
                    walk(item, sub_model, f"{where}[{i}]")
            else:
                walk(sub, sub_model, where)

    walk({k: v for k, v in doc.items() if k != "metadata"}, models.V1beta1Experiment, "")
    return out


def _nested_model(annotation: Any) -> type[pydantic.BaseModel] | None:
    """The Katib model inside Optional[...] / List[...], or None for plain values and dicts."""
    stack = [annotation]
    while stack:
        t = stack.pop()
        if isinstance(t, type) and issubclass(t, pydantic.BaseModel):
            name = t.__name__
            # Kubernetes core types (containers, ...) are left to the cluster's own validation.
            return t if name.startswith("V1beta1") else None
        stack.extend(getattr(t, "__args__", ()) or ())
    return None


