"""Static security checks over the project's own source, images and manifests.

- YAML only through safe loaders; `torch.load` always with `weights_only=True`; `np.load` never
  with `allow_pickle=True`;
- no `shell=True`, `os.system`, `os.popen`; no `pickle`/`marshal`/`shelve` loading, no builtin
  `eval`/`exec`;
- no archive extraction at all (`extractall`, `extract`, `shutil.unpack_archive`): the project
  unpacks no archives, so there is no path-traversal surface to defend;
- every image's final `USER` is non-root; RBAC on `trials` is read-only.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import yaml

from tests.reliability.faults import ROOT

SOURCE_DIRS = ("nac", "katib", "components", "pipelines", "benchmarks", "scripts")
_SAFE_LOADERS = {"SafeLoader", "CSafeLoader", "BaseLoader", "CBaseLoader"}
_UNSAFE_YAML = {"load", "load_all", "unsafe_load", "unsafe_load_all", "full_load",
                "full_load_all"}
_PICKLERS = {"pickle", "cPickle", "marshal", "shelve", "dill", "joblib", "cloudpickle"}
READ_ONLY = {"get", "list", "watch"}


def python_files(root: Path = ROOT, dirs: Iterable[str] = SOURCE_DIRS) -> list[Path]:
    out = []
    for d in dirs:
        base = root / d
        if base.is_dir():
            out += [p for p in sorted(base.rglob("*.py")) if "_pb2" not in p.name]
    return out


def _dotted(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        return f"{_dotted(node.value) or '<expr>'}.{node.attr}"
    return ""


def _kw(call: ast.Call, name: str) -> ast.expr | None:
    return next((k.value for k in call.keywords if k.arg == name), None)


def _is_const(node: ast.expr | None, value: object) -> bool:
    return isinstance(node, ast.Constant) and node.value is value


def check_source(path: Path, text: str | None = None) -> Iterator[str]:
    """Findings in one Python file, as `path:line: problem`."""
    text = path.read_text(encoding="utf-8") if text is None else text
    tree = ast.parse(text, filename=str(path))
    where = path.relative_to(ROOT) if path.is_relative_to(ROOT) else path
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("yaml", *_PICKLERS):
            for alias in node.names:
                if node.module == "yaml" and alias.name in _UNSAFE_YAML | {"Loader",
                                                                          "UnsafeLoader",
                                                                          "FullLoader"}:
                    yield f"{where}:{node.lineno}: from yaml import {alias.name} (unsafe)"
                if node.module in _PICKLERS and alias.name in ("load", "loads", "Unpickler",
                                                               "open"):
                    yield f"{where}:{node.lineno}: from {node.module} import {alias.name}"
        if not isinstance(node, ast.Call):
            continue
        name = _dotted(node.func)
        head, _, attr = name.rpartition(".")
        line = f"{where}:{node.lineno}"
        if head == "yaml" and attr in _UNSAFE_YAML:
            loader = _kw(node, "Loader")
            if loader is None and len(node.args) > 1:
                loader = node.args[1]
            if loader is None or _dotted(loader).rpartition(".")[2] not in _SAFE_LOADERS:
                yield f"{line}: {name} without a SafeLoader; use yaml.safe_load"
        if name == "torch.load" and not _is_const(_kw(node, "weights_only"), True):
            yield f"{line}: torch.load without weights_only=True"
        if attr == "load" and head in ("np", "numpy") and \
                not _is_const(_kw(node, "allow_pickle"), False) and \
                _kw(node, "allow_pickle") is not None:
            yield f"{line}: {name} with allow_pickle enabled"
        shell = _kw(node, "shell")
        if shell is not None and not _is_const(shell, False):
            yield f"{line}: {name}(shell=...) runs a shell; pass an argv list"
        if name in ("os.system", "os.popen", "subprocess.getoutput",
                    "subprocess.getstatusoutput", "commands.getoutput"):
            yield f"{line}: {name} runs a shell; use subprocess with an argv list"
        if head in _PICKLERS and attr in ("load", "loads", "Unpickler", "open"):
            yield f"{line}: {name} deserialises arbitrary objects"
        if name in ("eval", "exec", "builtins.eval", "builtins.exec"):
            yield f"{line}: builtin {name}() on data"
        if attr in ("extractall", "extract") or name == "shutil.unpack_archive":
            yield f"{line}: {name}: archive extraction (guard against path traversal)"


def scan_sources(root: Path = ROOT) -> tuple[int, list[str]]:
    """(files scanned, findings) over the package source."""
    files = python_files(root)
    findings = [f for p in files for f in check_source(p)]
    return len(files), findings


def dockerfile_user(text: str) -> str | None:
    """The effective USER of the final stage (None: root by default)."""
    user = None
    for raw in text.splitlines():
        line = raw.strip()
        if re.match(r"(?i)^FROM\s", line):
            user = None
        m = re.match(r"(?i)^USER\s+(\S+)", line)
        if m:
            user = m.group(1)
    return user


def check_images(root: Path = ROOT) -> tuple[int, list[str]]:
    findings, files = [], sorted((root / "images").glob("*/Dockerfile"))
    for f in files:
        user = dockerfile_user(f.read_text())
        name = (user or "").split(":")[0]
        if user is None or name in ("root", "0", ""):
            findings.append(f"{f.relative_to(root)}: final stage runs as {user or 'root'}; "
                            "add USER <non-root uid>")
    return len(files), findings


def check_rbac(root: Path = ROOT) -> tuple[int, list[str]]:
    """(rules on trials found, findings): Role/ClusterRole rules on trials are read-only."""
    findings, rules_on_trials = [], 0
    for f in sorted((root / "manifests").rglob("*.yaml")):
        for doc in yaml.safe_load_all(f.read_text()):
            if not isinstance(doc, dict) or doc.get("kind") not in ("Role", "ClusterRole"):
                continue
            for rule in doc.get("rules") or []:
                resources = set(rule.get("resources") or [])
                groups = set(rule.get("apiGroups") or [])
                if not (resources & {"trials", "*"}) or not (groups & {"kubeflow.org", "*"}):
                    continue
                rules_on_trials += 1
                verbs = set(rule.get("verbs") or [])
                if not verbs <= READ_ONLY:
                    findings.append(f"{f.relative_to(root)}: {doc['kind']} "
                                    f"{doc['metadata']['name']} may {sorted(verbs - READ_ONLY)} "
                                    "trials; read-only is get/list/watch")
    return rules_on_trials, findings
