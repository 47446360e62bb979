"""Fuzz the ingest and preprocess steps with hypothesis-made CSV/NPZ files and artifacts.

Each example runs the real step (`nac.data.steps.run_ingest` / `run_preprocess`, what the
components and `python -m nac.data` call) on a file or artifact directory. It must either
succeed (and the artifact reads back) or raise `DataError` with a message; any other exception
is a traceback from deep inside. After a failure no output may exist: no artifact, no report,
no temporary directory beside them.
"""

from __future__ import annotations

import io
import json
import shutil
import traceback
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import hypothesis
import numpy as np
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from nac.data import DataError, read_dataset
from nac.data.steps import run_ingest, run_preprocess
from tests.reliability.faults import Outcome

CATEGORY = "ingest/preprocess"


@dataclass
class Out:
    """An output location, like a KFP artifact (`.path`, `.metadata`)."""

    path: str
    metadata: dict | None = None


# -- CSV -----------------------------------------------------------------------------------
good_cell = st.one_of(st.integers(-100, 100).map(str),
                      st.floats(-1e6, 1e6, allow_nan=False).map(repr))
cell = st.one_of(
    good_cell, good_cell, good_cell, good_cell, good_cell, good_cell,
    st.integers(-10**6, 10**6).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["", " ", "nan", "NaN", "inf", "-inf", "1e39", "-1e39", "1e400", "abc",
                     "1,5", "0x1F", "١٢", "\x00", '"', "true", "None", "3.4e38", "1_000"]),
    st.text(max_size=8))
label = st.one_of(st.sampled_from(["0", "1", "2"]), st.sampled_from(["0", "1", "2"]),
                  st.sampled_from(["cat", "dog", "", "7.0", "class10"]), st.text(max_size=6))


@st.composite
def csv_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 9))
    if kind == 0:
        return draw(st.binary(max_size=300))
    if kind >= 7:  # near-valid: a good file with at most one bad cell
        n = draw(st.integers(2, 10))
        lines = ["a,b,label,c,d"] + [",".join([draw(good_cell), draw(good_cell), str(i % 3),
                                               draw(good_cell), draw(good_cell)])
                                     for i in range(n)]
        if kind == 9:
            r, c = draw(st.integers(1, n)), draw(st.integers(0, 4))
            cells = lines[r].split(",")
            cells[c] = draw(cell).replace(",", "")
            lines[r] = ",".join(cells)
        return ("\n".join(lines) + "\n").encode("utf-8", "surrogatepass")
    ncols = draw(st.integers(1, 5))
    header = [draw(st.one_of(st.sampled_from(["label", "a", "b", "", "label "]),
                             st.text(max_size=6))) for _ in range(ncols)]
    if draw(st.integers(0, 3)):
        header[draw(st.integers(0, ncols - 1))] = "label"
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        width = ncols if draw(st.integers(0, 8)) else draw(st.integers(0, ncols + 2))
        row = [draw(cell) for _ in range(width)]
        if "label" in header and width == ncols:
            row[header.index("label")] = draw(label)
        rows.append(row)
    buf = io.StringIO()
    import csv

    csv.writer(buf).writerows([header, *rows])
    data = buf.getvalue().encode("utf-8", "surrogatepass")
    if kind == 1 and data:  # truncated
        data = data[: draw(st.integers(0, len(data) - 1))]
    if kind == 2:
        data = b"\xef\xbb\xbf" + data
    if kind == 3:
        data = data.replace(b",", b";")
    if kind == 4:
        data = data.decode("utf-8", "replace").encode("utf-16")
    return data


# -- NPZ -----------------------------------------------------------------------------------
@st.composite
def array(draw: st.DrawFn, role: str) -> np.ndarray:
    n = draw(st.integers(0, 12))
    shape = draw(st.sampled_from([(n,), (n, 4), (n, 2, 2), (n, 1, 2, 2), (n, 1, 1, 1, 1), (),
                                  (n, 0)]))
    dtype = draw(st.sampled_from(["float32", "float32", "float32", "float64", "int64", "int8",
                                  "uint8", "bool", "U3", "complex64", "object", "float16",
                                  "datetime64[s]"]))
    size = int(np.prod(shape)) if shape else 1
    if dtype == "object":
        return np.array([draw(st.one_of(st.integers(), st.text(max_size=3), st.none()))
                         for _ in range(size)], dtype=object).reshape(shape)
    if dtype == "U3":
        return np.array([draw(st.text(max_size=3)) for _ in range(size)]).reshape(shape)
    if dtype == "datetime64[s]":
        return np.zeros(shape, dtype=dtype)
    finite = draw(st.integers(0, 3)) > 0
    values = draw(st.lists(st.one_of(st.floats(allow_nan=not finite, allow_infinity=not finite),
                                     st.integers(-3, 12)), min_size=size, max_size=size))
    with np.errstate(all="ignore"):
        raw = np.array(values, dtype=np.float64).reshape(shape)
        if role == "y" and draw(st.booleans()):
            raw = np.nan_to_num(raw) % 3
        return raw.astype(dtype)


@st.composite
def npz_bytes(draw: st.DrawFn) -> bytes:
    kind = draw(st.integers(0, 7))
    if kind >= 6:  # near-valid: finite float x, integer y, maybe one bad value
        n = draw(st.integers(2, 10))
        x = np.array(draw(st.lists(st.floats(-1e3, 1e3), min_size=n * 4, max_size=n * 4)),
                     dtype=np.float32).reshape(n, 4)
        y = np.arange(n) % draw(st.integers(1, 3))
        if kind == 7:
            x[draw(st.integers(0, n - 1)), 0] = draw(st.sampled_from([np.nan, np.inf, 1e38]))
        buf = io.BytesIO()
        np.savez(buf, x=x, y=y)
        return buf.getvalue()
    if kind == 0:
        return draw(st.one_of(st.binary(max_size=200), st.binary(max_size=200).map(
            lambda b: b"PK\x03\x04" + b)))
    arrays: dict[str, Any] = {}
    for key in ("x", "y", "classes"):
        if key == "classes" and draw(st.integers(0, 2)):
            continue
        if key != "classes" and not draw(st.integers(0, 9)):
            continue  # missing x or y
        arrays[key] = draw(array(key))
    if draw(st.integers(0, 4)) == 0:
        arrays["extra"] = np.arange(3)
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    data = buf.getvalue()
    if kind == 1 and data:
        data = data[: draw(st.integers(0, len(data) - 1))]
    return data


# -- artifacts for preprocess ----------------------------------------------------------------
@st.composite
def meta_mutation(draw: st.DrawFn) -> tuple[str, Any]:
    key = draw(st.sampled_from(["format", "version", "rows", "shape", "classes", "source",
                                "sha256", "split", "normalization", "augmentation", "extra"]))
    value = draw(st.one_of(st.none(), st.integers(-2, 10**6), st.text(max_size=8),
                           st.lists(st.integers(-1, 9), max_size=4),
                           st.just({"mean": [float("nan")], "std": [0.0]}),
                           st.just({"random_shift": -1}), st.just("DELETE")))
    return key, value


def _valid_source() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    return rng.random((30, 1, 2, 2)).astype(np.float32), np.arange(30, dtype=np.int64) % 3


def _no_leftovers(parent: Path, outcome: Outcome, what: str) -> None:
    left = sorted(p.name for p in parent.iterdir())
    if left:
        outcome.fail(f"{what}: failed but left {left}")
        outcome.lost += 1


def _classify(exc: BaseException, outcome: Outcome, what: str, kinds: Counter[str]) -> None:
    if isinstance(exc, DataError) and str(exc).strip():
        kinds["DataError"] += 1
        outcome.rejected_cleanly += 1
        return
    kinds[type(exc).__name__] += 1
    where = traceback.extract_tb(exc.__traceback__)[-1]
    outcome.fail(f"{what}: {type(exc).__name__} from {where.filename}:{where.lineno}: "
                 f"{str(exc)[:200]}")


def fuzz_ingest(work: Path, *, examples: int, seed: int = 0) -> Outcome:
    outcome = Outcome(CATEGORY, f"{examples} fuzzed CSV/NPZ ingests (hypothesis, seed {seed})")
    kinds: Counter[str] = Counter()
    work.mkdir(parents=True, exist_ok=True)

    @hypothesis.seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(fmt=st.sampled_from(["csv", "npz"]), data=st.data(),
           image_shape=st.sampled_from(["", "", "1x2x2", "2x2", "4", "0x1x1", "1x-2x2", "abc"]),
           declare=st.booleans())
    def one(fmt: str, data: st.DataObject, image_shape: str, declare: bool) -> None:
        body = data.draw(csv_bytes() if fmt == "csv" else npz_bytes())
        case = work / "case"
        shutil.rmtree(case, ignore_errors=True)
        (case / "in").mkdir(parents=True)
        (case / "out").mkdir()
        src = case / "in" / f"data.{fmt}"
        src.write_bytes(body)
        outcome.bad_inputs += 1
        try:
            run_ingest(Out(str(case / "out" / "dataset")), Out(str(case / "out" / "report.md")),
                       source=str(src), image_shape=image_shape,
                       source_format=fmt if declare else "")
        except Exception as e:  # noqa: BLE001 - classified
            _classify(e, outcome, f"ingest {fmt} image_shape={image_shape!r}", kinds)
            _no_leftovers(case / "out", outcome, f"ingest {fmt}")
            return
        kinds["accepted"] += 1
        try:
            ds = read_dataset(case / "out" / "dataset")
            assert np.isfinite(ds.x).all() and ds.num_classes >= 2
            outcome.rejected_cleanly += 1  # valid input, valid artifact
        except Exception as e:  # noqa: BLE001
            outcome.fail(f"ingest {fmt}: accepted input wrote an unreadable artifact: {e}")

    one()
    outcome.extra["results"] = dict(kinds)
    return outcome


def fuzz_preprocess(work: Path, *, examples: int, seed: int = 0) -> Outcome:
    outcome = Outcome(CATEGORY, f"{examples} fuzzed artifacts/parameters for preprocess")
    kinds: Counter[str] = Counter()
    work.mkdir(parents=True, exist_ok=True)
    from nac.data import Dataset, write_dataset

    x, y = _valid_source()
    template = work / "template"
    shutil.rmtree(template, ignore_errors=True)
    write_dataset(Dataset(x=x, y=y, classes=("a", "b", "c"), source="fuzz"), template)

    @hypothesis.seed(seed)
    @settings(max_examples=examples, deadline=None, database=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(mutations=st.lists(meta_mutation(), max_size=3),
           npz=st.one_of(st.none(), npz_bytes()),
           val=st.sampled_from([0.1, 0.2, 0.0, 1.0, -0.1, 0.5, float("nan")]),
           test=st.sampled_from([0.2, 0.1, 0.0, 0.6, float("inf")]),
           shift=st.sampled_from([0, 1, -1, 100]), seed_=st.integers(-1, 2**33))
    def one(mutations: list, npz: bytes | None, val: float, test: float, shift: int,
            seed_: int) -> None:
        case = work / "case"
        shutil.rmtree(case, ignore_errors=True)
        shutil.copytree(template, case / "in")
        (case / "out").mkdir()
        meta = json.loads((case / "in" / "meta.json").read_text())
        for key, value in mutations:
            if value == "DELETE":
                meta.pop(key, None)
            else:
                meta[key] = value
        (case / "in" / "meta.json").write_text(json.dumps(meta))
        if npz is not None:
            (case / "in" / "data.npz").write_bytes(npz)
        outs = [Out(str(case / "out" / n)) for n in ("train", "val", "test", "report.md")]
        outcome.bad_inputs += 1
        try:
            run_preprocess(Out(str(case / "in")), *outs, val_fraction=val, test_fraction=test,
                           seed=seed_, augment_shift=shift)
        except Exception as e:  # noqa: BLE001 - classified
            _classify(e, outcome, f"preprocess {mutations} val={val} test={test}", kinds)
            _no_leftovers(case / "out", outcome, "preprocess")
            return
        kinds["accepted"] += 1
        try:
            for o in outs[:3]:
                read_dataset(o.path)
            outcome.rejected_cleanly += 1
        except Exception as e:  # noqa: BLE001
            outcome.fail(f"preprocess accepted input but wrote an unreadable artifact: {e}")

    one()
    outcome.extra["results"] = dict(kinds)
    return outcome
