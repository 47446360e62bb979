"""The early-stopping service's cache of finished trials' logs is the project's one bounded LRU.

Each GetEarlyStoppingRules reads every finished trial's log; caching them saves DB manager
round trips, and the bound keeps a long Experiment from growing the pod's memory without limit.
An evicted log is read again, so the rule is the same with or without the cache.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from katib.api import api_pb2 as pb
from katib.earlystopping.service import _CACHE, EarlyStoppingServicer
from katib.suggestion._lru import LRU
from tests.katib.earlystopping.test_service_grpc import _experiment, _spec, _trial

LOGS = {"a": ["0.2", "0.4"], "b": ["0.6"], "c": ["0.1"], "d": ["0.9"]}


class _Context:
    """The two calls `_guarded` makes on a failing request; a pass leaves `code` None."""

    code: Any = None

    def set_code(self, code: Any) -> None:
        self.code = code

    def set_details(self, details: str) -> None:
        self.details = details


def _servicer(**kwargs: int) -> tuple[EarlyStoppingServicer, Counter[str]]:
    reads: Counter[str] = Counter()

    def logs(address: str, trial: str, metric: str) -> list[str]:
        reads[trial] += 1
        return LOGS[trial]

    return EarlyStoppingServicer(logs=logs, status=lambda _: None, **kwargs), reads


def _rules(servicer: EarlyStoppingServicer, *names: str, condition: int = pb.TrialStatus.SUCCEEDED
           ) -> list[tuple[float, int]]:
    request = pb.GetEarlyStoppingRulesRequest(
        experiment=_experiment(_spec(reduction_factor="2", min_resource="1",
                                       min_trials_required="2")),
        trials=[_trial(n, condition) for n in names], db_manager_address="db:6789")
    context = _Context()
    reply = servicer.GetEarlyStoppingRules(request, context)
    assert context.code is None, getattr(context, "details", "")
    return [(float(r.value), r.start_step) for r in reply.early_stopping_rules]


def test_the_default_bound_is_unchanged_and_the_cache_is_the_shared_lru() -> None:
    servicer, _ = _servicer()
    assert isinstance(servicer._cache, LRU) and servicer._cache.maxsize == _CACHE == 10_000


def test_finished_logs_are_kept_up_to_the_bound_and_evicted_least_recently_used() -> None:
    servicer, reads = _servicer(cache_size=2)
    first = _rules(servicer, "a", "b")
    assert first and _rules(servicer, "a", "b") == first
    assert reads == {"a": 1, "b": 1}  # both fit: the second request read nothing
    _rules(servicer, "a", "c")  # a is refreshed, c evicts b (least recently used)
    assert reads == {"a": 1, "b": 1, "c": 1}
    _rules(servicer, "a", "b")  # a still cached; b was evicted and is read again
    assert reads == {"a": 1, "b": 2, "c": 1}
    assert len(servicer._cache) == 2
    # four finished trials through a bound of 2: every log is re-read, the rule is unchanged
    unbounded, _ = _servicer()
    want = _rules(unbounded, "a", "b", "c", "d")
    _rules(servicer, "a", "b", "c", "d")
    before = sum(reads.values())
    assert _rules(servicer, "a", "b", "c", "d") == want
    assert sum(reads.values()) - before == 4 and len(servicer._cache) == 2


def test_running_trials_are_never_cached() -> None:
    servicer, reads = _servicer(cache_size=2)
    _rules(servicer, "a", "b", condition=pb.TrialStatus.RUNNING)
    _rules(servicer, "a", "b", condition=pb.TrialStatus.RUNNING)
    assert reads == {"a": 2, "b": 2} and len(servicer._cache) == 0
