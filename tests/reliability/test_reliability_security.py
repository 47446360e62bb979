"""Security: safe loaders, weights_only, no shell, no extraction, non-root images, RBAC."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability import security_scan as sec

PLANTED = '''
import os, pickle, subprocess, tarfile, yaml, torch, numpy as np
yaml.load(text)
yaml.load(text, Loader=yaml.FullLoader)
torch.load(path)
torch.load(path, weights_only=False)
subprocess.run(cmd, shell=True)
subprocess.Popen(cmd, shell=flag)
os.system(cmd)
pickle.loads(blob)
eval(user_text)
tarfile.open(p).extractall(d)
np.load(p, allow_pickle=True)
'''
CLEAN = '''
import subprocess, yaml, torch, numpy as np
yaml.safe_load(text)
yaml.load(text, Loader=yaml.SafeLoader)
torch.load(path, map_location="cpu", weights_only=True)
subprocess.run(["ls"], cwd=d, shell=False, check=True)
np.load(p, allow_pickle=False)
model.to(device).eval()
'''


def test_scanner_flags_every_planted_problem_and_nothing_clean(tmp_path: Path) -> None:
    findings = list(sec.check_source(tmp_path / "planted.py", PLANTED))
    flagged = {int(f.split(":")[1]) for f in findings}
    assert flagged == set(range(3, 14)), findings  # one finding per planted line
    assert list(sec.check_source(tmp_path / "clean.py", CLEAN)) == []


def test_package_source_uses_only_safe_loaders_and_no_shell() -> None:
    files, findings = sec.scan_sources()
    assert files >= 50  # nac, katib, components, pipelines, benchmarks, scripts
    assert findings == []


def test_images_run_as_non_root() -> None:
    count, findings = sec.check_images()
    if count == 0:
        pytest.fail("no images/*/Dockerfile found")
    assert findings == []
    assert sec.dockerfile_user("FROM a\nUSER 10001\nFROM b\n") is None  # reset per stage


def test_rbac_on_trials_is_read_only() -> None:
    rules, findings = sec.check_rbac()
    assert rules >= 1  # the warm-start suggestion's Role exists and was checked
    assert findings == []
