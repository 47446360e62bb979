"""The served model both server test modules use: a small EnvelopeNet on 8x8 synthetic data."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from nac.data import Dataset, fit_normalization
from nac.export import save_model
from nac.model import build_model
from nac.spec import initial_envelopenet


def _data() -> Dataset:
    rng = np.random.default_rng(0)
    y = np.arange(48) % 3
    x = (rng.normal(size=(48, 1, 8, 8)) * 3 + 8 + 2 * y[:, None, None, None]).astype(np.float32)
    ds = Dataset(x=x, y=y, classes=["a", "b", "c"], source="test:synthetic", split="train")
    ds.normalization = fit_normalization(ds)
    return ds


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    spec = initial_envelopenet((1, 8, 8), 3, stages=2, layers_per_stage=(1, 1),
                               stem_channels=8, stem_kernel=3, lrn=False,
                               envelope=("1x1", "3x3", "3x3sep"))
    ds = _data()
    return save_model(tmp_path_factory.mktemp("serve") / "model", build_model(spec).eval(),
                      spec, ds.classes, normalization=ds.normalization), ds
