"""backend="katib" searches like backend="local": same first network, same trial recipe.

One settings type (nac.search_settings.SearchSettings, extended by NACSettings) serves the
in-process driver and the `nac` suggestion. The Experiment katib/experiments.py builds from a
NACSettings goes through Katib's ConvertExperiment (tests/conformance/katib_controller.py) to
our service over real gRPC; its iteration-0 architecture must be the driver's initial spec, and
the trial command, parsed by the trial CLI itself, must give the driver's truncated-run
TrainConfig. Before this, stem kernel, LRN, parameter limits and dropouts were dropped and
trials got only --epochs.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace

import grpc
import pytest

from katib.api import api_pb2, api_pb2_grpc
from katib.experiments import nac_algorithm_settings, nas_experiment_for
from katib.suggestion import serve
from katib.suggestion import testing as T
from katib.suggestion.algorithms.nac_config import SEARCH_SETTINGS
from katib.trial.cli import parse_args, train_config
from katib.trial.recipe import RECIPE_FLAGS, RUN_FIELDS
from nac.construct import NACSettings
from nac.search_settings import SearchSettings
from nac.spec import parse_architecture
from nac.training import TrainConfig
from tests.conformance.katib_controller import experiment_proto

SHAPE, CLASSES = (1, 8, 8), 10


@pytest.fixture(scope="module")
def stub():
    server, port = serve(0, "127.0.0.1")
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    yield api_pb2_grpc.SuggestionStub(channel)
    channel.close()
    server.stop(0)


def first_trial(stub, body) -> dict[str, str]:
    exp = experiment_proto(body)
    stub.ValidateAlgorithmSettings(api_pb2.ValidateAlgorithmSettingsRequest(experiment=exp),
                                   timeout=60)
    reply = stub.GetSuggestions(T.request(exp, count=1), timeout=60)
    return T.assignments_of(reply.parameter_assignments[0])


def trial_argv(body, assignments: dict[str, str]) -> list[str]:
    container = body["spec"]["trialTemplate"]["trialSpec"]["spec"]["template"]["spec"][
        "containers"][0]
    command = container["command"]
    argv = command[command.index("katib.trial") + 1:]
    for name, value in assignments.items():  # Katib's ${trialParameters.x} substitution
        argv = [a.replace(f"${{trialParameters.{name}}}", value) for a in argv]
    return argv


@pytest.mark.parametrize("settings", [
    NACSettings.small_images(),  # 3x3 stem, no LRN, batch 32, cosine from 0.05
    NACSettings.small_images(stem_kernel=5, lrn=True, parameter_limits=(True, False, False),
                             branch_dropout=0.1, head_dropout=0.3, skip=False,
                             envelope=("1x1", "3x3", "5x5sep"),
                             training=TrainConfig(epochs=2, batch_size=16, lr=0.02,
                                                  nesterov=False, schedule="constant",
                                                  grad_clip=None, label_smoothing=0.1,
                                                  min_lr=0.001, val_every=2)),
], ids=["small_images", "non_defaults"])
def test_katib_experiment_matches_the_local_driver(stub, settings: NACSettings) -> None:
    seed = 7
    settings = replace(settings, training=replace(settings.training, seed=seed))
    body = nas_experiment_for(settings, seed=seed, name="parity", image="trainer:test",
                              data="builtin:digits", input_shape=list(SHAPE),
                              num_classes=CLASSES)
    a = first_trial(stub, body)
    # the first network: what nac.construct.construct trains as iteration 0
    assert parse_architecture(a["architecture"]) == settings.initial_spec(SHAPE, CLASSES)
    # the recipe: what construct() trains iteration 0 with
    got = train_config(parse_args(trial_argv(body, a)))
    want = replace(settings.training, stats=True, seed=settings.training.seed + 0,
                   checkpoint_dir=None)
    for name in RECIPE_FLAGS:
        assert getattr(got, name) == getattr(want, name), name
    assert (got.seed, got.stats, got.stat_mode) == (want.seed, want.stats, want.stat_mode)
    # the budget: enough trials for the constructed network (pipeline: one replica, serial)
    assert body["spec"]["maxTrialCount"] == settings.iterations + 1


def test_every_setting_and_recipe_field_has_one_way_to_katib() -> None:
    search = {f.name for f in dataclasses.fields(SearchSettings)}
    assert set(nac_algorithm_settings(SearchSettings())) == search - {"stages", "envelope"}
    assert set(SEARCH_SETTINGS) == search - {"stages", "envelope"}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    assert set(RECIPE_FLAGS) | set(RUN_FIELDS) == fields
    assert not set(RECIPE_FLAGS) & set(RUN_FIELDS)
