"""``deploy/helm/values.yaml`` against the official Dagster chart, offline (no cluster, no helm binary here).

The expectations below were written from the chart's own ``values.schema.json`` (generated from its pydantic
models under ``helm/dagster/schema/``) and its templates, read with the search tool at dagster-io/dagster commit
2bdb239558bfe98dc2a89e2e0c2f3f849367fdd4, the newest stored, a 1.13 schema. They cover the sections the values
file uses: the key names, their types and enums, and, where the chart forbids unknown keys
(``additionalProperties: false``), that nothing else is set. A list replaces the chart's default list in a Helm
merge, so list items (deployments, tag limits) must carry every key the chart requires. The top level is held to
the chart's known keys, stricter than the chart itself, so that a misspelt section fails here instead of being
ignored by Helm.
"""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from lumia_assets.commands.serve import DAEMON_ENVIRONMENT
from lumia_assets.settings import Settings
from lumia_assets_tests.conftest import REPO_ROOT

HELM = REPO_ROOT / "deploy" / "helm"
SECRET_SETTINGS = {"LUMIA_WAREHOUSE_URL", "LUMIA_ALERT_WEBHOOK_URL", "LUMIA_SLACK_TOKEN"}

STRING, BOOLEAN, INTEGER = {"type": "string"}, {"type": "boolean"}, {"type": "integer"}
NULLABLE_INTEGER = {"type": ["integer", "null"]}
STRINGS = {"type": "array", "items": STRING}
OBJECT = {"type": "object"}
PULL_POLICY = {"enum": ["Always", "IfNotPresent", "Never"]}
IMAGE = {
    "type": "object",
    "properties": {"repository": STRING, "tag": {"type": ["string", "integer", "null"]}, "digest": STRING,
                   "pullPolicy": PULL_POLICY},
    "required": ["repository", "pullPolicy"],
}  # fmt: skip
QUANTITY = {"type": ["string", "integer", "number"]}
RESOURCES = {  # io.k8s.api.core.v1.ResourceRequirements
    "type": "object",
    "properties": {
        part: {"type": "object", "additionalProperties": QUANTITY, "propertyNames": {"enum": ["cpu", "memory"]}}
        for part in ("requests", "limits")
    },
    "additionalProperties": False,
}
ENV_SOURCES = {  # io.k8s.api.core.v1.ConfigMapEnvSource / SecretEnvSource: objects, not plain names
    "type": "array",
    "items": {"type": "object", "properties": {"name": STRING, "optional": BOOLEAN}, "required": ["name"],
              "additionalProperties": False},
}  # fmt: skip
ENV_VARS = {  # io.k8s.api.core.v1.EnvVar (a list), or a mapping of names to strings
    "oneOf": [
        {"type": "array", "items": {"type": "object", "properties": {"name": STRING, "value": STRING,
                                                                    "valueFrom": OBJECT},
                                    "required": ["name"], "additionalProperties": False}},
        {"type": "object", "additionalProperties": STRING},
    ]
}  # fmt: skip
PROBE_FIELDS = {name: INTEGER for name in ("initialDelaySeconds", "periodSeconds", "timeoutSeconds",
                                            "successThreshold", "failureThreshold")}  # fmt: skip
TAG_LIMITS = {
    "type": "array",
    "items": {
        "type": "object",
        "properties": {"key": STRING, "limit": INTEGER, "value": {
            "oneOf": [STRING, {"type": "object", "properties": {"applyLimitPerUniqueValue": BOOLEAN},
                               "required": ["applyLimitPerUniqueValue"]}]}},
        "required": ["key", "limit"],
        "additionalProperties": False,
    },
}  # fmt: skip


def _closed(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    """An object the chart declares with ``additionalProperties: false``."""
    return {"type": "object", "properties": properties, "required": list(required), "additionalProperties": False}


def _known(names: tuple[str, ...], **typed: Any) -> dict[str, Any]:
    """A closed object whose ``names`` are accepted with any value, and ``typed`` with the given schema."""
    return _closed({name: {} for name in names} | typed)


WEBSERVER = _known(
    ("nameOverride", "pathPrefix", "service", "workspace", "env", "deploymentLabels", "labels", "nodeSelector",
     "affinity", "tolerations", "podSecurityContext", "securityContext", "readinessProbe", "livenessProbe",
     "startupProbe", "annotations", "enableReadOnly", "checkDbReadyInitContainer", "dbStatementTimeout",
     "dbPoolRecycle", "dbPoolMaxOverflow", "logLevel", "logFormat", "schedulerName", "volumeMounts", "volumes",
     "initContainerResources", "extraContainers", "extraPrependedInitContainers"),
    replicaCount=INTEGER, image=IMAGE, envConfigMaps=ENV_SOURCES, envSecrets=ENV_SOURCES, resources=RESOURCES,
)  # fmt: skip
USER_DEPLOYMENT = {
    "type": "object",
    "properties": {
        "name": {"type": "string", "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"},  # a Kubernetes Service name
        "image": IMAGE,
        "dagsterApiGrpcArgs": STRINGS,
        "codeServerArgs": STRINGS,
        "port": INTEGER,
        "replicaCount": {"type": "integer", "exclusiveMinimum": 0},
        "envConfigMaps": ENV_SOURCES,
        "envSecrets": ENV_SOURCES,
        "includeConfigInLaunchedRuns": _closed({"enabled": BOOLEAN}, ("enabled",)),
        "resources": RESOURCES,
        "readinessProbe": {"type": "object", "properties": {"enabled": BOOLEAN, **PROBE_FIELDS},
                           "required": ["enabled"]},
    },
    "required": ["name", "image", "port"],
}  # fmt: skip
USER_DEPLOYMENTS = {
    "type": "object",
    "properties": {"enabled": BOOLEAN, "enableSubchart": BOOLEAN, "imagePullSecrets": ENV_SOURCES,
                   "deployments": {"type": "array", "minItems": 1, "items": USER_DEPLOYMENT}},
}  # fmt: skip
K8S_RUN_LAUNCHER = _closed(
    {"imagePullPolicy": PULL_POLICY, "loadInclusterConfig": BOOLEAN, "envConfigMaps": ENV_SOURCES,
     "envSecrets": ENV_SOURCES, "envVars": STRINGS, "volumeMounts": {"type": "array"}, "volumes": {"type": "array"},
     "image": IMAGE, "jobNamespace": STRING, "kubeconfigFile": STRING, "labels": OBJECT,
     "failPodOnRunFailure": BOOLEAN, "resources": RESOURCES, "schedulerName": STRING, "securityContext": OBJECT,
     "runK8sConfig": OBJECT},
    ("imagePullPolicy", "loadInclusterConfig", "envConfigMaps", "envSecrets", "envVars", "volumeMounts", "volumes"),
)  # fmt: skip
RUN_LAUNCHER = _closed(
    {"type": {"enum": ["CeleryK8sRunLauncher", "K8sRunLauncher", "CustomRunLauncher"]},
     "config": {"type": "object", "properties": {"k8sRunLauncher": K8S_RUN_LAUNCHER}}},
    ("type", "config"),
) | {"if": {"properties": {"type": {"const": "K8sRunLauncher"}}},
     "then": {"properties": {"config": {"required": ["k8sRunLauncher"]}}}}  # fmt: skip
POSTGRESQL = {
    "type": "object",
    "properties": {"enabled": BOOLEAN, "postgresqlHost": STRING, "postgresqlUsername": STRING,
                   "postgresqlPassword": STRING, "postgresqlDatabase": STRING, "postgresqlParams": OBJECT,
                   "postgresqlScheme": STRING, "service": {"type": "object", "properties": {"port": INTEGER}},
                   "image": OBJECT},
}  # fmt: skip
QUEUED_RUN_COORDINATOR = _closed(
    {"maxConcurrentRuns": NULLABLE_INTEGER, "tagConcurrencyLimits": TAG_LIMITS,
     "dequeueIntervalSeconds": NULLABLE_INTEGER, "dequeueUseThreads": BOOLEAN, "dequeueNumWorkers": NULLABLE_INTEGER,
     "blockOpConcurrencyLimitedRuns": OBJECT}
)  # fmt: skip
RUN_COORDINATOR = _closed(
    {"enabled": BOOLEAN, "type": {"enum": ["QueuedRunCoordinator", "CustomRunCoordinator"]},
     "config": {"type": "object", "properties": {"queuedRunCoordinator": QUEUED_RUN_COORDINATOR}}},
    ("enabled", "type", "config"),
)  # fmt: skip
DAEMON = _known(
    ("image", "heartbeatTolerance", "deploymentLabels", "labels", "nodeSelector", "affinity", "tolerations",
     "podSecurityContext", "securityContext", "livenessProbe", "readinessProbe", "startupProbe", "annotations",
     "sensors", "schedules", "backfills", "checkDbReadyInitContainer", "schedulerName", "logFormat", "volumeMounts",
     "volumes", "initContainerResources", "extraContainers", "extraPrependedInitContainers"),
    enabled=BOOLEAN, runCoordinator=RUN_COORDINATOR, env=ENV_VARS, envConfigMaps=ENV_SOURCES, envSecrets=ENV_SOURCES,
    resources=RESOURCES, runMonitoring=OBJECT,
    runRetries=_closed({"enabled": BOOLEAN, "maxRetries": NULLABLE_INTEGER, "retryOnAssetOrOpFailure": BOOLEAN},
                       ("enabled",)),
)  # fmt: skip
CONCURRENCY = _closed({
    "enabled": BOOLEAN,
    "pools": _closed({"defaultLimit": NULLABLE_INTEGER, "granularity": {"enum": ["run", "op"]},
                      "opGranularityRunBuffer": NULLABLE_INTEGER}),
    "runs": _closed({"maxConcurrentRuns": NULLABLE_INTEGER, "tagConcurrencyLimits": TAG_LIMITS}),
})  # fmt: skip
CHART_VALUES = _known(
    ("rabbitmq", "redis", "flower", "ingress", "imagePullSecrets", "computeLogManager", "scheduler", "busybox",
     "migrate", "ui", "serviceAccount", "retention", "generateCeleryConfigSecret", "additionalInstanceConfig",
     "extraManifests"),
    **{"global": _known(("dagsterHome", "serviceAccountName", "celeryConfigSecretName", "dagsterInstanceConfigMap"),
                        postgresqlSecretName=STRING),
       "dagsterWebserver": WEBSERVER, "dagster-user-deployments": USER_DEPLOYMENTS, "runLauncher": RUN_LAUNCHER,
       "postgresql": POSTGRESQL, "generatePostgresqlPasswordSecret": BOOLEAN, "dagsterDaemon": DAEMON,
       "concurrency": CONCURRENCY,
       "pythonLogs": _closed({"pythonLogLevel": STRING, "managedPythonLoggers": STRINGS,
                              "dagsterHandlerConfig": OBJECT}),
       "telemetry": _closed({"enabled": BOOLEAN})},
)  # fmt: skip


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return _yaml(HELM / "values.yaml")


@pytest.fixture(scope="module")
def settings_map() -> dict[str, Any]:
    return _yaml(HELM / "lumia-settings.yaml")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


def _deployment(values: dict[str, Any]) -> dict[str, Any]:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    return deployment


def test_the_values_have_the_keys_and_types_the_chart_requires(values) -> None:
    jsonschema.validate(values, CHART_VALUES)


@pytest.mark.parametrize(
    ("path", "bad", "error"),
    [
        (("dagsterDaemon", "runCoordinator"), {"enabled": True, "type": "Queued", "config": {}}, "is not one of"),
        (("runLauncher", "config", "k8sRunLauncher", "envConfigMaps"), ["lumia-settings"], "is not of type 'object'"),
        (("concurrency", "runs", "tagConcurrencyLimits"), [{"key": "dagster/backfill"}], "'limit' is a required"),
        (("dagsterWebserver", "replicas"), 2, "Additional properties are not allowed"),
        (("dagster-user-deployments", "deployments"), [{"name": "lumia-assets", "port": "4000"}], "'image'"),
    ],
)
def test_the_expectations_reject_what_the_chart_rejects(values, path, bad, error) -> None:
    broken = yaml.safe_load(yaml.safe_dump(values))
    *parents, leaf = path
    target = broken
    for key in parents:
        target = target[key]
    target[leaf] = bad
    with pytest.raises(jsonschema.ValidationError, match=error):
        jsonschema.validate(broken, CHART_VALUES)


def test_the_chart_version_is_dagsters_and_the_image_is_this_packages(values) -> None:
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    (dagster_pin,) = [d.split("==")[1] for d in project["dependencies"] if d.startswith("dagster==")]
    header = (HELM / "values.yaml").read_text()
    assert re.search(r"chart version ([\d.]+)", header).group(1) == dagster_pin
    assert set(re.findall(r"--version ([\d.]+)", header)) == {dagster_pin}
    deployment = _deployment(values)
    assert deployment["image"]["tag"] == project["version"]
    exposed = re.search(r"^EXPOSE (\d+)$", (REPO_ROOT / "Dockerfile").read_text(), re.MULTILINE).group(1)
    assert deployment["port"] == int(exposed)
    args = deployment["codeServerArgs"]
    assert args[args.index("--module-name") + 1] == "lumia_assets.definitions"


def test_settings_come_from_the_configmap_and_secrets_from_a_secret_never_inline(values, settings_map) -> None:
    text = (HELM / "values.yaml").read_text()
    assert "LUMIA_" not in "".join(line.split("#")[0] for line in text.splitlines())  # no setting inline
    assert "postgresqlPassword" not in values["postgresql"] and values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    name = settings_map["metadata"]["name"]
    for sources in (_deployment(values), values["runLauncher"]["config"]["k8sRunLauncher"]):
        assert sources["envConfigMaps"] == [{"name": name}] and [s["name"] for s in sources["envSecrets"]]
        assert not sources.get("env") and not sources.get("envVars")


def test_the_configmap_holds_only_documented_settings_that_are_not_secret(settings_map, monkeypatch) -> None:
    assert settings_map["kind"] == "ConfigMap" and settings_map["apiVersion"] == "v1"
    data = settings_map["data"]
    assert all(isinstance(value, str) for value in data.values())  # a ConfigMap's data are strings
    documented = set(re.findall(r"`(LUMIA_[A-Z_]+)`", (REPO_ROOT / "README.md").read_text()))
    assert set(data) <= documented and not set(data) & SECRET_SETTINGS
    for variable, value in data.items():
        monkeypatch.setenv(variable, value)
    Settings.from_env()  # every value is one lumia accepts


def test_the_run_queue_and_pools_are_those_of_the_single_host_topology(values) -> None:
    instance = _yaml(REPO_ROOT / "deploy" / "dagster.postgres.yaml")
    runs, pools = values["concurrency"]["runs"], values["concurrency"]["pools"]
    assert values["concurrency"]["enabled"] and values["dagsterDaemon"]["runCoordinator"]["enabled"]
    assert runs["maxConcurrentRuns"] == instance["concurrency"]["runs"]["max_concurrent_runs"]
    assert runs["tagConcurrencyLimits"] == instance["concurrency"]["runs"]["tag_concurrency_limits"]
    assert pools == {_camel(key): value for key, value in instance["concurrency"]["pools"].items()}
    assert values["dagsterDaemon"]["runRetries"]["maxRetries"] == instance["run_retries"]["max_retries"]
    queued = values["dagsterDaemon"]["runCoordinator"]["config"]["queuedRunCoordinator"]
    assert not {"maxConcurrentRuns", "tagConcurrencyLimits"} & set(queued)  # the chart refuses both places at once


def test_a_run_pod_requests_more_memory_than_the_largest_measured_run(values) -> None:
    largest_measured_mb = 406  # bench/RESULTS.md: a two-year crypto range of 1,165 pairs (VmHWM)
    resources = values["runLauncher"]["config"]["k8sRunLauncher"]["resources"]
    assert _mebibytes(resources["requests"]["memory"]) > largest_measured_mb
    assert _mebibytes(resources["limits"]["memory"]) >= 2 * _mebibytes(resources["requests"]["memory"])


def _mebibytes(quantity: str) -> float:
    number, unit = re.fullmatch(r"(\d+)(Mi|Gi)", quantity).groups()
    return int(number) * (1024 if unit == "Gi" else 1)


def test_the_daemon_waits_for_a_restarting_code_location_as_lumia_serve_has_it(values) -> None:
    env = {item["name"]: item["value"] for item in values["dagsterDaemon"]["env"]}
    assert env == DAEMON_ENVIRONMENT
