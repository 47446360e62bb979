"""Katib's names and defaults, in one place: the suggestion service, both backends, the trial
CLI and the Experiment builders read them from here (each value cites the Katib v0.19.0 source
it mirrors). Pure constants: importing this module imports nothing else.
"""

from __future__ import annotations

# ---- custom resources (kubeflow.org/v1beta1) ------------------------------------------------
GROUP = "kubeflow.org"
VERSION = "v1beta1"
#: apiVersion / kind of an Experiment document (the only document the runners accept).
API_VERSION = f"{GROUP}/{VERSION}"
EXPERIMENT_KIND = "Experiment"
EXPERIMENT_PLURAL = "experiments"
TRIAL_PLURAL = "trials"
#: Label Katib puts on every Trial naming its Experiment.
EXPERIMENT_LABEL = "katib.kubeflow.org/experiment"
#: Katib's webhook limits Experiment names to 40 characters of a DNS label starting with a letter
#: (pkg/webhook/v1beta1/experiment/validator/validator.go ValidateExperiment).
NAME_MAX_LENGTH = 40
NAME_PATTERN = r"^[a-z]([-a-z0-9]*[a-z0-9])?$"
#: Namespace used when none is configured and none can be discovered.
DEFAULT_NAMESPACE = "default"
#: File holding the pod's namespace when running in a cluster (in-cluster credentials beside it).
SA_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"
#: Longest Kubernetes name / label value Katib turns a trial name into.
MAX_TRIAL_NAME = 63
#: Katib defaults parallelTrialCount to 3 (experiment_defaults.go).
DEFAULT_PARALLEL_TRIAL_COUNT = 3

# ---- the suggestion service -----------------------------------------------------------------
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
MULTI_OBJECTIVE = "multi-objective"
#: Katib's synchronous Hyperband (pkg/suggestion/v1beta1/hyperband), served by our service.
HYPERBAND = "hyperband"
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
#: Algorithms our suggestion service serves (katib.suggestion).
SERVED_ALGORITHMS = (*BUILTIN_SAMPLERS, HYPERBAND, WARM_START, NAC, MULTI_OBJECTIVE)
#: Katib algorithms we do not serve, with what to use instead.
REFUSED_ALGORITHMS = {
    "enas": "it needs Katib's ENAS controller; use 'nac' for architecture search",
    "darts": "it needs Katib's DARTS trial image; use 'nac' for architecture search",
    "pbt": "population-based training needs Katib's checkpoint volume; use 'tpe' or 'warm-start'",
}

# Metric the trial prints with --stats and the `nac` algorithm reads back (contracts.md §4;
# the same name as katib.nac_stats.METRIC_NAME, which encodes it).
NAC_STATS_METRIC = "nac-stats"
# Trial parameters the `nac` algorithm emits (contracts.md §5), in this order.
NAC_PARAMETERS = ("architecture", "iteration", "seed")

# ---- early stopping -------------------------------------------------------------------------
#: The only early-stopping algorithm Katib ships, and its settings with defaults
#: (pkg/earlystopping/v1beta1/medianstop/service.py).
EARLY_STOPPING_ALGORITHM = "medianstop"
MEDIANSTOP_DEFAULTS = {"min_trials_required": 3, "start_step": 4}
#: Early-stopping algorithms our gRPC early-stopping service serves (katib.earlystopping).
SERVED_EARLY_STOPPING = ("asha",)

# ---- objective and metrics ------------------------------------------------------------------
#: Katib's StdOut collector default filter (pkg/metricscollector/v1beta1/common/const.go).
DEFAULT_METRICS_FORMAT = r"([\w|-]+)\s*=\s*([+-]?\d*(\.\d+)?([Ee][+-]?\d+)?)"
#: Metrics collectors (common_types.go CollectorKind), those `katib.local` runs, and why it
#: refuses the others (they need the trial pod, a collector image or Katib's DB manager).
COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent", "PrometheusMetric", "Custom", "Push")
LOCAL_COLLECTOR_KINDS = ("StdOut", "File", "TensorFlowEvent")
REFUSED_COLLECTORS = {
    "PrometheusMetric": "Katib scrapes the trial pod's HTTP endpoint",
    "Custom": "it runs your collector image as a sidecar",
    "Push": "the trial reports to Katib's DB manager",
}
#: File collector formats (FileFormat) and the JSON lines' time key (common/const.go).
FILE_FORMATS = ("TEXT", "JSON")
TIMESTAMP_JSON_KEY = "timestamp"
#: Default paths of the File and TensorFlowEvent collectors (common_types.go).
DEFAULT_METRICS_FILE = "/var/log/katib/metrics.log"
DEFAULT_TFEVENT_DIR = "/var/log/katib/tfevent/"
#: Value Katib records when the objective metric never appeared in the logs (consts.go).
UNAVAILABLE_METRIC_VALUE = "unavailable"
#: Metric strategies an objective may name (common_types.go).
METRIC_STRATEGIES = ("min", "max", "latest")
OBJECTIVE_TYPES = ("maximize", "minimize")
PARAMETER_TYPES = ("double", "int", "discrete", "categorical")
DISTRIBUTIONS = ("uniform", "logUniform", "normal", "logNormal")

# ---- the trials our Experiment builders emit (katib/experiments.py) -------------------------
#: Objective metric the trial CLI prints (validation accuracy, 0..1).
OBJECTIVE_METRIC = "accuracy"
#: StdOut filter: numeric metrics plus the nac-stats JSON (contracts.md §4).
TRIAL_METRICS_FORMATS = [
    r"([\w-]+)=([+-]?\d+(?:\.\d+)?(?:[Ee][+-]?\d+)?)",
    rf"({NAC_STATS_METRIC})=(\{{\S+\}})",
]
#: Name of the trial container (Katib's primaryContainerName).
TRIAL_CONTAINER = "training-container"

# ---- the local runner -----------------------------------------------------------------------
#: Environment variables that size a trial's thread pools (torch reads OMP_NUM_THREADS).
THREAD_ENV_VARS = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Seconds a trial gets between SIGTERM and SIGKILL when it is stopped.
KILL_GRACE_SECONDS = 3.0
# Where `katib.local` keeps each experiment's results by default (katib-local/<name>/); the
# warm-start source `<namespace>/<experiment>` reads them there when run beside them.
LOCAL_RESULTS_ROOT = "katib-local"
#: Name of the results file inside a work directory when none is given.
RESULTS_FILE_NAME = "results.json"
# The results file `katib.local` writes and the `warm-start` algorithm and the local backend
# read (contracts.md §6).
RESULTS_FORMAT = "katib-local-results"
RESULTS_VERSION = 1


#: Backend names a pipeline step accepts (`backend=` of nac_search/tune; katib.client's
#: `ExperimentClient.for_backend`): "local" runs `katib.local` on the step's machine, "katib"
#: creates the Experiment in the cluster.
BACKEND_NAMES = ("local", "katib")


def check_backend_name(name: str) -> None:
    """Raise ValueError naming the known backends unless `name` is one of BACKEND_NAMES."""
    if name not in BACKEND_NAMES:
        raise ValueError(f"backend {name!r} is not supported; use one of "
                         f"{', '.join(BACKEND_NAMES)}")
