"""Exit codes that mean the same in every CLI of the project (docs/cli.md).

Why one module: a script, a Katib controller or a KFP launcher that runs any of our commands
must be able to tell "fix your input" from "the work failed" without knowing which command it
ran. Katib marks a Trial Failed on any non-zero exit of its primary container (the Job fails),
so the trial CLI only needs non-zero; the split between 1 and 2 is for people and scripts.
Standard library only: the lean suggestion image imports it too.
"""

from __future__ import annotations

import signal

__all__ = ["BAD_INPUT", "FAILED", "OK", "SIGINT", "SIGTERM", "for_signal"]

#: The work ran and succeeded.
OK = 0
#: The work ran and failed: a pipeline step, a trial or an Experiment failed, training crashed.
FAILED = 1
#: Bad input or usage: nothing ran (argparse's own exit code for a bad flag is also 2).
BAD_INPUT = 2
#: Interrupted by a signal: 128 + the signal number, as a shell reports it.
SIGINT = 128 + signal.SIGINT
SIGTERM = 128 + signal.SIGTERM


def for_signal(signum: int) -> int:
    """The exit code of a run stopped by signal `signum` (130 for SIGINT, 143 for SIGTERM)."""
    return 128 + int(signum)
