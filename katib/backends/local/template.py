"""Render a trial from the Experiment's trialTemplate, as Katib's experiment controller does.

Katib replaces `${trialParameters.<name>}` in the template with the assignment its
`reference` names, or with trial metadata for `${trialSpec.Name}`-style references
(`manifest/generator.go:applyParameters`). Locally we then take the primary container of
the rendered resource and run `command + args` directly (no shell) in a per-trial directory,
with the container's env merged over ours.
"""

from __future__ import annotations

import copy
import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from katib.backends.local.distributed import local_torchrun
from katib.validation import Experiment

_PARAM = re.compile(r"\$\{trialParameters\.([^}]*)\}")
_META = re.compile(r"^\$\{trialSpec\.(Name|Namespace|Kind|APIVersion|Labels|Annotations)"
                   r"(?:\[(.+)\])?\}$")
_K8S_VAR = re.compile(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)")
#: Replica roles whose pods Katib collects metrics from (primaryPodLabels job-role: master).
_PRIMARY_ROLES = ("Master", "Chief", "Launcher")
#: Commands that mean "the Python in the image"; locally they become the runner's Python.
_PYTHON_NAMES = ("python", "python3")


class TemplateError(ValueError):
    """The trialTemplate cannot be turned into a local command; names the field and the fix."""


@dataclass(frozen=True)
class TrialCommand:
    """What to execute for one trial."""

    argv: list[str]
    env: dict[str, str] = field(default_factory=dict)
    container_path: str = ""
    cpu: float | None = None  # the container's CPU limit (else request), if it sets one


def trial_parameter_values(experiment: Experiment, trial_name: str,
                           assignments: Mapping[str, str]) -> dict[str, str]:
    """Value of every trialParameter for this trial (Katib's applyParameters rules)."""
    tt = experiment.trial_template
    spec = tt.get("trialSpec") or {}
    meta = spec.get("metadata") or {}
    values: dict[str, str] = {}
    non_meta = 0
    for tp in tt.get("trialParameters") or []:
        ref = tp["reference"]
        m = _META.match(ref)
        if m is None:
            non_meta += 1
            if ref not in assignments:
                raise TemplateError(
                    f"trialParameter {tp['name']!r} references {ref!r}, but the suggestion "
                    f"assigned only {sorted(assignments)}; make spec.trialTemplate."
                    "trialParameters[].reference match the algorithm's parameter names")
            values[tp["name"]] = str(assignments[ref])
            continue
        key, index = m.group(1), m.group(2)
        if key == "Name":
            values[tp["name"]] = trial_name
        elif key == "Namespace":
            values[tp["name"]] = experiment.namespace
        elif key == "Kind":
            values[tp["name"]] = str(spec.get("kind", ""))
        elif key == "APIVersion":
            values[tp["name"]] = str(spec.get("apiVersion", ""))
        else:
            table = meta.get(key.lower()) or {}
            if index not in table:
                raise TemplateError(
                    f"trialParameter {tp['name']!r} references {ref!r}, but "
                    f"spec.trialTemplate.trialSpec.metadata.{key.lower()} has no {index!r}")
            values[tp["name"]] = str(table[index])
    if non_meta != len(assignments):
        extra = sorted(set(assignments) - {tp["reference"] for tp in tt["trialParameters"]})
        raise TemplateError(
            f"the suggestion assigned {len(assignments)} parameters but the trialTemplate "
            f"references {non_meta}; add trialParameters for {extra} (Katib requires every "
            "assignment to be referenced)")
    return values


def substitute(value: Any, values: Mapping[str, str]) -> Any:
    """Replace `${trialParameters.x}` in every string (keys too) of a JSON-like value."""
    if isinstance(value, str):
        return _PARAM.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, list):
        return [substitute(v, values) for v in value]
    if isinstance(value, dict):
        return {substitute(k, values): substitute(v, values) for k, v in value.items()}
    return value


def render_trial_spec(experiment: Experiment, trial_name: str,
                      assignments: Mapping[str, str]) -> dict[str, Any]:
    """The trial's resource with parameters substituted (what Katib would create)."""
    values = trial_parameter_values(experiment, trial_name, assignments)
    rendered = substitute(copy.deepcopy(experiment.trial_template["trialSpec"]), values)
    rendered.setdefault("metadata", {})
    rendered["metadata"]["name"] = trial_name
    rendered["metadata"]["namespace"] = experiment.namespace
    return rendered


def render_trial(experiment: Experiment, trial_name: str, assignments: Mapping[str, str], *,
                 python: str | None = None) -> TrialCommand:
    """The local command for one trial: the primary container's command + args and env."""
    spec = render_trial_spec(experiment, trial_name, assignments)
    name = experiment.trial_template["primaryContainerName"]
    container, path = find_primary_container(spec, name)
    env = container_env(container, path)
    command = _strings(container.get("command"), f"{path}.command")
    args = _strings(container.get("args"), f"{path}.args")
    if not command:
        raise TemplateError(
            f"{path}.command: empty; locally there is no image entrypoint to fall back on, so "
            "set command (e.g. [python, -u, -m, katib.trial]) and put options in args")
    argv = [_expand_k8s_vars(a, env) for a in command + args]
    if argv[0] in _PYTHON_NAMES:
        argv[0] = python or sys.executable
    # A PyTorchJob/TrainJob trial whose command is torchrun runs all its replicas here.
    argv, env = local_torchrun(spec, argv, env, python=python)
    return TrialCommand(argv=argv, env=env, container_path=path, cpu=container_cpu(container))


def container_cpu(container: Mapping[str, Any]) -> float | None:
    """CPU limit (else request) of a container or TrainJob trainer, in cores."""
    resources = container.get("resources") or container.get("resourcesPerNode") or {}
    for kind in ("limits", "requests"):
        value = (resources.get(kind) or {}).get("cpu")
        if value is None:
            continue
        text = str(value).strip()
        try:
            return float(text[:-1]) / 1000 if text.endswith("m") else float(text)
        except ValueError:
            raise TemplateError(f"resources.{kind}.cpu: {value!r} is not a CPU quantity "
                                "(e.g. 2 or 500m)") from None
    return None


def find_primary_container(spec: dict[str, Any], name: str) -> tuple[dict[str, Any], str]:
    """The container named `name` in a batch Job, Kubeflow job (master replica) or TrainJob."""
    kind = spec.get("kind", "")
    body = spec.get("spec") or {}
    base = "spec.trialTemplate.trialSpec"
    if kind == "TrainJob":
        trainer = body.get("trainer")
        if not isinstance(trainer, dict):
            raise TemplateError(f"{base}.spec.trainer: required in a TrainJob (command, args, "
                                "env of the trainer container)")
        return trainer, f"{base}.spec.trainer"
    replica_key = next((k for k in body if k.endswith("ReplicaSpecs")), None)
    if replica_key is not None:
        replicas = body[replica_key] or {}
        role = next((r for r in _PRIMARY_ROLES if r in replicas), None)
        if role is None:
            raise TemplateError(
                f"{base}.spec.{replica_key}: no {'/'.join(_PRIMARY_ROLES)} replica (found "
                f"{sorted(replicas)}); Katib collects metrics from the master, so add a Master")
        pod = f"{base}.spec.{replica_key}.{role}.template.spec"
        containers = ((replicas[role].get("template") or {}).get("spec") or {}).get(
            "containers") or []
        return _by_name(containers, name, pod)
    if kind == "Job":
        pod = f"{base}.spec.template.spec"
        containers = ((body.get("template") or {}).get("spec") or {}).get("containers") or []
        return _by_name(containers, name, pod)
    found = _search_containers(spec, name, base)
    if found is None:
        raise TemplateError(f"{base}: no container named {name!r} in this {kind or 'resource'} "
                            "(supported: batch/v1 Job, PyTorchJob and other Kubeflow jobs, "
                            "TrainJob, or any resource with a containers list)")
    return found


def container_env(container: Mapping[str, Any], path: str) -> dict[str, str]:
    """The container's `env` as a dict; `valueFrom` cannot be resolved without a cluster."""
    env: dict[str, str] = {}
    for i, item in enumerate(container.get("env") or []):
        if "valueFrom" in item:
            raise TemplateError(f"{path}.env[{i}] ({item.get('name')}): valueFrom needs a "
                                "cluster; set value for the local run")
        env[str(item["name"])] = str(item.get("value", ""))
    return env


def _by_name(containers: list[dict[str, Any]], name: str, pod: str) -> tuple[dict[str, Any], str]:
    for i, cont in enumerate(containers):
        if cont.get("name") == name:
            return cont, f"{pod}.containers[{i}]"
    names = [cont.get("name") for cont in containers]
    raise TemplateError(f"spec.trialTemplate.primaryContainerName: no container {name!r} in "
                        f"{pod}.containers (found {names})")


def _search_containers(value: Any, name: str, path: str) -> tuple[dict[str, Any], str] | None:
    if isinstance(value, dict):
        for key, sub in value.items():
            if key == "containers" and isinstance(sub, list):
                for i, cont in enumerate(sub):
                    if isinstance(cont, dict) and cont.get("name") == name:
                        return cont, f"{path}.containers[{i}]"
            found = _search_containers(sub, name, f"{path}.{key}")
            if found:
                return found
    elif isinstance(value, list):
        for i, sub in enumerate(value):
            found = _search_containers(sub, name, f"{path}[{i}]")
            if found:
                return found
    return None


def _strings(value: Any, path: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise TemplateError(f"{path}: must be a list of strings, got {type(value).__name__}")
    return [str(v) for v in value]


def _expand_k8s_vars(arg: str, env: Mapping[str, str]) -> str:
    """Kubernetes expands `$(VAR)` in command/args from the container's env; `$$` escapes."""
    def repl(m: re.Match[str]) -> str:
        if m.group(0) == "$$":
            return "$"
        return env.get(m.group(1), m.group(0))
    return _K8S_VAR.sub(repl, arg)
