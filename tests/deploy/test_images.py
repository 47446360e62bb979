"""Static checks of images/ (no Docker engine here): pinned bases, non-root, no secrets, the
entrypoints exist, the lean suggestion image can import the service from its pinned
requirements alone, and every image reference carries the package version."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
IMAGES = ROOT / "images"
DOCKERFILES = {"suggestion": IMAGES / "suggestion" / "Dockerfile",
               "trainer": IMAGES / "trainer" / "Dockerfile"}
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
VERSION = PYPROJECT["project"]["version"]


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with line continuations joined and comments dropped."""
    lines, current = [], ""
    for raw in path.read_text().splitlines():
        if not current and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if raw.rstrip().endswith("\\"):
            current += raw.rstrip()[:-1] + " "
            continue
        current += raw
        word, _, rest = current.strip().partition(" ")
        lines.append((word.upper(), rest.strip()))
        current = ""
    return lines


def requirement_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"{path.name}: {line!r} is not an exact pin"
            pins[canonicalize_name(name)] = version.strip()
    return pins


@pytest.mark.parametrize("image", DOCKERFILES)
def test_base_image_is_pinned_to_an_exact_version(image: str) -> None:
    froms = [args for word, args in instructions(DOCKERFILES[image]) if word == "FROM"]
    assert froms
    for ref in froms:
        name, _, tag = ref.split()[0].partition(":")
        assert tag and tag != "latest" and "$" not in ref, f"{image}: unpinned base {ref}"
        assert re.match(r"\d+\.\d+\.\d+", tag), f"{image}: tag {tag} is not an exact version"


def test_suggestion_base_is_python_311_slim() -> None:
    (ref,) = [a for w, a in instructions(DOCKERFILES["suggestion"]) if w == "FROM"]
    assert re.fullmatch(r"python:3\.11\.\d+-slim-\w+", ref)


def test_trainer_base_is_cuda_torch_and_the_constraint_matches_its_tag() -> None:
    steps = instructions(DOCKERFILES["trainer"])
    (ref,) = [a for w, a in steps if w == "FROM"]
    match = re.fullmatch(r"pytorch/pytorch:(\d+\.\d+\.\d+)-cuda[\d.]+-cudnn\d+-runtime", ref)
    assert match, ref
    (arg,) = [a for w, a in steps if w == "ARG" and a.startswith("TORCH_VERSION=")]
    assert arg == f"TORCH_VERSION={match.group(1)}"
    assert any("--constraint" in a for w, a in steps if w == "RUN")


@pytest.mark.parametrize("image", DOCKERFILES)
def test_runs_as_a_numeric_non_root_user(image: str) -> None:
    users = [a for w, a in instructions(DOCKERFILES[image]) if w == "USER"]
    assert users, f"{image}: no USER (runs as root)"
    uid = users[-1].split(":")[0]
    assert uid.isdigit() and int(uid) != 0, f"{image}: USER {users[-1]} (numeric non-root uid " \
        "needed for runAsNonRoot)"
    steps = instructions(DOCKERFILES[image])
    last_user = max(i for i, (w, _) in enumerate(steps) if w == "USER")
    assert all(w != "RUN" for w, _ in steps[last_user:]), f"{image}: RUN after USER"


@pytest.mark.parametrize("image", DOCKERFILES)
def test_no_secrets_in_the_dockerfile(image: str) -> None:
    secret = re.compile(r"(password|passwd|token|secret|api[_-]?key|credential|aws_)", re.I)
    for word, args in instructions(DOCKERFILES[image]):
        if word in ("ENV", "ARG", "LABEL"):
            assert not secret.search(args), f"{image}: {word} {args}"
        if word in ("COPY", "ADD"):
            assert not re.search(r"(\.env\b|\.netrc|id_rsa|\.pem|kubeconfig|\.docker)", args)
        assert not (word == "ADD" and "://" in args), f"{image}: ADD from a URL"


@pytest.mark.parametrize("image", DOCKERFILES)
def test_copied_paths_exist_and_are_not_dockerignored(image: str) -> None:
    ignored = [line.strip().rstrip("/") for line in (ROOT / ".dockerignore").read_text()
               .splitlines() if line.strip() and not line.startswith("#")]
    for word, args in instructions(DOCKERFILES[image]):
        if word != "COPY":
            continue
        *sources, _dest = args.split()
        for src in sources:
            assert (ROOT / src).exists(), f"{image}: COPY {src}: no such path"
            top = src.rstrip("/").split("/")[0]
            assert top not in ignored, f"{image}: COPY {src} but .dockerignore drops {top}"
    for needed in ("pyproject.toml", "README.md", "nac", "katib", "images"):
        assert needed not in ignored


def test_suggestion_entrypoint_is_the_service_module_on_port_6789() -> None:
    steps = dict(instructions(DOCKERFILES["suggestion"]))
    assert json.loads(steps["ENTRYPOINT"]) == ["python", "-m", "katib.suggestion"]
    assert importlib.util.find_spec("katib.suggestion.__main__") is not None
    from katib.suggestion import constants

    assert json.loads(steps["CMD"]) == ["--port", str(constants.DEFAULT_PORT)]
    assert steps["EXPOSE"] == str(constants.DEFAULT_PORT) == "6789"
    # The docker HEALTHCHECK asks for the name Katib's gRPC probes use.
    assert f"service='{constants.HEALTH_SERVICE_NAME}'" in steps["HEALTHCHECK"]
    assert constants.HEALTH_SERVICE_NAME == "manager.v1beta1.Suggestion"


def test_trainer_runs_the_trial_cli_and_kfp_executor() -> None:
    steps = instructions(DOCKERFILES["trainer"])
    assert importlib.util.find_spec("katib.trial") is not None
    assert importlib.util.find_spec("kfp.dsl.executor_main") is not None
    smoke = " ".join(a for w, a in steps if w == "RUN")
    for module in ("kfp", "katib.trial", "components", "torch"):
        assert re.search(rf"import [^;\"]*\b{re.escape(module)}\b", smoke), module
    assert "ENTRYPOINT" not in dict(steps), "KFP and Katib set the command themselves"


def test_suggestion_image_installs_no_torch() -> None:
    steps = instructions(DOCKERFILES["suggestion"])
    pins = requirement_pins(IMAGES / "suggestion" / "requirements.txt")
    assert not [n for n in pins if n == "torch" or n.startswith(("nvidia-", "kfp"))
                or n == "triton"]
    installs = [a for w, a in steps if w == "RUN" and "pip install" in a]
    assert installs
    for args in installs:
        assert "torch" not in args.split("&&")[0] or "sys.modules" in args
        package_install = "/opt/nac/src" in args
        assert not package_install or "--no-deps" in args, "our package must use --no-deps"


@pytest.mark.parametrize(("image", "extra"), [("suggestion", "suggestion"), ("trainer", None)])
def test_requirement_pins_cover_pyproject_and_satisfy_its_specifiers(
        image: str, extra: str | None) -> None:
    pins = requirement_pins(IMAGES / image / "requirements.txt")
    project = PYPROJECT["project"]
    specs = project["dependencies"] if extra is None else project["optional-dependencies"][extra]
    for spec in map(Requirement, specs):
        name = canonicalize_name(spec.name)
        if image == "trainer" and name == "torch":
            assert name not in pins, "torch comes from the CUDA base image"
            continue
        assert name in pins, f"{image}: {spec} missing: run images/lock_requirements.py"
        assert spec.specifier.contains(pins[name], prereleases=True), \
            f"{image}: {name}=={pins[name]} violates {spec}: run images/lock_requirements.py"


def test_suggestion_service_imports_only_what_the_lean_image_installs() -> None:
    """Import the service in a fresh interpreter and map every loaded module to its
    distribution: all must be stdlib, our own package, or pinned in the image's requirements."""
    code = ("import sys, json, katib.suggestion.__main__, katib.suggestion.service; "
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env={**os.environ},
                         capture_output=True, text=True, timeout=120, check=False)
    assert out.returncode == 0, out.stderr
    loaded = set(json.loads(out.stdout))
    assert "torch" not in loaded and "kfp" not in loaded
    pins = requirement_pins(IMAGES / "suggestion" / "requirements.txt")
    ours = {"nac", "katib", "components", "pipelines"}
    dists = importlib.metadata.packages_distributions()
    missing = {}
    for module in loaded - set(sys.stdlib_module_names) - ours - {"__main__", "_distutils_hack"}:
        names = {canonicalize_name(d) for d in dists.get(module, [])}
        if names and not names & set(pins):
            missing[module] = sorted(names)
    assert missing == {}, f"imported by the service but not in the suggestion image: {missing}"


def test_every_image_reference_carries_the_package_version() -> None:
    import nac
    from components import _common

    assert nac.__version__ == VERSION, "nac.__version__ and pyproject version disagree"
    assert _common.TRAINER_IMAGE == f"ghcr.io/kubeflow-nac/automl-trainer:{VERSION}"
    make = shutil.which("make")
    if make is None:
        pytest.skip("make is not installed: cannot expand the Makefile's images target")
    out = subprocess.run([make, "-n", "images"], cwd=ROOT, env={**os.environ},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    builds = [shlex.split(line) for line in out.splitlines() if line.startswith("docker build")]
    tags = {cmd[cmd.index("-f") + 1]: cmd[cmd.index("-t") + 1] for cmd in builds}
    assert tags == {
        "images/suggestion/Dockerfile": f"ghcr.io/kubeflow-nac/katib-suggestion:{VERSION}",
        "images/trainer/Dockerfile": _common.TRAINER_IMAGE,
    }
    assert "docker push" in out


def test_compiled_pipeline_uses_the_versioned_trainer_image_and_never_pip_installs() -> None:
    import yaml
    from components import _common

    compiled = ROOT / "pipelines" / "automl.yaml"
    assert compiled.is_file(), "pipelines/automl.yaml missing: run `python -m pipelines compile`"
    docs = list(yaml.safe_load_all(compiled.read_text()))
    executors = docs[0]["deploymentSpec"]["executors"]
    assert executors
    for name, executor in executors.items():
        container = executor["container"]
        assert container["image"] == _common.TRAINER_IMAGE, name
        text = " ".join(container.get("command", []) + container.get("args", []))
        assert "pip install" not in text and "ensurepip" not in text, \
            f"{name}: runtime pip install (breaks air-gapped clusters)"
    assert ":latest" not in compiled.read_text()
