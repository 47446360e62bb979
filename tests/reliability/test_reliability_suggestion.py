"""A real suggestion server under hypothesis fuzzing, and kill -9 restarts mid-experiment."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from katib.suggestion import testing as T
from tests.reliability import suggestion_fuzz as sf
from tests.reliability import suggestion_process as sp

FUZZ_EXAMPLES = 400  # benchmarks/reliability.py sends 2000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[sp.SuggestionProcess]:
    with sp.suggestion_process(tmp_path_factory.mktemp("suggestion")) as proc:
        yield proc


def test_fuzzed_requests_never_unknown_never_crash_within_memory(server) -> None:
    outcome = sf.fuzz(server, examples=FUZZ_EXAMPLES, seed=0)
    assert outcome.problems == [], outcome.problems[:5]
    assert outcome.bad_inputs == FUZZ_EXAMPLES == outcome.rejected_cleanly
    codes = outcome.extra["codes"]
    assert not any(k.endswith((":UNKNOWN", ":INTERNAL")) for k in codes), codes
    # the fuzz reaches both outcomes of both RPCs, so it tests more than the front door
    for key in ("GetSuggestions:OK", "GetSuggestions:INVALID_ARGUMENT",
                "ValidateAlgorithmSettings:INVALID_ARGUMENT"):
        assert codes.get(key, 0) > 0, codes
    assert server.alive()
    assert outcome.extra["vm_hwm_mib"] <= sp.MEMORY_TARGET_MIB


def test_oversized_request_number_is_refused_not_allocated(server) -> None:
    before = server.hwm_mib()
    code = sp.call(server, "GetSuggestions",
                   T.request(T.hpo_experiment(name="huge", algorithm="random"), count=2**31 - 1))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert server.hwm_mib() - before < 5
    assert sp.valid_requests_succeed(server) == []


@pytest.mark.parametrize("algorithm", ["nac", "tpe", "warm-start", "random"])
def test_kill_9_mid_experiment_then_restart_continues_identically(tmp_path: Path,
                                                                 algorithm: str) -> None:
    outcome = sp.restart_mid_experiment(tmp_path, algorithm=algorithm, rounds=8, kill_after=6)
    assert outcome.problems == []
    assert outcome.faults == outcome.recovered == 1
    assert outcome.extra["same_answer"] is True
    assert outcome.extra["trials"] == 16


def test_cmaes_restart_continues_without_error(tmp_path: Path) -> None:
    # CMA-ES keeps generation state the history does not fully encode: the restarted server
    # may answer differently, but the experiment must go on (no INTERNAL, no repeated names).
    outcome = sp.restart_mid_experiment(tmp_path, algorithm="cmaes", rounds=8, kill_after=6,
                                        same_answer=False)
    assert outcome.problems == []
    assert outcome.faults == outcome.recovered == 1 and outcome.extra["trials"] == 16
