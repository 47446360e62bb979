"""Static checks of images/ (no Docker engine here): pinned bases, non-root, no secrets, the
entrypoints exist, the lean suggestion image can import the service from its pinned
requirements alone, and every image reference carries the package version."""

from __future__ import annotations

import fnmatch
import importlib.metadata
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
               "trainer": IMAGES / "trainer" / "Dockerfile",
               "earlystopping": IMAGES / "earlystopping" / "Dockerfile"}
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
    # No pattern drops a source file the images need, the generated gRPC stubs included.
    stubs = [ROOT / "katib" / "api" / n for n in ("api_pb2.py", "api_pb2_grpc.py", "api.proto")]
    assert all(p.is_file() for p in stubs), "generated stubs missing: run `make proto`"
    sources = [*stubs, *(p for d in ("nac", "katib") for p in (ROOT / d).rglob("*.py")
                         if "__pycache__" not in p.parts)]
    for path in sources:
        rel = path.relative_to(ROOT).as_posix()
        for pattern in ignored:
            assert not fnmatch.fnmatch(rel, pattern.replace("**/", "*")), \
                f".dockerignore pattern {pattern!r} drops {rel}"


def test_suggestion_entrypoint_is_the_service_module_on_port_6789() -> None:
    steps = dict(instructions(DOCKERFILES["suggestion"]))
    assert json.loads(steps["ENTRYPOINT"]) == ["python", "-m", "katib.suggestion"]
    assert importlib.util.find_spec("katib.suggestion.__main__") is not None
    from katib import constants

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


# Prelude for a subprocess that behaves like the lean image: argv[1] is a JSON list of the
# top-level modules it installs; importing anything else raises ImportError, as there.
_LEAN_PRELUDE = """
import importlib.abc, json, sys
allowed = set(json.loads(sys.argv.pop(1)))

class LeanImage(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        if top not in allowed and top not in sys.builtin_module_names:
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return None

sys.meta_path.insert(0, LeanImage())
"""

_LEAN_IMPORT = _LEAN_PRELUDE + """
import katib.suggestion.__main__
from katib.suggestion import testing
from katib.suggestion.service import SuggestionServicer
import katib.suggestion.algorithms.nac, katib.suggestion.algorithms.optuna_hpo
import nac.restructure, nac.spec

class Context:
    code = None
    def set_code(self, code): self.code = code
    def set_details(self, details): print(details, file=sys.stderr)

servicer = SuggestionServicer()
for experiment in (testing.nas_experiment(), testing.hpo_experiment(settings={"sampler": "tpe"})):
    context = Context()
    reply = servicer.GetSuggestions(testing.request(experiment, count=2), context)
    assert context.code is None and len(reply.parameter_assignments) == 2, context.code
print(json.dumps(sorted({m.split(".")[0] for m in sys.modules})))
"""

# The image's ENTRYPOINT + CMD (argv[1:]), run as `python -m` would, in the lean environment.
_LEAN_ENTRYPOINT = _LEAN_PRELUDE + """
import runpy
module, *args = sys.argv[1:]
sys.argv = [module, *args]
runpy.run_module(module, run_name="__main__", alter_sys=True)
"""


def lean_allowed() -> list[str]:
    """Top-level modules importable in the suggestion image: stdlib, ours, pinned deps."""
    pins = requirement_pins(IMAGES / "suggestion" / "requirements.txt")
    modules_of = importlib.metadata.packages_distributions()
    allowed = set(sys.stdlib_module_names) | {"nac", "katib", "_distutils_hack"}
    allowed |= {m for m, dists in modules_of.items()
                if {canonicalize_name(d) for d in dists} & set(pins)}
    return sorted(allowed)


def test_suggestion_service_runs_with_only_what_the_lean_image_installs() -> None:
    """Run the service's nac and warm-start suggestions in a fresh interpreter where every
    module outside the stdlib, our package and the image's pinned requirements is missing, as in
    the image: optional imports (grpcio probing for grpc_tools) must degrade, required ones
    (including lazy imports inside the algorithms) would fail here."""
    out = subprocess.run([sys.executable, "-c", _LEAN_IMPORT, json.dumps(lean_allowed())],
                         cwd=ROOT, env={**os.environ}, capture_output=True, text=True,
                         timeout=120, check=False)
    assert out.returncode == 0, f"the service needs a module the image lacks:\n{out.stderr}"
    loaded = set(json.loads(out.stdout.splitlines()[-1]))
    assert {"grpc", "katib", "google", "optuna", "nac"} <= loaded
    assert not loaded & {"torch", "kfp", "components", "pipelines", "grpc_tools"}


def test_every_image_reference_carries_the_package_version() -> None:
    import nac
    from components import _common

    assert nac.__version__ == VERSION, "nac.__version__ and pyproject version disagree"
    assert _common.TRAINER_IMAGE == f"ghcr.io/kubeflow-nac/automl-trainer:{VERSION}"
    make = shutil.which("make")
    assert make is not None, "make is required (it is how `make test` runs)"
    out = subprocess.run([make, "-n", "images"], cwd=ROOT, env={**os.environ},
                         capture_output=True, text=True, timeout=60, check=True).stdout
    builds = [shlex.split(line) for line in out.splitlines() if line.startswith("docker build")]
    tags = {cmd[cmd.index("-f") + 1]: cmd[cmd.index("-t") + 1] for cmd in builds}
    assert tags == {
        "images/suggestion/Dockerfile": f"ghcr.io/kubeflow-nac/katib-suggestion:{VERSION}",
        "images/trainer/Dockerfile": _common.TRAINER_IMAGE,
        "images/earlystopping/Dockerfile": f"ghcr.io/kubeflow-nac/katib-earlystopping:{VERSION}",
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


def test_suggestion_entrypoint_serves_katibs_grpc_health_probe_and_stops_on_sigterm() -> None:
    """Start the Dockerfile's ENTRYPOINT + CMD (port swapped for a free one) with only the lean
    image's modules, then probe it the way Kubernetes' native gRPC probe does for Katib:
    grpc.health.v1.Health/Check with service "manager.v1beta1.Suggestion" must be SERVING."""
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    steps = dict(instructions(DOCKERFILES["suggestion"]))
    python, dash_m, module = json.loads(steps["ENTRYPOINT"])
    assert (python, dash_m) == ("python", "-m")
    args = json.loads(steps["CMD"])
    args[args.index("--port") + 1] = "0"  # any free port: 6789 may be taken on a shared host
    proc = subprocess.Popen([sys.executable, "-c", _LEAN_ENTRYPOINT, json.dumps(lean_allowed()),
                             module, *args, "--host", "127.0.0.1"],
                            cwd=ROOT, env={**os.environ}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"listening on [\d.]+:(\d+)", line)
        assert match, f"no listening line: {line!r} {proc.stderr.read() if proc.poll() else ''}"
        with grpc.insecure_channel(f"127.0.0.1:{match.group(1)}") as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            reply = stub.Check(health_pb2.HealthCheckRequest(
                service="manager.v1beta1.Suggestion"), timeout=10, wait_for_ready=True)
            assert reply.status == health_pb2.HealthCheckResponse.SERVING
        proc.terminate()  # SIGTERM, as the kubelet sends
        assert proc.wait(timeout=30) == 0, proc.stderr.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)
        proc.stdout.close()
        proc.stderr.close()
