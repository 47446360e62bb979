"""Model artifact faults: a save that dies halfway, and damaged artifacts handed to load_model.

A save that fails must leave the previous artifact untouched (and no temporary directory);
loading a damaged artifact must raise `ModelError`/`SpecError` (both `ValueError`s whose message
names the file), never a raw torch/pickle/JSON traceback.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

from tests.reliability.faults import Outcome, weights_hash

CATEGORY = "model export"


def _model(seed: int):  # noqa: ANN202
    import torch

    from nac.model import build_model
    from tests.reliability.train_driver import tiny_spec

    torch.manual_seed(seed)
    spec = tiny_spec()
    return build_model(spec), spec


def torn_save(work: Path) -> Outcome:
    """Overwrite an artifact with a save whose weights write dies halfway (an exception, as a
    full disk or OOM would raise): the old artifact must survive intact."""
    import torch

    from nac.export import load_model, save_model

    outcome = Outcome(CATEGORY, "save_model dies halfway through weights.pt (overwrite)")
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    target = work / "model"
    old_model, spec = _model(0)
    save_model(target, old_model, spec, [str(i) for i in range(10)])
    before = weights_hash(old_model.state_dict())
    new_model, _ = _model(1)
    real_save = torch.save

    def dying_save(obj, f, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a file")
        raise OSError(28, "No space left on device")

    torch.save = dying_save
    outcome.faults += 1
    try:
        save_model(target, new_model, spec, [str(i) for i in range(10)])
        outcome.fail("the failing save did not raise")
    except OSError:
        pass
    finally:
        torch.save = real_save
    try:
        loaded, _ = load_model(target)
        if weights_hash(loaded.state_dict()) != before:
            outcome.fail("the previous artifact changed")
            outcome.lost += 1
    except Exception as e:  # noqa: BLE001
        outcome.fail(f"the previous artifact no longer loads: {e}")
        outcome.lost += 1
    debris = sorted(p.name for p in work.iterdir() if p.name != "model")
    if debris:
        outcome.fail(f"temporary files left: {debris}")
    if not outcome.problems:
        outcome.recovered += 1
    return outcome


def damaged_artifacts(work: Path, *, seed: int = 0) -> Outcome:
    """Every way to damage one file of the artifact; load_model must refuse each clearly."""
    from nac.export import ModelError, load_model, save_model
    from nac.spec import SpecError

    outcome = Outcome(CATEGORY, "damaged model artifacts given to load_model")
    rng = random.Random(seed)
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    model, spec = _model(0)
    good = save_model(work / "good", model, spec, [str(i) for i in range(10)])
    from nac.spec import initial_envelopenet

    wider = initial_envelopenet((1, 8, 8), 10, stages=2, layers_per_stage=(1, 1),
                                stem_channels=16)
    cases: list[tuple[str, str, bytes | None]] = []
    weights = (good / "weights.pt").read_bytes()
    for cut in (0, 10, len(weights) // 2, len(weights) - 1):
        cases.append((f"weights.pt cut to {cut} bytes", "weights.pt", weights[:cut]))
    garbled = bytearray(weights)
    for i in rng.sample(range(len(garbled)), 64):
        garbled[i] = rng.randrange(256)
    cases += [("weights.pt garbled", "weights.pt", bytes(garbled)),
              ("weights.pt missing", "weights.pt", None),
              ("weights.pt a JSON file", "weights.pt", b"{}"),
              ("architecture.json of another model", "architecture.json",
               wider.dumps().encode()),
              ("architecture.json garbage", "architecture.json", b"{not json"),
              ("architecture.json missing", "architecture.json", None),
              ("architecture.json wrong version", "architecture.json",
               json.dumps({**json.loads(spec.dumps()), "version": 99}).encode())]
    meta = json.loads((good / "meta.json").read_text())
    for key, value in (("format", "nac-dataset"), ("version", 2), ("classes", None),
                       ("input_shape", None)):
        doc = dict(meta)
        if value is None:
            doc.pop(key)
        else:
            doc[key] = value
        cases.append((f"meta.json {key}={value!r}", "meta.json", json.dumps(doc).encode()))
    cases += [("meta.json garbage", "meta.json", b"\x00\xff"),
              ("meta.json a list", "meta.json", b"[1, 2]"),
              ("meta.json missing", "meta.json", None)]
    for what, name, content in cases:
        case = work / "case"
        shutil.rmtree(case, ignore_errors=True)
        shutil.copytree(good, case)
        if content is None:
            (case / name).unlink()
        else:
            (case / name).write_bytes(content)
        outcome.bad_inputs += 1
        try:
            load_model(case)
            outcome.fail(f"{what}: loaded without an error")
        except (ModelError, SpecError) as e:
            if str(e).strip():
                outcome.rejected_cleanly += 1
            else:
                outcome.fail(f"{what}: empty error message")
        except Exception as e:  # noqa: BLE001
            outcome.fail(f"{what}: raw {type(e).__name__}: {str(e)[:200]}")
    return outcome
