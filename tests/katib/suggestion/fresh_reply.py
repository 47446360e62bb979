"""One algorithm reply from a request, in this process or in a brand-new one.

``python -m tests.katib.suggestion.fresh_reply`` reads a serialized GetSuggestionsRequest on
stdin and prints the reply of a new AlgorithmRegistry as JSON: the conformance suite's
fresh-process check. It imports only what the algorithms need (no pytest, no gRPC server), so
the process starts fast.
"""

from __future__ import annotations

import json
import sys

from katib.api import api_pb2
from katib.suggestion.algorithms import AlgorithmRegistry, SuggestionRequest
from katib.suggestion.search_space import experiment_from_proto
from katib.suggestion.trials import trials_from_proto

Reply = list[tuple[str, dict[str, str], dict[str, str]]]  # (trial name, values, labels)


def suggest(registry: AlgorithmRegistry, req: api_pb2.GetSuggestionsRequest) -> Reply:
    """The algorithm's reply to `req`, as the servicer would hand it the request."""
    exp = experiment_from_proto(req.experiment)
    out = registry.get(exp.algorithm).suggest(SuggestionRequest(
        exp, tuple(trials_from_proto(req.trials)), req.current_request_number,
        req.total_request_number))
    return [(a.trial_name, dict(a.values), dict(a.labels)) for a in out]


if __name__ == "__main__":
    request = api_pb2.GetSuggestionsRequest.FromString(sys.stdin.buffer.read())
    print(json.dumps(suggest(AlgorithmRegistry(), request)))
