"""Everything we ship to a cluster, found by walking manifests/ and examples/ (no lists to keep).

Why a walk: several engineers add manifests at once; a conformance rule must apply to a file the
day it lands, not when someone remembers to add it to a test table. What a user can apply:

* every *entry point*: a directory with a kustomization that no other kustomization uses as a
  resource (`kubectl apply -k <dir>`), rendered with `kubectl kustomize`;
* every *raw file*: a YAML file under manifests/ or examples/ that no kustomization consumes
  (`kubectl apply -f <file>`).

Kustomizations used by other kustomizations (bases such as manifests/examples) are inputs, not
things to apply; files they consume are checked in the entry points that render them.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[2]
SHIPPED_DIRS = (ROOT / "manifests", ROOT / "examples")
KUBECTL = shutil.which("kubectl")
_KUSTOMIZATION_NAMES = ("kustomization.yaml", "kustomization.yml", "Kustomization")


@dataclass(frozen=True)
class Shipped:
    """One applicable unit: a rendered entry point or a raw file, and its documents."""

    source: str  # repository-relative directory (entry point) or file (raw)
    kind: str  # "kustomization" or "file"
    documents: tuple[dict[str, Any], ...]


def _kustomization_file(directory: Path) -> Path | None:
    for name in _KUSTOMIZATION_NAMES:
        if (directory / name).is_file():
            return directory / name
    return None


def kustomization_dirs() -> list[Path]:
    """Every directory under manifests/ and examples/ holding a kustomization."""
    found = {p.parent for d in SHIPPED_DIRS for name in _KUSTOMIZATION_NAMES
             for p in d.rglob(name)}
    return sorted(found)


def _consumed(directory: Path) -> tuple[set[Path], set[Path]]:
    """(kustomization dirs, files) one kustomization reads: resources, components, patches,
    transformers, generators, replacements and generator files."""
    kfile = _kustomization_file(directory)
    assert kfile is not None
    spec = yaml.safe_load(kfile.read_text()) or {}
    refs: list[str] = [*spec.get("resources", []), *spec.get("components", []),
                       *spec.get("bases", []), *spec.get("transformers", []),
                       *spec.get("generators", []), *spec.get("validators", []),
                       *spec.get("patchesStrategicMerge", []), *spec.get("crds", [])]
    for key in ("patches", "patchesJson6902", "replacements"):
        refs += [p["path"] for p in spec.get(key, []) if isinstance(p, dict) and "path" in p]
    for key in ("configMapGenerator", "secretGenerator"):
        for gen in spec.get(key, []):
            refs += [f.split("=", 1)[-1] for f in gen.get("files", [])]
            refs += gen.get("envs", []) + ([gen["env"]] if gen.get("env") else [])
    dirs, files = set(), set()
    for ref in refs:
        if not isinstance(ref, str) or "://" in ref or ref.startswith("github.com/"):
            continue  # remote bases are not ours
        path = (directory / ref).resolve()
        (dirs if path.is_dir() else files).add(path)
    return dirs, files


def entry_points() -> list[Path]:
    """Kustomization directories no other kustomization consumes."""
    all_dirs = kustomization_dirs()
    used = set().union(*(_consumed(d)[0] for d in all_dirs)) if all_dirs else set()
    return [d for d in all_dirs if d.resolve() not in used]


def raw_files() -> list[Path]:
    """YAML files under manifests/ and examples/ that no kustomization reads."""
    consumed: set[Path] = set()
    for d in kustomization_dirs():
        consumed |= _consumed(d)[1]
    files = [p for d in SHIPPED_DIRS for ext in ("*.yaml", "*.yml") for p in d.rglob(ext)]
    return sorted(p for p in files if p.name not in _KUSTOMIZATION_NAMES
                  and p.resolve() not in consumed)


@functools.cache
def render(directory: str) -> tuple[dict[str, Any], ...]:
    """`kubectl kustomize <directory>` (repository-relative), parsed."""
    assert KUBECTL, "kubectl is not installed: cannot render the kustomizations " \
                    "(install kubectl >= 1.27)"
    out = subprocess.run([KUBECTL, "kustomize", str(ROOT / directory)], cwd=ROOT,
                         capture_output=True, text=True, timeout=60, check=False)
    assert out.returncode == 0, f"kubectl kustomize {directory} failed:\n{out.stderr}"
    return tuple(d for d in yaml.safe_load_all(out.stdout) if d)


def load(path: Path) -> tuple[dict[str, Any], ...]:
    """The Kubernetes objects of one raw file (documents without apiVersion/kind skipped:
    they are not objects a user could apply)."""
    docs = [d for d in yaml.safe_load_all(path.read_text()) if isinstance(d, dict)]
    return tuple(d for d in docs if "apiVersion" in d and "kind" in d)


def _rel(path: Path) -> str:
    return str(path.resolve().relative_to(ROOT))


@functools.cache
def shipped() -> tuple[Shipped, ...]:
    """Every applicable unit, entry points first (walked once per test process)."""
    units = [Shipped(_rel(d), "kustomization", render(_rel(d))) for d in entry_points()]
    units += [Shipped(_rel(p), "file", load(p)) for p in raw_files()]
    return tuple(units)


def of_kind(kind: str) -> list[tuple[Shipped, dict[str, Any]]]:
    """(unit, object) for every shipped object of one kind."""
    return [(u, d) for u in shipped() for d in u.documents if d.get("kind") == kind]


# Which install each applicable unit is written for (the longest matching prefix wins). An
# Experiment's namespace only means something on a given install, so a new entry point that
# ships Experiments must say here which install it targets (tests fail until it does).
TARGETS = {
    "manifests/overlays/kubeflow": "platform",
    "manifests/overlays/standalone": "standalone",
    "manifests/overlays/kind": "standalone",  # scripts/e2e-kind.sh installs katib-standalone
    "examples/": "platform",  # metadata.namespace: the Platform's example profile
}
# Where the katib-config of each install comes from when a unit does not ship its own (the
# user applied our extension first, as docs/deploy.md says).
CONFIG_SOURCES = {"platform": "manifests/overlays/kubeflow",
                  "standalone": "manifests/overlays/standalone"}


def target(unit: Shipped) -> str | None:
    """The install `unit` is written for, or None if TARGETS does not say."""
    hits = [p for p in TARGETS if unit.source == p.rstrip("/") or unit.source.startswith(
        p if p.endswith("/") else p + "/")]
    return TARGETS[max(hits, key=len)] if hits else None


def katib_config(documents: tuple[dict[str, Any], ...]) -> dict[str, Any] | None:
    """The KatibConfig document inside a rendered katib-config ConfigMap, if any."""
    for d in documents:
        if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == "katib-config":
            assert d["metadata"].get("namespace") == "kubeflow", \
                "katib-config must stay in Katib's namespace, kubeflow"
            return yaml.safe_load(d["data"]["katib-config.yaml"])
    return None


def katib_config_for(unit: Shipped) -> dict[str, Any]:
    """The katib-config in force when `unit`'s Experiments are created."""
    own = katib_config(unit.documents)
    if own is not None:
        return own
    install = target(unit)
    assert install in CONFIG_SOURCES, f"{unit.source}: no target install in shipped.TARGETS"
    config = katib_config(render(CONFIG_SOURCES[install]))
    assert config is not None
    return config
