"""Compile, run locally (kfp.local) and submit the AutoML pipeline; used by pipelines/cli.py."""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from nac.atomic import atomic_directory, write_text_atomic

#: Pipeline parameter types (component_spec input types) -> converters for CLI strings.
_CONVERTERS = {
    "Integer": int,
    "Float": float,
    "Double": float,
    "String": str,
    "Boolean": lambda v: {"true": True, "false": False}[v.strip().lower()],
}


class PipelineRunError(RuntimeError):
    """The local run failed; the message names the failing step."""


def pipeline_parameters(*, finetune: bool = False) -> dict[str, Any]:
    """Pipeline parameter name -> (type name, default) of the default or fine-tuning variant."""
    from pipelines.automl import automl, build_pipeline

    pipeline = build_pipeline(finetune=True) if finetune else automl
    return {name: (spec.type, spec.default) for name, spec in
            pipeline.component_spec.inputs.items()}


def coerce_params(params: dict[str, Any], *, finetune: bool = False) -> dict[str, Any]:
    """Convert CLI strings to the pipeline's parameter types; reject unknown names."""
    from pipelines.automl import FINETUNE_PARAMETERS

    known = pipeline_parameters(finetune=finetune)
    out: dict[str, Any] = {}
    for name, value in params.items():
        if name in FINETUNE_PARAMETERS and not finetune:
            raise ValueError(f"pipeline parameter {name!r} exists only in the fine-tuning "
                             "variant: `run --parent-model DIR` locally, or `compile "
                             "--finetune` and submit that package")
        if name not in known:
            raise ValueError(f"unknown pipeline parameter {name!r}; known: "
                             f"{', '.join(sorted(known))}")
        kind = known[name][0]
        if not isinstance(value, str):
            out[name] = value
            continue
        try:
            out[name] = _CONVERTERS.get(kind, str)(value)
        except (KeyError, ValueError):
            raise ValueError(f"pipeline parameter {name}={value!r} is not a valid "
                             f"{kind}") from None
    if "finetune_mode" in out:  # fail now, not in the train step after the search and tuning
        from nac.finetune import FinetuneMode

        modes = [m.value for m in FinetuneMode]
        if out["finetune_mode"] not in modes:
            raise ValueError(f"finetune_mode {out['finetune_mode']!r}: choose one of "
                             f"{', '.join(modes)}")
    return out


def parent_model_uri(parent_model: str | os.PathLike[str], output_dir: str | os.PathLike[str]
                     ) -> str:
    """The `parent_model_uri` of a local fine-tuning run: the absolute path of a Model
    directory that an earlier run wrote (checked now: a nac-model, not the run's own output)."""
    from nac.export import read_meta

    parent = Path(parent_model).absolute()
    if not parent.is_dir():
        raise FileNotFoundError(f"--parent-model {parent_model}: no such directory; give the "
                                "Model directory of an earlier run (e.g. local_outputs/model)")
    read_meta(parent)  # a ModelError (ValueError) names what is missing
    if parent.resolve() == Path(output_dir).absolute().resolve():
        raise ValueError(f"--output-dir {output_dir} is the parent Model: the fine-tuned "
                         "Model would replace it; give another --output-dir")
    return str(parent)


def compile_pipeline(output: str | os.PathLike[str], options: Any = None, *,
                     finetune: bool = False) -> Path:
    """Compile the pipeline with `options` (a PipelineOptions; default: the checked-in one)
    to `output` (written atomically); `finetune=True` compiles the fine-tuning variant
    (pipelines/automl-finetune.yaml with the default options)."""
    from kfp import compiler

    from pipelines.automl import automl, build_pipeline

    pipeline = automl if options is None and not finetune else build_pipeline(
        options, finetune=finetune)
    target = Path(output)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kfp-compile-") as scratch:  # kfp writes a path
        compiled = Path(scratch) / target.name
        compiler.Compiler().compile(pipeline, package_path=str(compiled))
        write_text_atomic(target, compiled.read_text(encoding="utf-8"))
    return target


class ExecutorInputFilter(io.TextIOBase):
    """Drops kfp's JSON dump of each step's executor input from the streamed step log.

    kfp's executor logs the whole executor input (hundreds of lines per step) at INFO with no
    switch to turn it off; the step's own progress lines pass through unchanged.
    """

    def __init__(self, out: TextIO) -> None:
        self._out = out
        self._pending = ""
        self._skipping = False

    def write(self, text: str) -> int:
        self._pending += text
        while "\n" in self._pending:
            line, self._pending = self._pending.split("\n", 1)
            self._emit(line + "\n")
        return len(text)

    def _emit(self, line: str) -> None:
        if self._skipping:
            # The dump is `json.dumps(indent=4)`, possibly indented by kfp: it ends at the
            # first line that is a lone closing brace.
            self._skipping = line.strip() != "}" or line.startswith("        ")
            return
        if "Got executor_input:" in line:
            self._skipping = True
            return
        self._out.write(line)

    def flush(self) -> None:
        if self._pending and not self._skipping:
            self._out.write(self._pending)
            self._pending = ""
        self._out.flush()


def print_reports(listing: list[tuple[str, str, Path]]) -> None:
    """Print the Markdown reports of the run (the KFP UI renders the same files)."""
    for step, name, path in listing:
        if name not in ("report", "training_log") or not path.is_file():
            continue
        text = path.read_text(encoding="utf-8", errors="replace").strip()
        if text.startswith("<"):  # HTML (the search report): open it in a browser
            print(f"\n{step} {name}: HTML report at {path}")
            continue
        print(f"\n----- {step} {name} -----\n{text}")


def _latest_run_dir(pipeline_root: Path, before: set[Path]) -> Path:
    from pipelines.automl import PIPELINE_NAME

    runs = [p for p in pipeline_root.glob(f"{PIPELINE_NAME}-*") if p.is_dir() and p not in before]
    if not runs:
        raise PipelineRunError(f"no run directory appeared under {pipeline_root}")
    return max(runs, key=lambda p: p.stat().st_mtime)


def artifact_listing(run_dir: Path) -> list[tuple[str, str, Path]]:
    """(task, output, path) of every output artifact of a local run, in task order."""
    rows = []
    def finished(task_dir: Path) -> float:  # pipeline order = completion order
        done = task_dir / "executor_output.json"
        return done.stat().st_mtime if done.is_file() else float("inf")

    for task_dir in sorted((p for p in run_dir.iterdir() if p.is_dir()), key=finished):
        executor_output = task_dir / "executor_output.json"
        for out in sorted(task_dir.iterdir()):
            if out == executor_output or out.name.startswith(".") or out.suffix == ".katib":
                continue  # kfp bookkeeping, temp files, the local Katib runner's workdir
            rows.append((task_dir.name, out.name, out))
    return rows


def _copy_model(src: Path, dest: Path) -> Path:
    """Copy the Model artifact directory to `dest` atomically (temp sibling + rename)."""
    with atomic_directory(dest) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return dest


@dataclass(frozen=True)
class LocalRun:
    """What a finished local run produced (`print_run` shows it; `result()` is the RESULT)."""

    run_dir: Path                           # the kfp.local run directory
    listing: list[tuple[str, str, Path]]    # (task, output, path) of every artifact
    metrics: dict[str, float]               # the evaluate step's metrics
    model_dir: Path                         # where the trained Model was copied
    test_error: float
    wall_seconds: float

    def result(self) -> dict[str, Any]:
        """The `RESULT {json}` fields of `python -m pipelines run --local`."""
        return {"test_error": round(self.test_error, 6),
                "wall_seconds": round(self.wall_seconds, 1), "model_dir": str(self.model_dir)}


@contextlib.contextmanager
def _local_run_state() -> Iterator[None]:
    """The process settings a local run needs, restored afterwards (the caller's are kept).

    Step subprocesses inherit PYTHONUNBUFFERED (progress streams as it happens); kfp.local echoes
    their output with print(), so stdout is line-buffered; two warnings expected locally (said
    once in docs/pipeline.md: GPU settings and the trainer image are for the cluster) are muted.
    """
    unbuffered = os.environ.get("PYTHONUNBUFFERED")
    line_buffering = getattr(sys.stdout, "line_buffering", None)
    reconfigure = getattr(sys.stdout, "reconfigure", None)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*have no effect in the current local runner")
        warnings.filterwarnings("ignore", message=".*custom or non-Python base image")
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        if reconfigure is not None:
            reconfigure(line_buffering=True)
        try:
            yield
        finally:
            if unbuffered is None:
                os.environ.pop("PYTHONUNBUFFERED", None)
            if reconfigure is not None and line_buffering is not None:
                reconfigure(line_buffering=line_buffering)


def run_local(params: dict[str, Any], *, pipeline_root: str | os.PathLike[str] = "local_outputs",
              output_dir: str | os.PathLike[str] = "local_outputs/model",
              parent_model: str | os.PathLike[str] | None = None) -> LocalRun:
    """Run the whole pipeline with kfp.local and copy its Model to `output_dir`: the compress
    step's Model (every variant, the selected one served by default) when it ran, else train's.

    `parent_model` (a Model directory of an earlier run) runs the fine-tuning variant
    (`build_pipeline(finetune=True)`): train starts from that Model (`finetune_mode` in
    `params`, default two_stage), and the Model records the parent's sha256, data source and
    classes.

    The steps' own logs stream to stdout while they run (kfp's executor-input dumps dropped);
    `print_run` shows the artifacts and metrics afterwards. Compiled without retries:
    kfp.local honours them (sleeping the backoff), and a local failure is bad input or a bug,
    not an evicted pod.
    """
    import dataclasses

    from kfp import local

    from pipelines.automl import build_pipeline
    from pipelines.options import PipelineOptions

    params = dict(params)
    if parent_model is None and "parent_model_uri" in params:  # --param spelling: same checks
        parent_model = params.pop("parent_model_uri")
    if parent_model is not None:
        params["parent_model_uri"] = parent_model_uri(parent_model, output_dir)
    finetune = "parent_model_uri" in params
    params = coerce_params(params, finetune=finetune)
    root = Path(pipeline_root).absolute()
    root.mkdir(parents=True, exist_ok=True)
    params.setdefault("checkpoint_root", str(root / "checkpoints"))
    with _local_run_state():
        automl = build_pipeline(dataclasses.replace(PipelineOptions(), retries=0),
                                finetune=finetune)
        before = set(root.glob("*"))
        # kfp.local rmtree's its workspace after the run: only ever give it a throw-away dir.
        workspace = tempfile.mkdtemp(prefix="kfp-workspace-")
        local.init(runner=local.SubprocessRunner(use_venv=False), pipeline_root=str(root),
                   workspace_root=workspace, raise_on_error=True)
        print(f"running pipeline locally; artifacts under {root}", flush=True)
        start = time.monotonic()
        try:
            with contextlib.redirect_stdout(ExecutorInputFilter(sys.stdout)):
                task = automl(**params)
        except RuntimeError as e:
            raise PipelineRunError(f"local run failed: {e}") from e
        wall = time.monotonic() - start
    run_dir = _latest_run_dir(root, before)
    evaluate_metrics = run_dir / "evaluate" / "metrics"
    model_src = run_dir / "train" / "model"
    if not evaluate_metrics.is_file() or not model_src.is_dir():
        failed = [p.name for p in sorted(run_dir.iterdir())
                  if p.is_dir() and not (p / "executor_output.json").is_file()]
        raise PipelineRunError(f"the pipeline did not complete (steps without output: "
                               f"{', '.join(failed) or 'unknown'}); see the step log above")
    metrics = json.loads(evaluate_metrics.read_text(encoding="utf-8"))
    compressed = run_dir / "compress" / "compressed_model"  # compress=true: what deploy serves
    if (compressed / "compression.json").is_file():
        model_src = compressed
    model_dir = _copy_model(model_src, Path(output_dir).absolute())
    test_error = float(task.output) if task.output is not None else 1.0 - metrics["accuracy"]
    return LocalRun(run_dir=run_dir, listing=artifact_listing(run_dir), metrics=metrics,
                    model_dir=model_dir, test_error=test_error, wall_seconds=wall)


def print_run(run: LocalRun) -> None:
    """Print a finished run's reports, where every artifact landed, and the final metrics."""
    print_reports(run.listing)
    print(f"\nartifacts of {run.run_dir.name}:")
    for step, name, path in run.listing:
        print(f"  {step:<12} {name:<24} {path}")
    print("\nfinal metrics (evaluate; per-class precision/recall in the metrics file):")
    for name, value in run.metrics.items():
        if not name.startswith(("precision_", "recall_")):
            print(f"  {name:<10} {value:.6g}")
    print(f"\nmodel copied to {run.model_dir}")


def _secret_file(path: str | None, flag: str) -> str | None:
    """The stripped content of a credentials file (never a command-line value: `ps` shows those)."""
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as e:
        raise ValueError(f"{flag} {path}: cannot read it ({e.strerror or e})") from None
    if not text:
        raise ValueError(f"{flag} {path} is empty")
    return text


def client_options(*, namespace: str | None = None, token_file: str | None = None,
                   sa_token_file: str | None = None, cookie_file: str | None = None,
                   ca_cert: str | None = None, insecure: bool = False) -> dict[str, Any]:
    """Keyword arguments for `kfp.Client` (kfp 2.17 sdk/python/kfp/client/client.py) from CLI flags.

    Multi-user Kubeflow authenticates either with a bearer token (`existing_token`: e.g. `kubectl
    create token default-editor -n <profile>`), a projected service-account token file that
    the kubelet refreshes (`credentials=ServiceAccountTokenVolumeCredentials(path)`, inside
    the cluster), or the session cookie of the Kubeflow login (`cookies`, e.g.
    `oauth2_proxy_kubeflow=...` copied from the browser).
    """
    if token_file and sa_token_file:
        raise ValueError("give one of --token-file and --sa-token-file, not both")
    kwargs: dict[str, Any] = {"namespace": namespace or "kubeflow"}
    token = _secret_file(token_file, "--token-file")
    if token:
        kwargs["existing_token"] = token
    if sa_token_file:
        _secret_file(sa_token_file, "--sa-token-file")  # fail now, not at the first request
        from kfp.client.set_volume_credentials import ServiceAccountTokenVolumeCredentials

        kwargs["credentials"] = ServiceAccountTokenVolumeCredentials(path=sa_token_file)
    cookies = _secret_file(cookie_file, "--cookie-file")
    if cookies:
        kwargs["cookies"] = cookies
    if ca_cert:
        if not Path(ca_cert).is_file():
            raise ValueError(f"--ca-cert {ca_cert} does not exist")
        kwargs["ssl_ca_cert"] = ca_cert
    if insecure:
        kwargs["verify_ssl"] = False
    return kwargs


def submit(host: str, *, package: str | os.PathLike[str], params: dict[str, Any],
           experiment: str | None = None, run_name: str | None = None,
           namespace: str | None = None, service_account: str | None = None,
           auth: dict[str, Any] | None = None) -> str:
    """Create a run of the compiled pipeline on a KFP endpoint; return the run's URL.

    `auth` holds `client_options(...)` keywords (token, cookies, CA); `namespace` is the
    Kubeflow profile the run and its experiment belong to on a multi-user install.
    """
    if not Path(package).is_file():
        raise FileNotFoundError(f"compiled pipeline {package} not found; run "
                                "`python -m pipelines compile` first")
    import kfp

    options = dict(auth or {})
    options["namespace"] = namespace or options.get("namespace") or "kubeflow"
    client = kfp.Client(host=host, **options)
    result = client.create_run_from_pipeline_package(
        str(package), arguments=coerce_params(params, finetune="parent_model_uri" in params),
        run_name=run_name,
        experiment_name=experiment, namespace=namespace, service_account=service_account)
    return f"{host.rstrip('/')}/#/runs/details/{result.run_id}"
