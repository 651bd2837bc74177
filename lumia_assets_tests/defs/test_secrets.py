"""Secrets stay out of the UI: the warehouse URL reaches its resource by name (``EnvVar``), never by value.

Asked through the webserver's own GraphQL schema, over the code location loaded as the webserver loads it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from pathlib import Path
from typing import Any

import dagster as dg
from dagster._core.test_utils import in_process_test_workspace
from dagster._core.types.loadable_target_origin import LoadableTargetOrigin
from dagster_graphql.test.utils import execute_dagster_graphql, infer_repository_selector

from lumia_assets.defs.resources import WarehouseResource, warehouse_url_config
from lumia_assets.settings import Settings

SECRET_URL = "postgresql+psycopg2://u:s3cretpw@127.0.0.1/db"
CODE_LOCATION = LoadableTargetOrigin(executable_path=sys.executable, module_name="lumia_assets.definitions")
RESOURCES_QUERY = """
query Resources($selector: RepositorySelector!) {
  allTopLevelResourceDetailsOrError(repositorySelector: $selector) {
    __typename
    ... on ResourceDetailsList { results { name configuredValues { key value type } } }
    ... on PythonError { message }
  }
}
"""


def _resources_in_the_ui() -> tuple[dict[str, Any], Path]:
    """The answer to the UI's resources query over the code location loaded now, and the ``DAGSTER_HOME`` it ran
    with (an ephemeral instance's)."""
    with dg.instance_for_test() as instance, in_process_test_workspace(instance, CODE_LOCATION) as workspace:
        selector = infer_repository_selector(workspace)
        answer = execute_dagster_graphql(workspace, RESOURCES_QUERY, {"selector": selector}).data
        return answer, Path(os.environ["DAGSTER_HOME"])


def _warehouse_url(answer: dict[str, Any]) -> dict[str, str]:
    [warehouse] = [r for r in answer["allTopLevelResourceDetailsOrError"]["results"] if r["name"] == "warehouse"]
    return {value["key"]: value for value in warehouse["configuredValues"]}["url"]


def test_the_ui_names_the_warehouse_url_variable_and_never_shows_its_password(monkeypatch) -> None:
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", SECRET_URL)

    answer, _ = _resources_in_the_ui()

    assert answer["allTopLevelResourceDetailsOrError"]["__typename"] == "ResourceDetailsList"
    assert "s3cretpw" not in json.dumps(answer)
    assert _warehouse_url(answer) == {"key": "url", "value": "LUMIA_WAREHOUSE_URL", "type": "ENV_VAR"}


def test_unset_the_warehouse_is_the_embedded_default_under_dagster_home(monkeypatch) -> None:
    monkeypatch.delenv("LUMIA_WAREHOUSE_URL", raising=False)

    answer, home = _resources_in_the_ui()

    default = json.dumps(f"sqlite:///{home.resolve()}/warehouse.db")  # the UI gets a value as JSON
    assert _warehouse_url(answer) == {"key": "url", "value": default, "type": "VALUE"}


def test_a_run_resolves_the_variable_to_the_url(monkeypatch) -> None:
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", f"  {SECRET_URL}\n")
    resource = WarehouseResource(url=warehouse_url_config(Settings.from_env()))

    with dg.build_resources({"warehouse": resource}) as resources:
        assert resources.warehouse.url.strip() == SECRET_URL


def test_a_url_that_is_not_the_variables_is_configured_as_it_is(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("LUMIA_WAREHOUSE_URL", SECRET_URL)
    own = f"sqlite:///{tmp_path / 'own.db'}"

    assert warehouse_url_config(dataclasses.replace(Settings.from_env(), warehouse_url=own)) == own
