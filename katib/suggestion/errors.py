"""Errors the gRPC adapter maps to status codes."""

from __future__ import annotations


class SuggestionInputError(ValueError):
    """Bad experiment input (settings, search space, NAS config): reported as INVALID_ARGUMENT.

    The message names the offending field or setting, the bad value and what is allowed, because
    Katib copies it into the Suggestion's status where the user reads it.
    """
