#!/usr/bin/env bash
# End-to-end check on a real Kubernetes cluster (kind by default), for a machine with Docker.
#
#   scripts/e2e-kind.sh                 # create kind cluster "nac-e2e", run everything, delete it
#   KEEP_CLUSTER=1 scripts/e2e-kind.sh  # leave the cluster up afterwards for inspection
#   E2E_CLUSTER=current scripts/e2e-kind.sh
#                                       # use the current kubectl context instead of creating a
#                                       # cluster (pytest -m cluster does this); set
#                                       # KIND_CLUSTER_NAME to `kind load` the images into your
#                                       # kind cluster, or SKIP_BUILD=1 if they are on the nodes;
#                                       # FAKE_GPUS=1 when the cluster has no GPUs
#
# Other knobs: KATIB_VERSION, KFP_VERSION, KIND_NODE_IMAGE, CLUSTER_NAME, KEEP_CLUSTER=1,
# MIN_ACCURACY, EXPERIMENT_TIMEOUT, RUN_TIMEOUT, KFP_PORT, PYTHON (docs/deploy.md §7).
#
# Steps (each one is a function below, run in this order):
#   1. preflight      check the tools (docker, kind, kubectl, python with this project)
#   2. cluster        create a kind cluster at a pinned node image
#   3. fake_gpus      advertise nvidia.com/gpu on the nodes so GPU-requesting pipeline steps
#                     schedule (they fall back to the CPU inside the pod)
#   4. install_kfp    Kubeflow Pipelines ${KFP_VERSION} standalone (platform-agnostic manifests)
#   5. install_katib  Katib ${KATIB_VERSION} standalone (after KFP: it labels namespace kubeflow)
#   6. images         build our two images (make images PUSH=0) and `kind load` them
#   7. extension      apply manifests/overlays/kind: katib-config with `nac` and `warm-start`,
#                     the warm-start ServiceAccount/RBAC, namespace nac-demo
#   8. experiments    run the NAS (`nac`) and HPO (`warm-start`) examples with tiny budgets,
#                     then the warm-started HPO example from the first HPO run; verify each
#   9. pipeline       compile and submit the AutoML pipeline through a port-forward to KFP,
#                     wait for the run and verify it succeeded
#  10. cleanup        (trap, always) stop the port-forward, delete the kind cluster or, with
#                     E2E_CLUSTER=current, the example Experiments
#
# Budget: about 20-40 minutes on a 4-core laptop, most of it image builds and installs.
set -euo pipefail

# ---- pinned versions and settings (override through the environment) -----------------------
KATIB_VERSION="${KATIB_VERSION:-v0.19.0}"
KFP_VERSION="${KFP_VERSION:-2.17.0}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-kindest/node:v1.32.2}"
CLUSTER_NAME="${CLUSTER_NAME:-nac-e2e}"
E2E_CLUSTER="${E2E_CLUSTER:-kind}"          # kind | current
KEEP_CLUSTER="${KEEP_CLUSTER:-0}"
SKIP_BUILD="${SKIP_BUILD:-0}"               # 1: images already built (or pullable)
FAKE_GPUS="${FAKE_GPUS:-}"                  # 1/0; default: only on a cluster created here
NAMESPACE="nac-demo"                        # manifests/overlays/kind/demo-namespace.yaml
KFP_NAMESPACE="kubeflow"
KFP_PORT="${KFP_PORT:-8888}"
EXPERIMENT_TIMEOUT="${EXPERIMENT_TIMEOUT:-1800}"   # seconds per Experiment
RUN_TIMEOUT="${RUN_TIMEOUT:-3600}"                 # seconds for the pipeline run
MIN_ACCURACY="${MIN_ACCURACY:-0.5}"                # tiny budgets: far below the real targets

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PYTHON="${PYTHON:-${REPO_ROOT}/.venv/bin/python}"
OVERLAY="${REPO_ROOT}/manifests/overlays/kind"
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' "${REPO_ROOT}/pyproject.toml")"
# The names the manifests and the compiled pipeline use (kind-loaded, never pulled).
REGISTRY="ghcr.io/kubeflow-nac"
SUGGESTION_IMAGE="${REGISTRY}/katib-suggestion:${VERSION}"
TRAINER_IMAGE="${REGISTRY}/automl-trainer:${VERSION}"

WORK_DIR="$(mktemp -d -t nac-e2e.XXXXXX)"
PORT_FORWARD_PID=""
CREATED_CLUSTER=0

log() { printf '\n==> %s\n' "$*"; }
die() { printf 'e2e: FAILED: %s\n' "$*" >&2; exit 1; }

# ---- 10. cleanup (registered first, runs on every exit) ---------------------------------------
cleanup() {
  local rc=$?
  set +e
  if [[ -n "${PORT_FORWARD_PID}" ]]; then
    kill "${PORT_FORWARD_PID}" 2>/dev/null
    wait "${PORT_FORWARD_PID}" 2>/dev/null
  fi
  if [[ ${rc} -ne 0 ]]; then
    log "failure diagnostics"
    kubectl -n "${NAMESPACE}" get experiments,suggestions,trials,pods 2>/dev/null
    kubectl -n "${NAMESPACE}" describe experiments 2>/dev/null | tail -n 60
  fi
  if [[ "${CREATED_CLUSTER}" == "1" && "${KEEP_CLUSTER}" != "1" ]]; then
    log "deleting kind cluster ${CLUSTER_NAME}"
    kind delete cluster --name "${CLUSTER_NAME}"
  elif [[ "${E2E_CLUSTER}" == "current" && "${KEEP_CLUSTER}" != "1" ]]; then
    log "deleting the example Experiments in ${NAMESPACE}"
    kubectl -n "${NAMESPACE}" delete experiments -l app.kubernetes.io/component=example \
      --ignore-not-found --wait=false
  fi
  rm -rf "${WORK_DIR}"
  if [[ ${rc} -eq 0 ]]; then echo "e2e: PASSED"; fi
  exit "${rc}"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- 1. preflight ---------------------------------------------------------------------------
preflight() {
  log "preflight"
  local tool
  for tool in kubectl curl awk sed; do
    command -v "${tool}" >/dev/null || die "${tool} not found on PATH"
  done
  if [[ "${E2E_CLUSTER}" == "kind" || -n "${KIND_CLUSTER_NAME:-}" ]]; then
    command -v kind >/dev/null || die "kind not found (https://kind.sigs.k8s.io)"
  fi
  if [[ "${SKIP_BUILD}" != "1" ]]; then
    command -v docker >/dev/null || die "docker not found (or set SKIP_BUILD=1)"
    docker info >/dev/null 2>&1 || die "the Docker daemon is not reachable"
  fi
  [[ -x "${PYTHON}" ]] || die "no Python at ${PYTHON}: run 'make setup' (or set PYTHON)"
  "${PYTHON}" -c "import kfp, pipelines" || die "${PYTHON} lacks this project: run 'make setup'"
  [[ -n "${VERSION}" ]] || die "cannot read the version from pyproject.toml"
  echo "katib ${KATIB_VERSION}, kfp ${KFP_VERSION}, images ${SUGGESTION_IMAGE} ${TRAINER_IMAGE}"
}

# ---- 2. cluster -----------------------------------------------------------------------------
cluster() {
  if [[ "${E2E_CLUSTER}" == "current" ]]; then
    log "using the current kubectl context: $(kubectl config current-context)"
    kubectl cluster-info >/dev/null || die "the current context's cluster is not reachable"
    return
  fi
  [[ "${E2E_CLUSTER}" == "kind" ]] || die "E2E_CLUSTER must be kind or current"
  log "creating kind cluster ${CLUSTER_NAME} (${KIND_NODE_IMAGE})"
  if kind get clusters | grep -qx "${CLUSTER_NAME}"; then
    die "kind cluster ${CLUSTER_NAME} already exists: delete it or set CLUSTER_NAME"
  fi
  CREATED_CLUSTER=1
  kind create cluster --name "${CLUSTER_NAME}" --image "${KIND_NODE_IMAGE}" --wait 180s
  export KIND_CLUSTER_NAME="${CLUSTER_NAME}"
  kubectl cluster-info --context "kind-${CLUSTER_NAME}"
}

# ---- 3. fake GPUs ---------------------------------------------------------------------------
# The compiled pipeline's GPU steps request nvidia.com/gpu: 1. kind nodes have no GPU, so
# advertise the extended resource (Kubernetes "advertise extended resources for a node"); the
# pods then schedule and train on the CPU. By default only on clusters this script created.
fake_gpus() {
  [[ "${FAKE_GPUS:-${CREATED_CLUSTER}}" == "1" ]] || return 0
  log "advertising 4 fake nvidia.com/gpu per node"
  local node
  for node in $(kubectl get nodes -o jsonpath='{.items[*].metadata.name}'); do
    kubectl patch node "${node}" --subresource=status --type=json \
      -p '[{"op": "add", "path": "/status/capacity/nvidia.com~1gpu", "value": "4"}]'
  done
}

# ---- 4. Kubeflow Pipelines ------------------------------------------------------------------
install_kfp() {
  if kubectl -n "${KFP_NAMESPACE}" get deployment ml-pipeline >/dev/null 2>&1; then
    log "Kubeflow Pipelines already installed"
  else
    log "installing Kubeflow Pipelines ${KFP_VERSION}"
    kubectl apply -k \
      "github.com/kubeflow/pipelines/manifests/kustomize/cluster-scoped-resources?ref=${KFP_VERSION}"
    kubectl wait --for=condition=Established --timeout=120s crd --all
    kubectl apply -k \
      "github.com/kubeflow/pipelines/manifests/kustomize/env/platform-agnostic?ref=${KFP_VERSION}"
  fi
  kubectl -n "${KFP_NAMESPACE}" wait --for=condition=Available --timeout=900s \
    deployment/ml-pipeline deployment/ml-pipeline-ui
}

# ---- 5. Katib ---------------------------------------------------------------------------------
install_katib() {
  if kubectl get crd experiments.kubeflow.org >/dev/null 2>&1; then
    log "Katib already installed"
  else
    log "installing Katib ${KATIB_VERSION}"
    kubectl apply -k \
      "github.com/kubeflow/katib.git/manifests/v1beta1/installs/katib-standalone?ref=${KATIB_VERSION}"
  fi
  kubectl -n kubeflow wait --for=condition=Available --timeout=900s \
    deployment/katib-controller deployment/katib-db-manager
}

# ---- 6. images --------------------------------------------------------------------------------
images() {
  if [[ "${SKIP_BUILD}" != "1" ]]; then
    log "building ${SUGGESTION_IMAGE} and ${TRAINER_IMAGE}"
    make -C "${REPO_ROOT}" images PUSH=0 REGISTRY="${REGISTRY}"
  fi
  if [[ -n "${KIND_CLUSTER_NAME:-}" ]]; then
    log "loading the images into kind cluster ${KIND_CLUSTER_NAME}"
    kind load docker-image --name "${KIND_CLUSTER_NAME}" "${SUGGESTION_IMAGE}" "${TRAINER_IMAGE}"
  fi
}

# ---- 7. the extension -------------------------------------------------------------------------
extension() {
  log "applying the Katib extension (manifests/overlays/kind)"
  # The Namespace, katib-config and the warm-start ServiceAccount/RBAC; not the examples yet.
  kubectl apply -k "${OVERLAY}" -l app.kubernetes.io/component!=example
  local config
  config="$(kubectl -n kubeflow get configmap katib-config -o jsonpath='{.data.katib-config\.yaml}')"
  grep -q "algorithmName: nac" <<<"${config}" || die "katib-config lacks algorithm nac"
  grep -q "algorithmName: warm-start" <<<"${config}" || die "katib-config lacks warm-start"
  # `auth can-i` exits 1 when the answer is no; compare its printed answer instead.
  local sa="system:serviceaccount:${NAMESPACE}:katib-warm-start" answer
  answer="$(kubectl -n "${NAMESPACE}" auth can-i list trials.kubeflow.org --as="${sa}" || true)"
  [[ "${answer}" == "yes" ]] || die "katib-warm-start cannot list trials"
  answer="$(kubectl -n "${NAMESPACE}" auth can-i delete trials.kubeflow.org --as="${sa}" || true)"
  [[ "${answer}" == "no" ]] || die "katib-warm-start may delete trials: the Role grants too much"
}

# ---- 8. the example Experiments ---------------------------------------------------------------
# Apply one example (by its nac.kubeflow.org/example label) from the kind overlay.
apply_example() {
  kubectl apply -k "${OVERLAY}" -l "nac.kubeflow.org/example=$1"
}

# Wait until the Experiment is Succeeded (return 0) or Failed (die with Katib's reason).
wait_experiment() {
  local name="$1" deadline status
  deadline=$(( $(date +%s) + EXPERIMENT_TIMEOUT ))
  echo "waiting for Experiment ${name} (timeout ${EXPERIMENT_TIMEOUT}s)"
  while :; do
    status="$(kubectl -n "${NAMESPACE}" get experiment "${name}" -o \
      jsonpath='{range .status.conditions[?(@.status=="True")]}{.type}{" "}{end}')"
    case " ${status} " in
      *" Succeeded "*) echo "Experiment ${name}: Succeeded"; return 0 ;;
      *" Failed "*)
        die "Experiment ${name} failed: $(kubectl -n "${NAMESPACE}" get experiment "${name}" \
          -o jsonpath='{.status.conditions[?(@.type=="Failed")].message}')" ;;
    esac
    (( $(date +%s) < deadline )) || die "Experiment ${name} not finished after ${EXPERIMENT_TIMEOUT}s"
    sleep 15
  done
}

# Check the finished Experiment: enough succeeded trials and a best trial whose objective
# (accuracy) is at least MIN_ACCURACY. Prints the best trial's name.
verify_experiment() {
  local name="$1" min_trials="$2" succeeded best accuracy
  succeeded="$(kubectl -n "${NAMESPACE}" get experiment "${name}" \
    -o jsonpath='{.status.trialsSucceeded}')"
  (( ${succeeded:-0} >= min_trials )) \
    || die "${name}: ${succeeded:-0} succeeded trials, expected at least ${min_trials}"
  best="$(kubectl -n "${NAMESPACE}" get experiment "${name}" \
    -o jsonpath='{.status.currentOptimalTrial.bestTrialName}')"
  [[ -n "${best}" ]] || die "${name}: no currentOptimalTrial"
  accuracy="$(kubectl -n "${NAMESPACE}" get experiment "${name}" -o \
    jsonpath='{.status.currentOptimalTrial.observation.metrics[?(@.name=="accuracy")].latest}')"
  awk -v a="${accuracy}" -v m="${MIN_ACCURACY}" 'BEGIN { exit !(a + 0 >= m + 0) }' \
    || die "${name}: best trial ${best} accuracy '${accuracy}' < ${MIN_ACCURACY}"
  echo "${name}: ${succeeded} trials succeeded, best ${best} accuracy ${accuracy}"
}

experiments() {
  log "running the NAS (nac) and HPO (warm-start) examples"
  apply_example nas
  apply_example hpo
  wait_experiment nac-digits
  verify_experiment nac-digits 2
  # The constructed network is the trial labelled nac.kubeflow.org/constructed=true (katib/
  # nac_schedule.py), not Katib's best trial (the highest accuracy over every iteration); its
  # `architecture` is a b64 nac-architecture spec (docs/contracts.md §2, §5).
  local arch
  arch="$(kubectl -n "${NAMESPACE}" get trials \
    -l katib.kubeflow.org/experiment=nac-digits,nac.kubeflow.org/constructed=true -o \
    jsonpath='{.items[0].spec.parameterAssignments[?(@.name=="architecture")].value}')"
  [[ -n "${arch}" ]] || die "nac-digits: no trial of the constructed network (raise maxTrialCount)"
  [[ "${arch}" == b64:* ]] || die "nac-digits: constructed architecture is not b64: ${arch:0:40}"
  "${PYTHON}" - "${arch}" <<'PY' || die "nac-digits: the constructed architecture is not a valid spec"
import base64, json, sys
text = sys.argv[1][len("b64:"):]
spec = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
assert spec["format"] == "nac-architecture" and spec["version"] == 1, spec.get("format")
print("constructed architecture:", sum(len(s["cells"]) for s in spec["stages"]), "cells")
PY

  wait_experiment hpo-digits
  verify_experiment hpo-digits 1

  log "running the warm-started HPO example (source: ${NAMESPACE}/hpo-digits)"
  apply_example hpo-warm
  wait_experiment hpo-digits-warm
  verify_experiment hpo-digits-warm 1
}

# ---- 9. the pipeline --------------------------------------------------------------------------
pipeline() {
  log "compiling and submitting the AutoML pipeline"
  # Not needed by the default pipeline (checkpoints go to the run's KFP workspace); kept for
  # `python -m pipelines compile --checkpoint-pvc automl-checkpoints`.
  kubectl -n "${KFP_NAMESPACE}" apply -f - <<'YAML'
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: automl-checkpoints
spec:
  accessModes: [ReadWriteOnce]
  resources:
    requests:
      storage: 1Gi
YAML
  (cd "${REPO_ROOT}" && "${PYTHON}" -m pipelines compile --output "${WORK_DIR}/automl.yaml" \
    --image "${TRAINER_IMAGE}")
  grep -q "image: ${TRAINER_IMAGE}" "${WORK_DIR}/automl.yaml" \
    || die "the compiled pipeline does not use ${TRAINER_IMAGE}"

  kubectl -n "${KFP_NAMESPACE}" port-forward svc/ml-pipeline-ui "${KFP_PORT}:80" \
    >"${WORK_DIR}/port-forward.log" 2>&1 &
  PORT_FORWARD_PID=$!
  local host="http://localhost:${KFP_PORT}" i
  for i in $(seq 1 30); do
    curl -fsS "${host}/apis/v2beta1/healthz" >/dev/null 2>&1 && break
    (( i < 30 )) || die "KFP API not reachable through the port-forward at ${host}"
    sleep 2
  done

  local run_name
  run_name="nac-e2e-$(date +%s)"
  (cd "${REPO_ROOT}" && "${PYTHON}" -m pipelines submit --host "${host}" \
    --package "${WORK_DIR}/automl.yaml" --experiment nac-e2e --run-name "${run_name}" \
    --param train_epochs=2 --param tune_trials=2 --param tune_epochs=1 \
    --param 'nac_settings={"iterations": 1, "training": {"epochs": 1}}') | tee "${WORK_DIR}/submit.log"
  local run_id
  run_id="$(sed -n 's|.*#/runs/details/\([0-9a-zA-Z-]*\).*|\1|p' "${WORK_DIR}/submit.log")"
  [[ -n "${run_id}" ]] || die "could not read the run id from the submit output"

  log "waiting for run ${run_id} (timeout ${RUN_TIMEOUT}s)"
  "${PYTHON}" - "${host}" "${run_id}" "${RUN_TIMEOUT}" <<'PY' || die "pipeline run failed"
import sys
import kfp
host, run_id, timeout = sys.argv[1], sys.argv[2], int(sys.argv[3])
run = kfp.Client(host=host).wait_for_run_completion(run_id, timeout=timeout)
print("run", run_id, "state", run.state)
sys.exit(0 if run.state == "SUCCEEDED" else 1)
PY
}

main() {
  preflight
  cluster
  fake_gpus
  install_kfp
  install_katib
  images
  extension
  experiments
  pipeline
}

main "$@"
