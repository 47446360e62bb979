"""Load earlier results for the ``warm-start`` algorithm.

A ``warm_start_source`` setting is a comma-separated list; each item is one of

* a results file written by ``katib.local`` (contracts.md §6): a path, ``file://`` URL or an
  ``http(s)://`` URL;
* ``katib://<namespace>/<experiment>`` or bare ``<namespace>/<experiment>`` (DNS names, not an
  existing path): the Trial CRs of that Experiment, listed through the Kubernetes API
  (``kubeflow.org/v1beta1`` ``trials`` with label ``katib.kubeflow.org/experiment=<name>``),
  which needs get/list on ``trials`` (manifests/ ships the Role). So that one Experiment file
  runs unchanged under ``katib.local`` and on a cluster, the bare form first looks for the
  local runner's results of that experiment, ``katib-local/<experiment>/results.json`` in the
  working directory (``katib.local``'s default workdir); a suggestion pod has none.

Only finished trials with a finite objective value are returned.
"""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..constants import (
    EXPERIMENT_LABEL,
    GROUP,
    LOCAL_RESULTS_ROOT,
    RESULTS_FORMAT,
    RESULTS_VERSION,
    TRIAL_PLURAL,
    VERSION,
)
from ..errors import SuggestionInputError
from ..metrics import parse_metric
from ..search_space import Objective
from ..trials import RESULT_CONDITIONS

_DNS = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_K8S_REF = re.compile(rf"^(?:katib://)?(?P<ns>{_DNS})/(?P<name>{_DNS})$")
_FETCH_TIMEOUT_S = 10.0
_RESULT_STATUSES = tuple(c.value for c in RESULT_CONDITIONS)


@dataclass(frozen=True)
class PriorTrial:
    """One earlier observation: parameter values as wire strings and the objective value."""

    assignments: dict[str, str]
    objective: float
    source: str


# A factory returning an object with ``list_namespaced_custom_object`` (CustomObjectsApi);
# tests pass a fake holding recorded Trial shapes.
CustomObjectsFactory = Callable[[], Any]


def load_priors(
    sources: str,
    objective: Objective,
    *,
    custom_objects: CustomObjectsFactory | None = None,
) -> list[PriorTrial]:
    """All usable prior trials from every source, in source order."""
    priors: list[PriorTrial] = []
    for item in (s.strip() for s in sources.split(",")):
        if not item:
            continue
        match = _K8S_REF.match(item)
        local = Path(LOCAL_RESULTS_ROOT, match["name"], "results.json") if match else None
        if local is not None and not item.startswith("katib://") and local.is_file():
            found = _from_results(_read_document(str(local)), objective, item)
        elif item.startswith("katib://") or (match and not Path(item).exists()):
            if not match:
                raise SuggestionInputError(
                    f"warm_start_source {item!r}: expected katib://<namespace>/<experiment>"
                )
            api = (custom_objects or _default_custom_objects)()
            found = _from_trial_crs(api, match["ns"], match["name"], objective, item)
        else:
            found = _from_results(_read_document(item), objective, item)
        if not found:
            raise SuggestionInputError(
                f"warm_start_source {item!r} has no finished trial with a numeric "
                f"{objective.metric!r} value; check the experiment name and objective metric"
            )
        priors.extend(found)
    return priors


def _read_document(item: str) -> dict[str, Any]:
    parsed = urllib.parse.urlparse(item)
    try:
        if parsed.scheme in ("http", "https"):
            from urllib.request import urlopen  # http.client, email: loaded only for URLs

            with urlopen(item, timeout=_FETCH_TIMEOUT_S) as resp:  # noqa: S310
                text = resp.read().decode("utf-8")
        else:
            path = Path(urllib.parse.unquote(parsed.path) if parsed.scheme == "file" else item)
            text = path.read_text(encoding="utf-8")
        doc = json.loads(text)
    except (OSError, ValueError) as e:
        raise SuggestionInputError(
            f"warm_start_source {item!r} cannot be read as a results file: {e}"
        ) from None
    if not isinstance(doc, dict) or doc.get("format") != RESULTS_FORMAT:
        raise SuggestionInputError(
            f"warm_start_source {item!r}: field 'format' must be {RESULTS_FORMAT!r} "
            "(a results file written by katib.local)"
        )
    if doc.get("version") != RESULTS_VERSION:
        raise SuggestionInputError(
            f"warm_start_source {item!r}: field 'version' is {doc.get('version')!r}; "
            f"this service reads version {RESULTS_VERSION}"
        )
    return doc


def _from_results(doc: dict[str, Any], objective: Objective, source: str) -> list[PriorTrial]:
    out = []
    for trial in doc.get("trials") or []:
        if not isinstance(trial, dict) or trial.get("status") not in _RESULT_STATUSES:
            continue
        value = parse_metric(str((trial.get("metrics") or {}).get(objective.metric, "")))
        assignments = trial.get("assignments") or {}
        if value is None or not isinstance(assignments, dict):
            continue
        out.append(PriorTrial({str(k): str(v) for k, v in assignments.items()}, value, source))
    return out


def _default_custom_objects() -> Any:
    """CustomObjectsApi from the pod's ServiceAccount, else the user's kubeconfig."""
    from kubernetes import client, config

    try:
        config.load_incluster_config()
    except config.ConfigException:
        try:
            config.load_kube_config()
        except (config.ConfigException, OSError) as e:
            raise SuggestionInputError(
                "warm_start_source names a Katib experiment but no Kubernetes configuration "
                f"is available (in-cluster or kubeconfig): {e}. Under katib.local, run the "
                f"earlier experiment first from the same directory (its results land in "
                f"{LOCAL_RESULTS_ROOT}/<experiment>/results.json) or name a results file"
            ) from None
    return client.CustomObjectsApi()


def _from_trial_crs(
    api: Any, namespace: str, name: str, objective: Objective, source: str
) -> list[PriorTrial]:
    try:
        listing = api.list_namespaced_custom_object(
            group=GROUP,
            version=VERSION,
            namespace=namespace,
            plural=TRIAL_PLURAL,
            label_selector=f"{EXPERIMENT_LABEL}={name}",
        )
    except Exception as e:  # ApiException, urllib3 errors: all mean "cannot read the source"
        status = getattr(e, "status", None)
        hint = (
            " (the suggestion ServiceAccount needs get/list on trials.kubeflow.org in that "
            "namespace)"
            if status in (401, 403)
            else ""
        )
        raise SuggestionInputError(
            f"warm_start_source {source!r}: listing Trials failed: {status or type(e).__name__}"
            f"{hint}"
        ) from None
    out = []
    for item in listing.get("items", []):
        value = _trial_cr_objective(item, objective)
        if value is None:
            continue
        params = (item.get("spec") or {}).get("parameterAssignments") or []
        assignments = {str(p["name"]): str(p["value"]) for p in params if "name" in p}
        out.append(PriorTrial(assignments, value, source))
    return out


def _trial_cr_objective(item: dict[str, Any], objective: Objective) -> float | None:
    status = item.get("status") or {}
    done = {
        c.get("type")
        for c in status.get("conditions") or []
        if str(c.get("status")) == "True"
    }
    if done.isdisjoint(_RESULT_STATUSES):
        return None
    for metric in (status.get("observation") or {}).get("metrics") or []:
        if metric.get("name") != objective.metric:
            continue
        preferred = "max" if objective.maximize else "min"
        for key in (preferred, "latest"):
            value = parse_metric(str(metric.get(key, "")))
            if value is not None:
                return value
    return None
