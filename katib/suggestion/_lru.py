"""The project's one bounded cache: least-recently-used eviction, optional age.

Every cache the suggestion service keeps (replies, trial views, optuna studies, parsed trials,
decoded architectures, restructurings, warm-start priors) and the early-stopping service's
finished-trial logs (``katib.earlystopping.service``) is an :class:`LRU`, so each is bounded (a
Katib suggestion pod's default memory limit is 100Mi) and evicts the same way. It stays in
``katib.suggestion`` because the early-stopping service already depends on that package's
light modules (``errors``, ``metrics``) and ``katib.suggestion`` imports nothing heavy eagerly.
The class is not thread-safe (a hit reorders it): callers sharing one across threads lock it.
Caches here only save work: an evicted or expired entry is recomputed from the request,
never lost state. ``max_age_s`` is for entries read from outside the request (a warm-start
source that grows while the Experiment runs is re-read once its entry is older than that).
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar, cast

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """A mapping of at most ``maxsize`` entries; the least recently used is evicted first."""

    def __init__(self, maxsize: int, *, max_age_s: float | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if maxsize < 1:
            raise ValueError(f"maxsize must be >= 1, got {maxsize}")
        self.maxsize = maxsize
        self.max_age_s = max_age_s
        self._clock = clock
        self._items: OrderedDict[K, tuple[float, V]] = OrderedDict()

    def _lookup(self, key: K) -> tuple[bool, V | None]:
        entry = self._items.get(key)
        if entry is None:
            return False, None
        stamp, value = entry
        if self.max_age_s is not None and self._clock() - stamp > self.max_age_s:
            del self._items[key]
            return False, None
        self._items.move_to_end(key)
        return True, value

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value (now the most recently used), or `default` when absent or expired."""
        found, value = self._lookup(key)
        return value if found else default

    def get_or_compute(self, key: K, compute: Callable[[], V]) -> V:
        """The cached value, else ``compute()`` stored; an exception stores nothing."""
        found, value = self._lookup(key)
        if not found:
            value = compute()
            self[key] = value
        return cast(V, value)

    def __getitem__(self, key: K) -> V:
        found, value = self._lookup(key)
        if not found:
            raise KeyError(key)
        return cast(V, value)

    def __setitem__(self, key: K, value: V) -> None:
        self._items[key] = (self._clock(), value)
        self._items.move_to_end(key)
        while len(self._items) > self.maxsize:
            self._items.popitem(last=False)

    def __contains__(self, key: object) -> bool:
        return self._lookup(cast(K, key))[0]

    def __len__(self) -> int:
        return len(self._items)
