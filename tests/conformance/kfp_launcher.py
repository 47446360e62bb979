"""What the KFP 2.17 backend accepts from a step and from a compiled pipeline, as checkable rules.

Each rule is taken from the upstream source at the pinned release (tests/conformance/pins.py
`KFP`) and cites file and function; none restates our own reading of the contract. kfp.local
does not apply any of them (it never parses executor_output.json with protojson and never
publishes to MLMD), which is why a whole local run is checked against them here
(test_kfp_launcher.py). Every rule returns a list of violations (empty = conforms), each
naming where and what.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from tests.conformance.pins import KFP

_QUANTITY = re.compile(r"^(\d+(?:\.\d+)?)(m|Ki|Mi|Gi|Ti|Pi|Ei|k|K|M|G|T|P|E)?$")
_UNITS = {None: 1, "m": 1e-3, "k": 1e3, "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15,
          "E": 1e18, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
          "Ei": 2**60}
#: Parameter type -> the protobuf Value kinds (as Python types) a value of it may have.
_KINDS = {"STRING": (str,), "NUMBER_DOUBLE": (int, float), "NUMBER_INTEGER": (int, float),
          "BOOLEAN": (bool,), "LIST": (list,), "STRUCT": (dict,)}


def quantity(text: str) -> float:
    """A Kubernetes resource quantity as a number (ValueError if it is not one)."""
    m = _QUANTITY.match(str(text).strip())
    if not m:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    return float(m.group(1)) * _UNITS[m.group(2)]


def strict_json(text: str, where: str) -> tuple[Any, list[str]]:
    """The launcher reads executor_output.json with Go protojson: strict JSON, no NaN/Infinity.

    Rule from {cite}: `protojson.Unmarshal(b, executorOutput)`; Go's JSON grammar has no
    `NaN`/`Infinity` tokens, which Python's json.dumps writes for non-finite floats.
    """
    bad: list[str] = []

    def refuse(token: str) -> float:
        bad.append(f"{where}: bare {token} (not JSON; protojson rejects the whole file)")
        return float("nan")

    try:
        return json.loads(text, parse_constant=refuse), bad
    except json.JSONDecodeError as e:
        return None, [f"{where}: not JSON ({e})"]


strict_json.__doc__ = strict_json.__doc__.format(
    cite=KFP.cite("backend/src/v2/component/launcher_v2.go", "getExecutorOutputFile"))


def _walk(value: Any, where: str, out: list[str]) -> None:
    if value is None:
        out.append(f"{where}: null")
    elif isinstance(value, float) and not math.isfinite(value):
        out.append(f"{where}: {value} (not a finite number)")
    elif isinstance(value, dict):
        for k, v in value.items():
            _walk(v, f"{where}.{k}", out)
    elif isinstance(value, list):
        for i, v in enumerate(value):
            _walk(v, f"{where}[{i}]", out)
    elif not isinstance(value, str | int | float | bool):
        out.append(f"{where}: {type(value).__name__} is not a protobuf Value kind")


def artifact_metadata(metadata: dict[str, Any], where: str) -> list[str]:
    """Every metadata value must convert to an MLMD custom property; none may be null.

    Rule from {cite}: a top-level string, number, bool, list or struct converts; anything
    else, the JSON null included (`// TODO: support null`), returns "unknown/unsupported value
    type" and the launcher fails the step after the user code succeeded
    (launcher_v2.go uploadOutputArtifacts -> RecordArtifact -> toMLMDArtifact). Lists and
    structs are stored as given, so the same is required at any depth: a nested null would
    reach every reader of the property.
    """
    out: list[str] = []
    if not isinstance(metadata, dict):
        return [f"{where}: metadata is {type(metadata).__name__}, not an object"]
    for key, value in metadata.items():
        _walk(value, f"{where}.{key}", out)
    return out


artifact_metadata.__doc__ = artifact_metadata.__doc__.format(
    cite=KFP.cite("backend/src/v2/metadata/converter.go", "StructValueToMLMDValue"))


def metrics_metadata(metadata: dict[str, Any], where: str) -> list[str]:
    """system.Metrics: every value a finite number, as `Metrics.log_metric(metric, value: float)`
    writes it and the UI's scalar-metrics table lists it ({cite})."""
    out = artifact_metadata(metadata, where)
    for key, value in metadata.items():
        if key != "display_name" and (isinstance(value, bool)
                                      or not isinstance(value, int | float)):
            out.append(f"{where}.{key}: {value!r} is not a number")
    return out


metrics_metadata.__doc__ = metrics_metadata.__doc__.format(
    cite=KFP.cite("frontend/src/components/viewers/MetricsVisualizations.tsx",
                  "ScalarMetricsSection"))


def confusion_matrix(metadata: dict[str, Any], where: str) -> list[str]:
    """system.ClassificationMetrics `confusionMatrix`: square, one displayName per row ({cite})."""
    out = artifact_metadata(metadata, where)
    cm = metadata.get("confusionMatrix")
    if cm is None:
        return out + [f"{where}: no confusionMatrix"]
    specs, rows = cm.get("annotationSpecs", []), cm.get("rows", [])
    if not all(isinstance(s, dict) and isinstance(s.get("displayName"), str) for s in specs):
        out.append(f"{where}.confusionMatrix.annotationSpecs: each needs a string displayName")
    if len(specs) != len(rows):
        out.append(f"{where}.confusionMatrix: {len(specs)} annotationSpecs, {len(rows)} rows")
    for i, row in enumerate(rows):
        cells = row.get("row", []) if isinstance(row, dict) else []
        if len(cells) != len(rows) or not all(isinstance(c, int | float) for c in cells):
            out.append(f"{where}.confusionMatrix.rows[{i}]: not {len(rows)} numbers")
    return out


confusion_matrix.__doc__ = confusion_matrix.__doc__.format(
    cite=KFP.cite("frontend/src/components/viewers/MetricsVisualizations.tsx",
                  "validateConfusionMatrix"))


def output_parameters(values: dict[str, Any], declared: dict[str, str], where: str) -> list[str]:
    """Each output parameter has the protobuf Value kind of its declared type, never null.

    Rule from {cite}: values in executor_output.json take priority over output files and are
    published as they are (PublishExecution); a parameter read from its file goes through
    TextToPbValue, which maps STRING -> string, NUMBER_* -> number, BOOLEAN -> bool,
    LIST -> list, STRUCT -> struct. A downstream task then receives that Value.
    """
    out: list[str] = []
    for name, value in values.items():
        kind = declared.get(name)
        if kind is None:
            out.append(f"{where}.{name}: not an output parameter of the component")
            continue
        _walk(value, f"{where}.{name}", out)
        if value is not None and not isinstance(value, _KINDS[kind]) or (
                kind != "BOOLEAN" and isinstance(value, bool)):
            out.append(f"{where}.{name}: {type(value).__name__} for a {kind} parameter")
        if kind == "NUMBER_INTEGER" and isinstance(value, float) and not value.is_integer():
            out.append(f"{where}.{name}: {value} for a NUMBER_INTEGER parameter")
    for name in sorted(set(declared) - set(values)):
        out.append(f"{where}.{name}: declared output parameter missing")
    return out


output_parameters.__doc__ = output_parameters.__doc__.format(
    cite=KFP.cite("backend/src/v2/component/launcher_v2.go", "collectOutputParameters"))


def executor_output(doc: dict[str, Any], component: dict[str, Any], where: str) -> list[str]:
    """All launcher rules for one task's parsed executor_output.json and its component spec."""
    out: list[str] = []
    outputs = component.get("outputDefinitions", {})
    declared = {k: v["parameterType"] for k, v in outputs.get("parameters", {}).items()}
    types = {k: v["artifactType"]["schemaTitle"]
             for k, v in outputs.get("artifacts", {}).items()}
    out += output_parameters(doc.get("parameterValues", {}), declared,
                             f"{where}.parameterValues")
    for name, listing in doc.get("artifacts", {}).items():
        for i, art in enumerate(listing.get("artifacts", [])):
            at = f"{where}.artifacts.{name}[{i}].metadata"
            metadata = art.get("metadata", {})
            if types.get(name) == "system.Metrics":
                out += metrics_metadata(metadata, at)
            elif types.get(name) == "system.ClassificationMetrics":
                out += confusion_matrix(metadata, at)
            else:
                out += artifact_metadata(metadata, at)
    return out
