"""`cmaes` with Katib's `restart_strategy` setting: its validation and real IPOP restarts."""

from __future__ import annotations

import pytest

from katib.api import api_pb2
from katib.suggestion import testing as T
from katib.suggestion.algorithms.cma_restarts import default_popsize
from katib.suggestion.algorithms.optuna_hpo import OptunaAlgorithm
from katib.suggestion.errors import SuggestionInputError
from katib.suggestion.search_space import experiment_from_proto
from katib.validation import parse_experiment
from tests.conformance.pins import KATIB
from tests.katib.suggestion.test_hpo_algorithm import suggest

OPTUNA_SERVICE = "pkg/suggestion/v1beta1/optuna/service.py"
GOPTUNA_CONVERTER = "pkg/suggestion/v1beta1/goptuna/converter.go"
PARAMS = [T.parameter("lr", api_pb2.DOUBLE, low="0.01", high="0.05"),
          T.parameter("momentum", api_pb2.DOUBLE, low="0.5", high="0.9")]


def _cmaes(**settings: str) -> api_pb2.Experiment:
    return T.hpo_experiment(name="cmaes", algorithm="cmaes", settings=settings,
                            parameters=PARAMS, maximize=False)


@pytest.mark.parametrize("value, strategy", [("ipop", "ipop"), ("none", "none"),
                                             ("None", "none")])
def test_katibs_accepted_restart_strategies(value: str, strategy: str) -> None:
    """kubeflow/katib@v0.19.0 pkg/suggestion/v1beta1/optuna/service.py
    OptimizerConfiguration._validate_cmaes_setting accepts "ipop", "None", "none" and
    convert_algorithm_spec maps the last two to no restarts; pkg/suggestion/v1beta1/goptuna/
    converter.go toGoptunaSampler takes ipop (factor 2) and none."""
    exp = experiment_from_proto(_cmaes(restart_strategy=value))
    alg = OptunaAlgorithm()
    alg.validate(exp)
    assert alg.config(exp).restart_strategy == strategy, (
        KATIB.cite(OPTUNA_SERVICE, "OptimizerConfiguration._validate_cmaes_setting"),
        KATIB.cite(GOPTUNA_CONVERTER, "toGoptunaSampler"))


@pytest.mark.parametrize("value", ["bipop", "IPOP", "restart"])
def test_other_restart_strategies_get_katibs_message(value: str) -> None:
    """kubeflow/katib@v0.19.0 pkg/suggestion/v1beta1/optuna/service.py
    OptimizerConfiguration._validate_cmaes_setting: "restart_strategy {} is not supported in
    CMAES optimization"."""
    with pytest.raises(SuggestionInputError) as info:
        OptunaAlgorithm().validate(experiment_from_proto(_cmaes(restart_strategy=value)))
    text = str(info.value)
    assert f"restart_strategy {value} is not supported in CMAES optimization" in text, \
        KATIB.cite(OPTUNA_SERVICE, "OptimizerConfiguration._validate_cmaes_setting")
    assert "use ipop or none" in text


def test_ipop_needs_the_cmaes_sampler_and_inc_popsize_is_range_checked() -> None:
    exp = T.hpo_experiment(settings={"sampler": "tpe", "restart_strategy": "ipop"})
    with pytest.raises(SuggestionInputError, match="applies to sampler=cmaes only"):
        OptunaAlgorithm().validate(experiment_from_proto(exp))
    with pytest.raises(SuggestionInputError, match=r"inc_popsize='0' is invalid"):
        OptunaAlgorithm().validate(experiment_from_proto(_cmaes(restart_strategy="ipop",
                                                                inc_popsize="0")))


def test_katibs_cma_es_example_is_accepted_locally() -> None:
    """The shape of Katib v0.19.0 examples/v1beta1/hp-tuning/cma-es.yaml (CI has no mirror):
    local validation, then the service's settings check, as scripts/katib_examples_parity.py."""
    doc = {
        "apiVersion": "kubeflow.org/v1beta1", "kind": "Experiment",
        "metadata": {"name": "cmaes", "namespace": "kubeflow"},
        "spec": {
            "objective": {"type": "minimize", "goal": 0.001, "objectiveMetricName": "loss"},
            "algorithm": {"algorithmName": "cmaes",
                          "algorithmSettings": [{"name": "restart_strategy", "value": "ipop"}]},
            "parallelTrialCount": 3, "maxTrialCount": 12, "maxFailedTrialCount": 3,
            "parameters": [
                {"name": "lr", "parameterType": "double",
                 "feasibleSpace": {"min": "0.01", "max": "0.05"}},
                {"name": "momentum", "parameterType": "double",
                 "feasibleSpace": {"min": "0.5", "max": "0.9"}}],
            "trialTemplate": {
                "primaryContainerName": "training-container",
                "trialParameters": [{"name": "learningRate", "reference": "lr"},
                                    {"name": "momentum", "reference": "momentum"}],
                "trialSpec": {"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": {
                    "spec": {"restartPolicy": "Never", "containers": [{
                        "name": "training-container", "image": "python:3.12",
                        "command": ["python3", "-c", "print('loss=0.1')",
                                    "--lr=${trialParameters.learningRate}",
                                    "--momentum=${trialParameters.momentum}"]}]}}}}},
        },
    }
    from katib.backends.local.proto import experiment_proto

    exp = parse_experiment(doc, source="cma-es.yaml")
    proto = experiment_proto(exp, list(exp.algorithm_settings),
                             parallel=exp.parallel_trial_count, max_trials=exp.max_trial_count)
    OptunaAlgorithm().validate(experiment_from_proto(proto))


def _restarts(study) -> dict[int, list]:
    """Finished optuna trials by the restart whose generation attribute they carry."""
    out: dict[int, list] = {}
    for t in study.trials:
        for key in t.system_attrs:
            if key.endswith("generation"):
                n = 0 if key == "cma:generation" else int(key.split("restart_")[1].split(":")[0])
                out.setdefault(n, []).append(t.system_attrs[key])
    return out


def test_ipop_restarts_with_a_doubled_population_through_the_service() -> None:
    """A flat objective makes CMA-ES's tolfun criterion fire after 10 + ceil(30 d / popsize)
    generations; IPOP then starts a new optimizer with twice the population, across
    suggestion calls that each build a fresh sampler. `none` never restarts."""
    found = {}
    for strategy in ("ipop", "none"):
        alg = OptunaAlgorithm()
        exp = _cmaes(restart_strategy=strategy, random_state="5")
        trials = []
        for i in range(140):
            a = suggest(alg, exp, trials)[0]
            trials.append(T.trial(f"t{i}", a, metrics={"accuracy": "0.5"},
                                  completion_time=T.rfc3339(i)))
        found[strategy] = _restarts(alg._studies[exp.name].study)
    pop = default_popsize(2)
    ipop = found["ipop"]
    assert set(ipop) == {0, 1}
    # sequential asks: each generation of restart 1 holds exactly its population
    assert ipop[1].count(0) == 2 * pop
    assert len(ipop[0]) > 20 * pop
    assert set(found["none"]) == {0}
