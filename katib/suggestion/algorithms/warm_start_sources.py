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

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from katib import results_file
from katib.constants import (
    EXPERIMENT_LABEL,
    GROUP,
    LOCAL_RESULTS_ROOT,
    RESULTS_FILE_NAME,
    TRIAL_PLURAL,
    VERSION,
)
from katib.types import Objective, TrialResult

from ..errors import SuggestionInputError

# A Kubernetes namespace is a DNS-1123 label (may start with a digit); the experiment part
# follows Katib's Experiment-name rule (katib.types.name_problem).
_K8S_REF = re.compile(r"^(?:katib://)?(?P<ns>[a-z0-9]([-a-z0-9]*[a-z0-9])?)/"
                      r"(?P<name>[a-z]([-a-z0-9]*[a-z0-9])?)$")


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
        local = Path(LOCAL_RESULTS_ROOT, match["name"], RESULTS_FILE_NAME) if match else None
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
    return results_file.read_document(item, where=f"warm_start_source {item!r}",
                                      error=SuggestionInputError)


def _from_results(doc: dict[str, Any], objective: Objective, source: str) -> list[PriorTrial]:
    return _priors(results_file.trials_of(doc), objective, source)


def _priors(trials: Iterable[TrialResult], objective: Objective,
            source: str) -> list[PriorTrial]:
    """Trials whose result counts and whose objective value is a finite number."""
    out = []
    for t in trials:
        value = t.metric(objective.metric)
        if t.status.has_result and value is not None:
            out.append(PriorTrial(dict(t.assignments), value, source))
    return out


def _default_custom_objects() -> Any:
    """CustomObjectsApi by the project's one loading order (katib.kubeconfig)."""
    from kubernetes import config

    from katib.kubeconfig import custom_objects_api

    try:
        return custom_objects_api()
    except (config.ConfigException, OSError) as e:
        raise SuggestionInputError(
            "warm_start_source names a Katib experiment but no Kubernetes configuration "
            f"is available (in-cluster or kubeconfig): {e}. Under katib.local, run the "
            f"earlier experiment first from the same directory (its results land in "
            f"{LOCAL_RESULTS_ROOT}/<experiment>/{RESULTS_FILE_NAME}) or name a results file"
        ) from None


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
    trials = [TrialResult.from_trial_cr(item) for item in listing.get("items", [])]
    return _priors(trials, objective, source)
