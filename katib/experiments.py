"""Katib Experiment documents for the search (`nac`) and tuning (`warm-start`) steps.

One document serves both backends: `katib.local` runs it on this machine, the Kubernetes
backend creates it in a cluster. Trials run the trial CLI (`python -u -m katib.trial`,
docs/contracts.md §3) in a batch/v1 Job.

A `nac` Experiment built from a `NACSettings` (`nas_experiment_for`) searches exactly like the
in-process driver with those settings: every `SearchSettings` field becomes the algorithm
setting of the same name (or `nasConfig`: `stages`, `envelope`) and the truncated-run recipe
becomes trial CLI flags (katib/trial/recipe.py), so the first network and the recipe match.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from typing import Any

from katib import nac_schedule
from katib.constants import (
    API_VERSION,
    EXPERIMENT_KIND,
    NAC_STATS_METRIC,
    OBJECTIVE_METRIC,
    TRIAL_CONTAINER,
    TRIAL_METRICS_FORMATS,
)
from katib.nac_operations import operations_from_ops
from katib.trial.recipe import recipe_args
from katib.types import validate_experiment_name

#: Tunable hyperparameter -> trial CLI flag.
TRIAL_FLAGS = {
    "lr": "--lr",
    "momentum": "--momentum",
    "weight_decay": "--weight-decay",
    "batch_size": "--batch-size",
    "dropout": "--dropout",
    "epochs": "--epochs",
}
#: The default search space: what matters most for SGD on small images. Batch sizes stop at 64:
#: a few-epoch trial at 128 takes too few steps on ~1k rows and only measures that.
DEFAULT_SEARCH_SPACE: list[dict[str, Any]] = [
    {"name": "lr", "parameterType": "double",
     "feasibleSpace": {"min": "0.02", "max": "0.3", "distribution": "logUniform"}},
    {"name": "weight_decay", "parameterType": "double",
     "feasibleSpace": {"min": "0.00001", "max": "0.001", "distribution": "logUniform"}},
    {"name": "batch_size", "parameterType": "categorical",
     "feasibleSpace": {"list": ["32", "64"]}},
]


def derive_name(prefix: str, *parts: Any) -> str:
    """A stable Katib-valid name (<= 40 chars) from the inputs: a retried step re-attaches."""
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"{prefix}-{digest[:12]}"


def parse_search_space(text: str) -> list[dict[str, Any]]:
    """The tuning search space: a JSON list of Katib parameter specs (empty = the default)."""
    if not text or not text.strip():
        return [dict(p) for p in DEFAULT_SEARCH_SPACE]
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ValueError(f"search_space is not valid JSON ({e}); give a list like "
                         f"{json.dumps(DEFAULT_SEARCH_SPACE[:1])}") from None
    if isinstance(doc, dict):  # {"lr": {...}} shorthand: name -> spec without the name.
        doc = [{"name": k, **v} for k, v in doc.items()]
    if not isinstance(doc, list) or not doc:
        raise ValueError("search_space must be a non-empty JSON list of Katib parameter specs")
    for i, p in enumerate(doc):
        if not isinstance(p, dict) or "name" not in p or "parameterType" not in p \
                or "feasibleSpace" not in p:
            raise ValueError(f"search_space[{i}] must have name, parameterType and "
                             f"feasibleSpace, got {p!r}")
        if p["name"] not in TRIAL_FLAGS:
            raise ValueError(f"search_space[{i}].name {p['name']!r} is not a trial "
                             f"hyperparameter; use one of {', '.join(TRIAL_FLAGS)}")
    return doc


#: Pod Security `restricted` for the trial container, as in the shipped Experiments
#: (manifests/examples): runAsUser is the trainer image's uid, because Katib copies this context to
#: its metrics sidecar when injectSecurityContext is on, and that image would otherwise run as root.
TRIAL_SECURITY_CONTEXT: dict[str, Any] = {
    "runAsNonRoot": True, "runAsUser": 10001, "allowPrivilegeEscalation": False,
    "capabilities": {"drop": ["ALL"]}, "seccompProfile": {"type": "RuntimeDefault"}}


def _job(image: str, command: list[str], *, gpus: int = 0,
         env: dict[str, str] | None = None) -> dict[str, Any]:
    container: dict[str, Any] = {"name": TRIAL_CONTAINER, "image": image, "command": command,
                                 "securityContext": dict(TRIAL_SECURITY_CONTEXT)}
    if env:
        container["env"] = [{"name": k, "value": v} for k, v in env.items()]
    if gpus:
        container["resources"] = {"limits": {"nvidia.com/gpu": gpus}}
    return {"apiVersion": "batch/v1", "kind": "Job",
            "spec": {"backoffLimit": 0,
                     "template": {"metadata": {"annotations": {
                         "sidecar.istio.io/inject": "false"}},
                         "spec": {"restartPolicy": "Never", "containers": [container]}}}}


def _base(name: str, namespace: str, *, algorithm: str, settings: dict[str, Any],
          max_trials: int, parallel: int, trial_parameters: list[dict[str, str]],
          job: dict[str, Any]) -> dict[str, Any]:
    validate_experiment_name(name, where="experiment_name")
    metadata: dict[str, Any] = {"name": name}
    if namespace:
        metadata["namespace"] = namespace
    return {
        "apiVersion": API_VERSION,
        "kind": EXPERIMENT_KIND,
        "metadata": metadata,
        "spec": {
            "objective": {"type": "maximize", "objectiveMetricName": OBJECTIVE_METRIC},
            "algorithm": {"algorithmName": algorithm,
                          "algorithmSettings": [{"name": str(k), "value": _setting(v)}
                                                for k, v in settings.items()]},
            "maxTrialCount": max_trials,
            "parallelTrialCount": max(1, min(parallel, max_trials)),
            "maxFailedTrialCount": max_trials,
            "metricsCollectorSpec": {"collector": {"kind": "StdOut"}},
            "trialTemplate": {"primaryContainerName": TRIAL_CONTAINER, "retain": False,
                              "trialParameters": trial_parameters, "trialSpec": job},
        },
    }


def _setting(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, list | tuple):
        return ",".join(_setting(v) for v in value)
    return str(value)


def hpo_experiment(*, name: str, namespace: str = "", image: str, python: str = "python",
                   data: str, val_data: str = "", architecture_b64: str, epochs: int,
                   search_space: list[dict[str, Any]], max_trials: int, parallel: int,
                   algorithm: str, settings: dict[str, Any], seed: int,
                   gpus: int = 0) -> dict[str, Any]:
    """A hyperparameter Experiment tuning `search_space` for a fixed architecture."""
    command = [python, "-u", "-m", "katib.trial", "--data", data]
    if val_data:
        command += ["--val-data", val_data]
    command += ["--architecture", architecture_b64, "--seed", str(seed)]
    names = [p["name"] for p in search_space]
    if "epochs" not in names:
        command += ["--epochs", str(epochs)]
    for p in names:
        command += [TRIAL_FLAGS[p], f"${{trialParameters.{p}}}"]
    body = _base(name, namespace, algorithm=algorithm, settings=settings,
                 max_trials=max_trials, parallel=parallel,
                 trial_parameters=[{"name": p, "reference": p} for p in names],
                 job=_job(image, command, gpus=gpus))
    body["spec"]["parameters"] = search_space
    return body


#: SearchSettings fields that travel in nasConfig rather than as algorithm settings.
_NAS_CONFIG_FIELDS = ("stages", "envelope")


def nac_algorithm_settings(search: Any) -> dict[str, Any]:
    """The `nac` algorithm settings of a `nac.search_settings.SearchSettings` (or NACSettings):
    every field of that type under its own name, except those nasConfig carries."""
    from nac.search_settings import SearchSettings

    return {f.name: getattr(search, f.name) for f in dataclasses.fields(SearchSettings)
            if f.name not in _NAS_CONFIG_FIELDS}


def nas_experiment(*, name: str, namespace: str = "", image: str, python: str = "python",
                   data: str, input_shape: list[int], num_classes: int, stages: int,
                   ops: list[str], settings: dict[str, Any], iterations: int,
                   replicas: int = 1, parallel: int | None = None,
                   recipe: list[str] | None = None, stat: str = "meansss",
                   gpus: int = 0) -> dict[str, Any]:
    """A NAS Experiment with algorithm `nac`.

    Iterations 0..`iterations - 1` each need `replicas` succeeded trials; iteration
    `iterations` trains the constructed network. maxTrialCount is what Katib's slot refilling
    needs to train the constructed network `replicas` times (katib/nac_schedule.py).
    `recipe`: trial CLI flags of the training recipe (katib/trial/recipe.py `recipe_args`).
    """
    command = [python, "-u", "-m", "katib.trial", "--data", data,
               "--architecture", "${trialParameters.architecture}",
               "--seed", "${trialParameters.seed}",
               "--iteration", "${trialParameters.iteration}", "--stats", "--stat-mode", stat,
               *(recipe or [])]
    parallel = parallel or replicas
    trials = nac_schedule.min_max_trial_count(iterations, replicas, parallel,
                                              constructed=replicas)
    settings = {**settings, "iterations": iterations, "trials_per_iteration": replicas,
                "stat": stat}
    body = _base(name, namespace, algorithm="nac", settings=settings, max_trials=trials,
                 parallel=parallel,
                 trial_parameters=[{"name": "architecture", "reference": "architecture"},
                                   {"name": "iteration", "reference": "iteration"},
                                   {"name": "seed", "reference": "seed"}],
                 job=_job(image, command, gpus=gpus))
    spec = body["spec"]
    spec["objective"]["additionalMetricNames"] = [NAC_STATS_METRIC]
    spec["objective"]["metricStrategies"] = [{"name": OBJECTIVE_METRIC, "value": "latest"},
                                             {"name": NAC_STATS_METRIC, "value": "latest"}]
    spec["metricsCollectorSpec"]["source"] = {
        "filter": {"metricsFormat": list(TRIAL_METRICS_FORMATS)}}
    c, h, w = input_shape
    spec["nasConfig"] = {
        "graphConfig": {"numLayers": stages, "inputSizes": [h, w, c],
                        "outputSizes": [num_classes]},
        "operations": operations_from_ops(ops),
    }
    return body


def nas_experiment_for(settings: Any, *, seed: int, name: str, namespace: str = "", image: str,
                       data: str, input_shape: list[int], num_classes: int,
                       python: str = "python", gpus: int = 0) -> dict[str, Any]:
    """The `nac` Experiment that searches like `settings` (a `nac.construct.NACSettings`)
    would in process: same first network, same restructuring, same truncated-run recipe.

    The driver seeds iteration t with `training.seed + t`; the suggestion seeds replica 0 of
    iteration t with `seed + t`, so `seed` should be `settings.training.seed`.
    """
    search = nac_algorithm_settings(settings)
    iterations = search.pop("iterations")
    search["seed"] = seed
    return nas_experiment(
        name=name, namespace=namespace, image=image, python=python, data=data,
        input_shape=input_shape, num_classes=num_classes, stages=settings.stages,
        ops=list(settings.envelope), settings=search, iterations=iterations,
        recipe=recipe_args(settings.training),
        stat=str(settings.training.stat_mode), gpus=gpus)
