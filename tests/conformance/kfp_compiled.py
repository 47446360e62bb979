"""What the KFP 2.17 compiler and driver accept from a compiled pipeline, as checkable rules.

The compiled pipeline (pipelines/automl.yaml) half of the launcher rules (kfp_launcher.py holds
what a step's executor output must satisfy). Each rule cites the upstream file and function at
the pinned release (tests/conformance/pins.py `KFP`) and returns a list of violations (empty =
conforms), each naming where and what.
"""

from __future__ import annotations

import re
from typing import Any

from tests.conformance.kfp_launcher import quantity
from tests.conformance.pins import KFP

#: Placeholder the SDK compiles a runtime-resolved resource into.
_INPUT_PLACEHOLDER = re.compile(r"^\{\{\$\.inputs\.parameters\['([^']+)'\]\}\}$")

_IMAGE_PINNED = re.compile(r"^[^\s:@]+(?::\d+)?/[^\s:@]+"
                           r"(?::(?!latest$)[\w][\w.-]*|@sha256:[0-9a-f]{64}"
                           r"|:[\w][\w.-]*@sha256:[0-9a-f]{64})$")


def container_tasks(pipeline: dict[str, Any]) -> dict[str, tuple[bool, dict[str, Any]]]:
    """task name -> (runs unconditionally, task spec) for every container task, in the root DAG
    and in the sub-DAGs of `dsl.If` conditions (task names are unique pipeline-wide)."""
    out: dict[str, tuple[bool, dict[str, Any]]] = {}

    def walk(dag: dict[str, Any], unconditional: bool) -> None:
        for name, task in dag["tasks"].items():
            component = pipeline["components"][task["componentRef"]["name"]]
            here = unconditional and "condition" not in task.get("triggerPolicy", {})
            if "dag" in component:
                walk(component["dag"], here)
            else:
                out[name] = (here, task)

    walk(pipeline["root"]["dag"], True)
    return out


def _executor_tasks(pipeline: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """executor label -> (task name, task spec), for every container task (conditions too)."""
    by_component = {c.get("executorLabel"): name
                    for name, c in pipeline.get("components", {}).items()}
    out = {}
    for task_name, (_, task) in container_tasks(pipeline).items():
        for label, comp in by_component.items():
            if comp == task["componentRef"]["name"]:
                out[label] = (task_name, task)
    return out


def image(container: dict[str, Any], where: str, expected: str | None = None) -> list[str]:
    """A pinned image (tag other than latest, or digest), optionally the one compiled in.

    {cite}: the driver puts `container.image` in the pod as given; the cache fingerprint
    (driver/cache.go getFingerPrint) includes the image string, so a rebuilt mutable tag is
    served stale cached outputs.
    """
    ref = container.get("image", "")
    out = [] if _IMAGE_PINNED.match(ref) else [f"{where}: image {ref!r} is not pinned"]
    if expected is not None and ref != expected:
        out.append(f"{where}: image {ref!r}, expected {expected!r}")
    return out


image.__doc__ = image.__doc__.format(cite=KFP.cite("backend/src/v2/driver/driver.go",
                                                   "initPodSpecPatch"))


def runtime_value(value: str, task: dict[str, Any], pipeline: dict[str, Any],
                  where: str) -> list[str] | None:
    """None if `value` is a literal; else what is wrong with the input it names (see below).

    The driver resolves a `{{$.inputs.parameters['X']}}` resource field with
    resolvePodSpecInputRuntimeParameter, which returns `ParameterValues[X].GetStringValue()`:
    X must be an input of the task, and when it comes from another task, a STRING output of
    a task it depends on (a number would resolve to "" and the request silently vanish).
    """
    m = _INPUT_PLACEHOLDER.match(str(value))
    if not m:
        return None
    spec = task.get("inputs", {}).get("parameters", {}).get(m.group(1))
    if spec is None:
        return [f"{where} refers to {m.group(1)!r}, not an input of the task"]
    out: list[str] = []
    producer = spec.get("taskOutputParameter")
    if producer:
        ref = pipeline["root"]["dag"]["tasks"][producer["producerTask"]]["componentRef"]
        comp = pipeline["components"][ref["name"]]
        kind = comp["outputDefinitions"]["parameters"][producer["outputParameterKey"]]
        if kind["parameterType"] != "STRING":
            out.append(f"{where} comes from a {kind['parameterType']} output")
        if producer["producerTask"] not in task.get("dependentTasks", []):
            out.append(f"{where}: producer {producer['producerTask']} is not a dependent task")
    return out


def accelerator(container: dict[str, Any], task: dict[str, Any], pipeline: dict[str, Any],
                where: str) -> list[str]:
    """resourceType + resourceCount both set; a placeholder names a STRING input of the task.

    {cite}: the type and count are resolved by resolvePodSpecInputRuntimeParameter, which
    returns `ParameterValues[name].GetStringValue()`: a non-STRING value resolves to "" and
    the accelerator is silently dropped. The count must parse as a quantity.
    """
    acc = container.get("resources", {}).get("accelerator")
    if not acc:
        return []
    out: list[str] = []
    rtype, count = acc.get("resourceType", ""), acc.get("resourceCount", "")
    if not rtype or not count:
        return [f"{where}: accelerator needs both resourceType and resourceCount"]
    out += runtime_value(rtype, task, pipeline, f"{where}: resourceType") or []
    try:
        if quantity(count) < 1:
            out.append(f"{where}: accelerator count {count!r} < 1")
    except ValueError as e:
        out.append(f"{where}: accelerator count: {e}")
    return out


accelerator.__doc__ = accelerator.__doc__.format(
    cite=KFP.cite("backend/src/v2/driver/driver.go", "initPodSpecPatch"))


def resources(container: dict[str, Any], k8s: dict[str, Any], where: str,
              task: dict[str, Any] | None = None,
              pipeline: dict[str, Any] | None = None) -> list[str]:
    """CPU and memory requests and limits set, parseable, request <= limit, and the memory
    limit larger than the memory-backed emptyDirs (a tmpfs is charged to the pod's memory).

    {cite}: getPodResource parses resourceCpu*/resourceMemory* with ParseQuantity (after
    resolving a runtime value, checked with `runtime_value`); the EmptyDirMounts block of
    extendPodSpecPatch mounts `medium: Memory` with its sizeLimit.
    """
    res = container.get("resources", {})
    out: list[str] = []
    values = {}
    for key in ("resourceCpuRequest", "resourceCpuLimit", "resourceMemoryRequest",
                "resourceMemoryLimit"):
        if key not in res:
            out.append(f"{where}: no {key}")
            continue
        runtime = runtime_value(res[key], task or {}, pipeline or {}, f"{where}: {key}")
        if runtime is not None:  # resolved per run: check the values where they are made
            out += runtime
            continue
        try:
            values[key] = quantity(res[key])
        except ValueError as e:
            out.append(f"{where}: {key}: {e}")
    for kind in ("Cpu", "Memory"):
        req, lim = values.get(f"resource{kind}Request"), values.get(f"resource{kind}Limit")
        if req is not None and lim is not None and req > lim:
            out.append(f"{where}: {kind.lower()} request above its limit")
    shm = sum(quantity(m.get("sizeLimit", "0")) for m in k8s.get("emptyDirMounts", [])
              if m.get("medium") == "Memory")
    limit = values.get("resourceMemoryLimit")
    if shm and "resourceMemoryLimit" in res and limit is not None and shm >= limit:
        out.append(f"{where}: memory-backed emptyDirs ({shm:.0f} B) not below the memory limit")
    return out


resources.__doc__ = resources.__doc__.format(
    cite=KFP.cite("backend/src/v2/driver/driver.go", "getPodResource") + "; "
    + KFP.cite("backend/src/v2/driver/k8s.go", "extendPodSpecPatch"))


def retry(task: dict[str, Any], where: str) -> list[str]:
    """A retry policy with >= 1 retry and a backoff in protobuf Duration form (`60s`).

    {cite}: the compiler turns task.retryPolicy into the Argo template's retryStrategy
    (limit = maxRetryCount, backoff from backoffDuration/Factor/MaxDuration seconds).
    """
    policy = task.get("retryPolicy")
    if not policy:
        return [f"{where}: no retryPolicy"]
    out = [] if policy.get("maxRetryCount", 0) >= 1 else [f"{where}: maxRetryCount < 1"]
    for key in ("backoffDuration", "backoffMaxDuration"):
        if key in policy and not re.match(r"^\d+(\.\d+)?s$", policy[key]):
            out.append(f"{where}: {key} {policy[key]!r} is not a Duration")
    return out


retry.__doc__ = retry.__doc__.format(cite=KFP.cite(
    "backend/src/v2/compiler/argocompiler/container.go", "getTaskRetryStrategyFromInput"))


def timeout(k8s: dict[str, Any], where: str) -> list[str]:
    """A pod deadline: activeDeadlineSeconds > 0 ({cite} sets podSpec.ActiveDeadlineSeconds)."""
    try:
        ok = int(k8s.get("activeDeadlineSeconds", 0)) > 0
    except ValueError:
        ok = False
    return [] if ok else [f"{where}: no activeDeadlineSeconds"]


timeout.__doc__ = timeout.__doc__.format(cite=KFP.cite("backend/src/v2/driver/k8s.go",
                                                       "extendPodSpecPatch"))


def workspace(pipeline: dict[str, Any], platform: dict[str, Any]) -> list[str]:
    """A run-scoped workspace the backend can create, and the checkpoint path inside it.

    {cite}: GetWorkspacePVC requires a size quantity and accessModes (unless the API server
    has a default), and refuses storageClassName ""; the driver mounts the workspace only
    into tasks with an input string containing `/kfp-workspace` (driver.go
    needsWorkspaceMount) and refuses user mounts under that path (validateVolumeMounts).
    """
    k8s = platform["platforms"]["kubernetes"]
    ws = k8s.get("pipelineConfig", {}).get("workspace")
    if ws is None:
        return ["no pipelineConfig.workspace"]
    out: list[str] = []
    try:
        quantity(ws.get("size", ""))
    except ValueError as e:
        out.append(f"workspace size: {e}")
    patch = ws.get("kubernetes", {}).get("pvcSpecPatch", {})
    if not patch.get("accessModes"):
        out.append("workspace pvcSpecPatch has no accessModes")
    if patch.get("storageClassName") == "":
        out.append('workspace storageClassName ""')
    for name, executor in k8s["deploymentSpec"]["executors"].items():
        for mount in executor.get("pvcMount", []):
            if mount.get("mountPath", "").startswith("/kfp-workspace"):
                out.append(f"{name}: a PVC mounted under /kfp-workspace")
    defaults = pipeline["root"]["inputDefinitions"]["parameters"]
    train = pipeline["root"]["dag"]["tasks"]["train"]["inputs"]["parameters"]["checkpoint_dir"]
    source = train.get("componentInputParameter")
    value = defaults.get(source, {}).get("defaultValue", "") if source else ""
    if "/kfp-workspace" not in str(value):
        out.append(f"train checkpoint_dir default {value!r} is not inside /kfp-workspace")
    return out


workspace.__doc__ = workspace.__doc__.format(cite=KFP.cite(
    "backend/src/v2/compiler/argocompiler/argo.go", "GetWorkspacePVC"))
