"""The pipeline bench's chart-defaults row runs what a default ``helm install`` configures.

``bench/chart_defaults.py`` keeps the rendered ConfigMap's settings except those naming a place;
a new place in the chart (a URL, a host) passed through would point the bench's service at a
cluster address, and a setting dropped would measure something other than the defaults.
"""

from __future__ import annotations

from tests.deploy.conftest import by_kind, render
from tests.support.bench_modules import load as load_bench

SERVICE_SETTINGS_NOT_PLACES = {  # each is a behaviour, not an address: the row must keep it
    "BGCUT_MAX_IN_FLIGHT",
    "BGCUT_ORDERING",
    "BGCUT_JOB_ATTEMPTS",
    "BGCUT_DRAIN_TIMEOUT_S",
    "BGCUT_DELIVERY",
    "BGCUT_SESSION_TIMEOUT_S",
    "BGCUT_SOURCE_SCHEMES",
    "BGCUT_SOURCE_HOSTS",
    "BGCUT_LOG_LEVEL",
}


def test_the_row_keeps_every_default_setting_and_replaces_only_places(helm: str) -> None:
    chart = load_bench("chart_defaults")
    env, why = chart.chart_env()
    assert env is not None, why
    configmap = by_kind(render(helm, "api.key=x"))["ConfigMap"]["data"]
    assert set(configmap) == set(env) | chart.PLACES, "a new ConfigMap key: a setting or a place?"
    assert set(env) == SERVICE_SETTINGS_NOT_PLACES
    assert env == {k: str(v) for k, v in configmap.items() if k in env}


def test_its_ideal_counts_the_slots_the_ordering_can_fill(helm: str) -> None:
    """Unset per-partition cap: the service's own default decides, in the row as in the pod."""
    del helm  # the fixture fails the test without helm; chart_env finds the same binary
    bench = load_bench("pipeline_bench")
    env, why = load_bench("chart_defaults").chart_env()
    assert env is not None, why
    assert "BGCUT_MAX_IN_FLIGHT_PER_PARTITION" not in env  # the default install leaves it unset
    case = bench.chart_case(env)
    assert case.settings == env  # exactly the chart's: the grid's per-partition cap left out
    assert env["BGCUT_ORDERING"] == "key"
    assert case.cell.in_flight == int(env["BGCUT_MAX_IN_FLIGHT"])  # distinct keys fill the cap
    strict = bench.chart_case({**env, "BGCUT_ORDERING": "partition"})
    assert strict.cell.in_flight == min(int(env["BGCUT_MAX_IN_FLIGHT"]), bench.PARTITIONS)
    two = {**env, "BGCUT_ORDERING": "partition", "BGCUT_MAX_IN_FLIGHT_PER_PARTITION": "2"}
    assert bench.chart_case({**two, "BGCUT_MAX_IN_FLIGHT": "64"}).cell.in_flight == 16
    assert bench.chart_case({**env, "BGCUT_MAX_IN_FLIGHT": "4"}).cell.in_flight == 4
