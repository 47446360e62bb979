"""Names shared by the suggestion service, its algorithms, the trial CLI and the manifests."""

from __future__ import annotations

# Port Katib's controller dials (consts.DefaultSuggestionPort); the composer forbids changing it.
DEFAULT_PORT = 6789
# Bind address inside the pod: Katib connects through a ClusterIP Service.
DEFAULT_HOST = "0.0.0.0"  # noqa: S104 - a suggestion pod must accept the controller's traffic
# Service name the Kubernetes gRPC probes ask for (consts.DefaultGRPCService), not the real
# gRPC service name "api.v1.beta1.Suggestion".
HEALTH_SERVICE_NAME = "manager.v1beta1.Suggestion"

# Algorithm names as written in Experiment.spec.algorithm.algorithmName.
NAC = "nac"
WARM_START = "warm-start"
# Katib's built-in HPO names, served by the same optuna-based algorithm when this image is
# registered under them (each picks a default sampler).
BUILTIN_SAMPLERS = {
    "random": "random",
    "grid": "grid",
    "tpe": "tpe",
    "multivariate-tpe": "multivariate-tpe",
    "cmaes": "cmaes",
    "sobol": "qmc",
    "bayesianoptimization": "gp",
}

# Metric the trial prints with --stats and the `nac` algorithm reads back (contracts.md §4).
NAC_STATS_METRIC = "nac-stats"
# Trial parameters the `nac` algorithm emits (contracts.md §5), in this order.
NAC_PARAMETERS = ("architecture", "iteration", "seed")

# Longest Kubernetes name / label value Katib turns a trial name into.
MAX_TRIAL_NAME = 63

# Where `katib.local` keeps each experiment's results by default (katib-local/<name>/); the
# warm-start source `<namespace>/<experiment>` reads them there when run beside them.
LOCAL_RESULTS_ROOT = "katib-local"
# The results file `katib.local` writes and the `warm-start` algorithm and the local backend
# read (contracts.md §6).
RESULTS_FORMAT = "katib-local-results"
RESULTS_VERSION = 1

# Katib's custom resources (kubeflow.org/v1beta1), read by the warm-start source and the
# Kubernetes backend.
GROUP = "kubeflow.org"
VERSION = "v1beta1"
TRIAL_PLURAL = "trials"
# Label Katib puts on every Trial naming its Experiment.
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
