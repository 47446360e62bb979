"""Names and defaults the local runner shares with Katib (each one cited from Katib's sources)."""

from __future__ import annotations

import enum

from katib.suggestion.constants import BUILTIN_SAMPLERS, GROUP, NAC, VERSION, WARM_START

#: apiVersion / kind of the only document the runner accepts.
API_VERSION = f"{GROUP}/{VERSION}"
EXPERIMENT_KIND = "Experiment"
#: Katib's webhook limits Experiment names to 40 characters of a DNS label.
NAME_MAX_LENGTH = 40
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"

#: Katib defaults parallelTrialCount to 3 (experiment_defaults.go).
DEFAULT_PARALLEL_TRIAL_COUNT = 3

#: Algorithms our suggestion service serves (katib.suggestion).
SERVED_ALGORITHMS = (*BUILTIN_SAMPLERS, WARM_START, NAC, "multi-objective")
#: Katib algorithms we do not serve, with what to use instead.
REFUSED_ALGORITHMS = {
    "enas": "it needs Katib's ENAS controller; use 'nac' for architecture search",
    "darts": "it needs Katib's DARTS trial image; use 'nac' for architecture search",
    "pbt": "population-based training needs Katib's checkpoint volume; use 'tpe' or 'warm-start'",
    "hyperband": "use 'tpe', 'random' or 'warm-start' (with medianstop early stopping for "
                 "a similar budget saving)",
}

#: The only early-stopping algorithm Katib ships, and its settings with defaults
#: (pkg/earlystopping/v1beta1/medianstop/service.py).
EARLY_STOPPING_ALGORITHM = "medianstop"
MEDIANSTOP_DEFAULTS = {"min_trials_required": 3, "start_step": 4}
#: Early-stopping algorithms our gRPC early-stopping service serves (katib.earlystopping).
SERVED_EARLY_STOPPING = ("asha",)

#: Katib's StdOut collector default filter (pkg/metricscollector/v1beta1/common/const.go).
DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
#: Value Katib records when the objective metric never appeared in the logs.
UNAVAILABLE_METRIC_VALUE = "unavailable"

#: Metric strategies an objective may name (common_types.go).
METRIC_STRATEGIES = ("min", "max", "latest")
OBJECTIVE_TYPES = ("maximize", "minimize")
PARAMETER_TYPES = ("double", "int", "discrete", "categorical")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")

#: Environment variables that size a trial's thread pools (torch reads OMP_NUM_THREADS).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")

#: Seconds a trial gets between SIGTERM and SIGKILL when it is stopped.
KILL_GRACE_SECONDS = 3.0

#: Name of the results file inside a work directory when none is given.
RESULTS_FILE_NAME = "results.json"
#: Default parent of per-Experiment work directories.
DEFAULT_WORKDIR_ROOT = "katib-local"


class TrialStatus(enum.Enum):
    """A trial's condition, with Katib's names (trial_types.go)."""

    RUNNING = "Running"
    SUCCEEDED = "Succeeded"
    FAILED = "Failed"
    METRICS_UNAVAILABLE = "MetricsUnavailable"
    EARLY_STOPPED = "EarlyStopped"
    KILLED = "Killed"

    @property
    def completed(self) -> bool:
        return self is not TrialStatus.RUNNING

    @property
    def counts_as_failed(self) -> bool:
        """Katib counts Failed and MetricsUnavailable against maxFailedTrialCount."""
        return self in (TrialStatus.FAILED, TrialStatus.METRICS_UNAVAILABLE)


class Reason(enum.Enum):
    """Why an Experiment ended, with Katib's condition reasons (status_util.go)."""

    GOAL_REACHED = "ExperimentGoalReached"
    MAX_TRIALS_REACHED = "ExperimentMaxTrialsReached"
    SUGGESTION_END_REACHED = "ExperimentSuggestionEndReached"
    FAILED = "ExperimentFailed"
    INTERRUPTED = "ExperimentInterrupted"

    @property
    def succeeded(self) -> bool:
        return self in (Reason.GOAL_REACHED, Reason.MAX_TRIALS_REACHED,
                        Reason.SUGGESTION_END_REACHED)
