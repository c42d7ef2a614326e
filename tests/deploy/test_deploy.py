"""deploy/ as a platform team would apply it: every file parses and matches its schema, and every
process gets exactly the settings its code reads, the files those settings name, and a command the
CLI accepts. Offline and without a database: schemas are vendored in tests/deploy/schemas/
(see refresh.py there); settings names come from the settings classes themselves."""

from __future__ import annotations

import importlib
import inspect
import json
import re
import shlex
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
import yaml

from services.cli import SERVICES, build_parser
from shared.events import TOPICS, dead_letter_topic
from shared.observability import Metrics
from shared.settings import ServiceSettings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = Path(__file__).parent / "schemas"
IMAGE = "zhengming"  # what the manifests name; kustomization.yaml maps it to the registry
KUSTOMIZATION = "kustomization.yaml"
EXAMPLE_SECRETS = "secrets.example.yaml"
PORT = 8080
ROLES = ("api", "consumer", "relay")
# Environment variables a Zhengming container may get besides settings: none. A variable the code
# does not read is a setting someone believes is in force and is not.
NON_SETTING_VARIABLES: frozenset[str] = frozenset()


# --- loading ---------------------------------------------------------------------------------------


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc is not None]


@cache
def compose() -> dict[str, Any]:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text(encoding="utf-8"))
    assert isinstance(doc, dict)
    return doc


def manifest_files() -> list[Path]:
    return sorted(p for p in K8S.glob("*.yaml") if p.name not in (KUSTOMIZATION, EXAMPLE_SECRETS))


@cache
def k8s_objects() -> tuple[tuple[str, dict[str, Any]], ...]:
    """(file name, object) for everything the kustomization applies."""
    return tuple((path.name, obj) for path in manifest_files() for obj in load_yaml_documents(path))


@cache
def example_secrets() -> dict[str, dict[str, str]]:
    return {obj["metadata"]["name"]: obj["stringData"] for obj in load_yaml_documents(K8S / EXAMPLE_SECRETS)}


def objects(kind: str) -> list[dict[str, Any]]:
    return [obj for _, obj in k8s_objects() if obj["kind"] == kind]


def by_name(kind: str, name: str) -> dict[str, Any]:
    found = [obj for obj in objects(kind) if obj["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


# --- schemas ---------------------------------------------------------------------------------------


@cache
def kubernetes_schemas() -> dict[str, Any]:
    bundle: dict[str, Any] = json.loads((SCHEMAS / "kubernetes-strict.json").read_text(encoding="utf-8"))
    return bundle


@cache
def kubernetes_validator(api_version: str, kind: str) -> Any:
    bundle = kubernetes_schemas()
    schema = bundle["kinds"].get(f"{api_version}/{kind}")
    assert schema is not None, (
        f"no vendored schema for {api_version} {kind}: add it to KINDS in tests/deploy/schemas/refresh.py")
    return jsonschema_rs.validator_for({**schema, "$defs": bundle["$defs"]})


def schema_errors(validator: Any, instance: Any) -> list[str]:
    return [f"{'/'.join(map(str, e.instance_path)) or '<root>'}: {e.message[:300]}"
            for e in validator.iter_errors(instance)]


def test_compose_file_matches_the_compose_specification() -> None:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text(encoding="utf-8"))
    assert schema_errors(jsonschema_rs.validator_for(schema), compose()) == []


@pytest.mark.parametrize(
    "source,obj", [pytest.param(f, o, id=f"{f}:{o.get('kind')}/{o.get('metadata', {}).get('name')}")
                   for f, o in k8s_objects()
                   + tuple((EXAMPLE_SECRETS, o) for o in load_yaml_documents(K8S / EXAMPLE_SECRETS))])
def test_kubernetes_object_matches_its_strict_schema(source: str, obj: dict[str, Any]) -> None:
    assert schema_errors(kubernetes_validator(obj["apiVersion"], obj["kind"]), obj) == []


def test_kustomization_applies_every_manifest_and_maps_the_one_image() -> None:
    kustomization = yaml.safe_load((K8S / KUSTOMIZATION).read_text(encoding="utf-8"))
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in manifest_files()]
    assert EXAMPLE_SECRETS not in kustomization["resources"]  # placeholders would overwrite real keys
    assert [image["name"] for image in kustomization["images"]] == [IMAGE]
    names = [(obj["kind"], obj["metadata"]["name"]) for _, obj in k8s_objects()]
    assert len(names) == len(set(names)), "two objects of one kind share a name"
    assert all("namespace" not in obj["metadata"] for _, obj in k8s_objects()), "the kustomization sets it"


# --- what runs where -------------------------------------------------------------------------------


@dataclass
class Process:
    """One container's view: its command, its environment and the files mounted into it."""

    where: str
    args: list[str]
    env: dict[str, str]
    files: set[str] = field(default_factory=set)
    port: int | None = None  # the port health checks and Services use

    @property
    def service(self) -> str:
        return self.args[1]

    @property
    def role(self) -> str:
        if self.args[0] == "migrate":
            return "migrate"
        return self.args[self.args.index("--role") + 1]


def compose_processes() -> list[Process]:
    out = []
    for name, svc in compose()["services"].items():
        if svc.get("build", {}).get("dockerfile") != "deploy/Dockerfile":
            continue
        assert "env_file" not in svc, f"{name}: settings go in `environment`, where this test sees them"
        # `${VAR:?message}` is filled from deploy/.env when compose runs.
        env = {key: re.sub(r"\$\{(\w+)(:\?[^}]*)?\}", "compose-variable", str(value))
               for key, value in (svc.get("environment") or {}).items()}
        files = set()
        for secret in svc.get("secrets", []):
            long_form = secret if isinstance(secret, dict) else {"source": secret}
            files.add(long_form.get("target") or f"/run/secrets/{long_form['source']}")
        port = None
        if "healthcheck" in svc:
            found = re.search(r"127\.0\.0\.1:(\d+)/readyz", " ".join(svc["healthcheck"]["test"]))
            port = int(found.group(1)) if found else None
        out.append(Process(f"compose service {name}", [str(a) for a in svc["command"]], env, files, port))
    return out


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{obj['kind']} {obj['metadata']['name']}", obj["spec"]["template"]["spec"])
            for obj in objects("Deployment") + objects("Job")]


def k8s_processes() -> list[Process]:
    config_maps = {obj["metadata"]["name"]: obj["data"] for obj in objects("ConfigMap")}
    out = []
    for where, pod in pod_specs():
        volumes = {v["name"]: v for v in pod.get("volumes", [])}
        for container in pod["containers"]:
            if container["image"] != IMAGE:
                continue
            env: dict[str, str] = {}
            for source in container.get("envFrom", []):
                if "configMapRef" in source:
                    env.update(config_maps.get(source["configMapRef"]["name"], {}))
                else:
                    env.update(example_secrets().get(source["secretRef"]["name"], {}))
            for var in container.get("env", []):
                if "value" in var:
                    env[var["name"]] = var["value"]
                else:  # test_example_secrets_... names a missing Secret or key
                    ref = var["valueFrom"]["secretKeyRef"]
                    env[var["name"]] = example_secrets().get(ref["name"], {}).get(ref["key"], "")
            files = set()
            for mount in container.get("volumeMounts", []):
                volume = volumes.get(mount["name"], {})
                source = volume.get("secret") or volume.get("configMap")
                for item in (source or {}).get("items", []):
                    files.add(str(PurePosixPath(mount["mountPath"]) / item["path"]))
            probe = container.get("readinessProbe", {}).get("httpGet", {}).get("port")
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            out.append(Process(f"{where} container {container['name']}", container["args"], env, files,
                               ports.get(probe, probe)))
    return out


PROCESSES = compose_processes() + k8s_processes()
ALL_PROCESSES = [pytest.param(p, id=p.where) for p in PROCESSES]


def settings_class(service: str) -> type[ServiceSettings]:
    entry = SERVICES[service]
    cls: type[ServiceSettings] = getattr(importlib.import_module(f"services.{service}.settings"),
                                         entry.settings_class)
    return cls


def readable_variables(service: str) -> set[str]:
    """Every environment variable the service's settings read: `<its prefix>X`, and the shared
    `ZM_X` for the same fields (ServiceSettings adds that second source)."""
    cls = settings_class(service)
    prefixes = {cls.model_config["env_prefix"], ServiceSettings.model_config["env_prefix"]}
    return {f"{prefix}{name}".upper() for prefix in prefixes for name in cls.model_fields}


def test_both_deployments_run_every_role_of_every_service() -> None:
    for processes in (compose_processes(), k8s_processes()):
        running = {(p.service, p.role) for p in processes}
        assert running == {(s, r) for s in SERVICES for r in (*ROLES, "migrate")}


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_command_is_one_the_cli_accepts(process: Process) -> None:
    args = build_parser().parse_args(process.args)
    assert args.service == ([process.service] if args.command == "migrate" else process.service)
    if args.command == "run":
        assert args.role in ROLES and args.port == PORT and args.host == "0.0.0.0"
        assert process.port == PORT, "health checks must ask the port the process listens on"


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_process_gets_only_settings_its_code_reads(process: Process) -> None:
    unread = set(process.env) - readable_variables(process.service) - NON_SETTING_VARIABLES
    assert not unread, f"{process.where}: {sorted(unread)} are read by no setting of {process.service}"


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_process_gets_every_setting_production_needs(process: Process, monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for name in [n for n in os.environ if n.upper().startswith("ZM_")]:
        monkeypatch.delenv(name)
    for name, value in process.env.items():
        monkeypatch.setenv(name, value)
    overrides = {} if process.role == "migrate" else {"role": process.role, "port": PORT}
    # Builds exactly as `zhengming run`/`migrate` does; refuses missing key files, SQLite, ...
    settings = SERVICES[process.service].settings(**overrides)
    assert settings.environment == "production"
    url = urlsplit(settings.database_url)
    assert url.scheme == "postgresql+asyncpg"
    assert url.path.lstrip("/") == process.service, "one database per service, named after it"
    for name in settings_class(process.service).model_fields:
        value = getattr(settings, name)
        if name.endswith("_file") and value is not None:
            assert str(value) in process.files, f"{process.where}: {name}={value} is not a mounted file"


@pytest.mark.parametrize("process", [pytest.param(p, id=p.where) for p in PROCESSES if p.service == "credit_blacklist"])
def test_credit_blacklist_reaches_intake_api(process: Process) -> None:
    url = urlsplit(process.env["ZM_CREDIT_BLACKLIST_INTAKE_URL"])
    if process.where.startswith("compose"):
        target = compose()["services"][url.hostname or ""]
        assert target["command"][:4] == ["run", "intake", "--role", "api"] and url.port == PORT
    else:
        service = by_name("Service", url.hostname or "")
        assert service["spec"]["selector"] == {"app.kubernetes.io/name": "intake", "app.kubernetes.io/component": "api"}
        assert url.port in [p["port"] for p in service["spec"]["ports"]]


def test_services_keep_to_their_own_database_and_share_the_rest() -> None:
    for processes in (compose_processes(), k8s_processes()):
        urls: dict[str, set[str]] = {}
        for p in processes:
            urls.setdefault(p.service, set()).update(v for k, v in p.env.items() if k.endswith("_DATABASE_URL"))
            assert p.env["ZM_KAFKA_PARTITIONS"] == processes[0].env["ZM_KAFKA_PARTITIONS"]
            assert p.env["ZM_KAFKA_BOOTSTRAP"] == processes[0].env["ZM_KAFKA_BOOTSTRAP"]
        assert all(len(u) == 1 for u in urls.values()), "every process of a service uses the same database"
        assert len({next(iter(u)) for u in urls.values()}) == len(SERVICES)


# --- Kubernetes: probes, scaling, disruption, isolation, secrets -------------------------------------


def labels_of(obj: dict[str, Any]) -> dict[str, str]:
    return dict(obj["spec"]["template"]["metadata"]["labels"])


def selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    for key, value in selector.get("matchLabels", {}).items():
        if labels.get(key) != value:
            return False
    for expr in selector.get("matchExpressions", []):
        if expr["operator"] == "In" and labels.get(expr["key"]) not in expr["values"]:
            return False
        if expr["operator"] == "NotIn" and labels.get(expr["key"]) in expr["values"]:
            return False
        if expr["operator"] == "Exists" and expr["key"] not in labels:
            return False
    return True


def test_every_deployment_is_probed_bounded_and_protected_from_disruption() -> None:
    pdbs = objects("PodDisruptionBudget")
    for deployment in objects("Deployment"):
        name, labels = deployment["metadata"]["name"], labels_of(deployment)
        assert selects(deployment["spec"]["selector"], labels)
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["readinessProbe"]["httpGet"]["path"] == "/readyz", name
        assert container["livenessProbe"]["httpGet"]["path"] == "/livez", name
        assert {"cpu", "memory"} <= set(container["resources"]["requests"]), name
        assert "memory" in container["resources"]["limits"], name
        covering = [p for p in pdbs if selects(p["spec"]["selector"], labels)]
        assert len(covering) == 1, f"{name}: {len(covering)} PodDisruptionBudgets"
        if labels["app.kubernetes.io/component"] == "relay":
            assert deployment["spec"]["replicas"] >= 2 and covering[0]["spec"]["minAvailable"] >= 1, \
                "a relay needs a hot standby and must keep one"


def test_every_api_has_a_service_and_an_autoscaler() -> None:
    for deployment in objects("Deployment"):
        labels = labels_of(deployment)
        if labels["app.kubernetes.io/component"] != "api":
            continue
        name = deployment["metadata"]["name"]
        hpa = [h for h in objects("HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == name]
        assert len(hpa) == 1 and hpa[0]["spec"]["scaleTargetRef"]["kind"] == "Deployment", name
        assert "replicas" not in deployment["spec"], f"{name}: the autoscaler owns the replica count"
        assert 2 <= hpa[0]["spec"]["minReplicas"] <= hpa[0]["spec"]["maxReplicas"]
        assert [s for s in objects("Service") if s["spec"]["selector"] == {
            k: labels[k] for k in ("app.kubernetes.io/name", "app.kubernetes.io/component")}], name


def pods_allowed_into(target: dict[str, str]) -> tuple[list[dict[str, str]], list[dict[str, Any]]]:
    """(labels of namespace pods, namespace selectors) that NetworkPolicies admit to `target` pods."""
    pods: list[dict[str, str]] = []
    namespaces: list[dict[str, Any]] = []
    policies = [p for p in objects("NetworkPolicy") if selects(p["spec"]["podSelector"], target)]
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            for peer in rule.get("from", [{}]):
                if "namespaceSelector" in peer:
                    namespaces.append(peer["namespaceSelector"])
                else:
                    pods.extend(labels_of(d) for d in objects("Deployment") + objects("Job")
                                if selects(peer.get("podSelector", {}), labels_of(d)))
    return pods, namespaces


def test_only_credit_blacklist_consumers_reach_intake_inside_the_namespace() -> None:
    default_deny = [p for p in objects("NetworkPolicy")
                    if p["spec"]["podSelector"] == {} and p["spec"].get("policyTypes") == ["Ingress"]
                    and not p["spec"].get("ingress")]
    assert default_deny, "ingress must be denied unless a policy allows it"
    intake_api = labels_of(by_name("Deployment", "zhengming-intake-api"))
    pods, namespaces = pods_allowed_into(intake_api)
    assert {(p["app.kubernetes.io/name"], p["app.kubernetes.io/component"]) for p in pods} == {
        ("credit-blacklist", "consumer")}
    assert all(ns.get("matchLabels") for ns in namespaces), "outside callers only from labelled namespaces"
    for deployment in objects("Deployment"):
        labels = labels_of(deployment)
        if labels["app.kubernetes.io/name"] != "intake":
            pods, _ = pods_allowed_into(labels)
            assert not pods, f"{deployment['metadata']['name']} is reachable from pods: services talk through Kafka"


def test_example_secrets_hold_every_secret_and_key_the_manifests_use() -> None:
    for where, pod in pod_specs():
        for volume in pod.get("volumes", []):
            if "secret" in volume:
                keys = [item["key"] for item in volume["secret"].get("items", [])]
                assert keys, f"{where}: mount named keys only, so a missing key stops the pod"
                assert set(keys) <= set(example_secrets()[volume["secret"]["secretName"]]), where
        for container in pod["containers"]:
            for var in container.get("env", []):
                ref = var.get("valueFrom", {}).get("secretKeyRef")
                if ref:
                    assert ref["key"] in example_secrets()[ref["name"]], where


# --- Kafka topics ----------------------------------------------------------------------------------


def consumed_topics() -> set[str]:
    """The topics some service's consumers subscribe to, read from their handler modules."""
    topics = set()
    for service in SERVICES:
        handlers = importlib.import_module(f"services.{service}.handlers")
        if hasattr(handlers, "consumers"):
            params = inspect.signature(handlers.consumers).parameters
            specs = handlers.consumers(**{name: None for name in params})  # only closures are built
        else:
            specs = handlers.CONSUMERS
        topics |= {spec.topic for spec in specs}
    return topics


def topic_jobs() -> list[tuple[str, dict[str, str], str, str]]:
    """(where, env, script, partitions) of the compose service and the Job that create topics."""
    svc = compose()["services"]["kafka-topics"]
    job = by_name("Job", "zhengming-kafka-topics")["spec"]["template"]["spec"]["containers"][0]
    config = by_name("ConfigMap", "zhengming-common")["data"]
    job_env = {**config, **{v["name"]: v["value"] for v in job["env"]}}
    return [
        ("compose", {k: str(v) for k, v in svc["environment"].items()}, svc["command"][2].replace("$$", "$"),
         compose_processes()[0].env["ZM_KAFKA_PARTITIONS"]),
        ("kubernetes", job_env, job["command"][2], k8s_processes()[0].env["ZM_KAFKA_PARTITIONS"]),
    ]


def test_topics_created_are_the_catalogs_with_dead_letter_topics_for_consumed_ones() -> None:
    expected = set(TOPICS) | {dead_letter_topic(t) for t in consumed_topics()}
    jobs = topic_jobs()
    for where, env, script, partitions in jobs:
        assert set(env["TOPICS"].split()) == expected, where
        assert env["ZM_KAFKA_PARTITIONS"] == partitions, f"{where}: topics and services disagree on partitions"
        assert "--partitions \"$ZM_KAFKA_PARTITIONS\"" in script and "--replication-factor \"$REPLICATION_FACTOR\"" \
            in script, where
        shlex.split(script.replace("\\\n", " "), comments=True)  # a quoting mistake raises here
    assert jobs[0][2] == jobs[1][2], "compose and Kubernetes create topics with the same script"
    assert jobs[0][1]["REPLICATION_FACTOR"] == "1"  # one broker
    assert int(jobs[1][1]["REPLICATION_FACTOR"]) == 3 and int(jobs[1][1]["MIN_INSYNC_REPLICAS"]) == 2
    assert compose()["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


# --- image, compose wiring, alerts --------------------------------------------------------------------


def test_image_is_multi_stage_non_root_and_runs_the_cli() -> None:
    text = (DEPLOY / "Dockerfile").read_text(encoding="utf-8")
    stages = re.split(r"(?m)^FROM ", text)[1:]
    assert len(stages) >= 2, "a build stage and a runtime stage"
    final = stages[-1]
    assert re.search(r"(?m)^COPY --from=build ", final)
    assert re.search(r"(?m)^USER 10001", final), "the runtime stage runs as a fixed non-root uid"
    assert not re.search(r"\b(build-essential|gcc|g\+\+|make|-dev)\b", final), "no build tools at run time"
    entrypoint = json.loads(re.search(r"(?m)^ENTRYPOINT (.+)$", final).group(1))  # type: ignore[union-attr]
    assert entrypoint[-1] == "zhengming"
    for line in re.findall(r"(?m)^COPY (?!--from)(.+)$", text):
        for source in [word for word in line.split() if not word.startswith("--")][:-1]:
            assert (ROOT / source).exists(), f"the Dockerfile copies {source}, which does not exist"


def test_compose_wiring_resolves() -> None:
    doc = compose()
    services = doc["services"]
    for name, svc in services.items():
        assert "image" in svc, name
        for dependency, condition in (svc.get("depends_on") or {}).items():
            assert dependency in services, f"{name} waits for unknown {dependency}"
            expected = "service_healthy" if "healthcheck" in services[dependency] else "service_completed_successfully"
            assert condition["condition"] == expected, f"{name} -> {dependency}"
        for secret in svc.get("secrets", []):
            assert (secret if isinstance(secret, str) else secret["source"]) in doc["secrets"], name
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            assert source in doc["volumes"] or (DEPLOY / source).exists(), f"{name}: {source}"
        if svc.get("restart") == "unless-stopped":
            assert "healthcheck" in svc, f"{name} runs for good and needs a health check"


def exported_metrics() -> set[str]:
    names = set()
    for family in Metrics("deploy-test").registry.collect():
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names


def test_alert_rules_use_only_metrics_the_code_exports() -> None:
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    exported = exported_metrics()
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            assert {"alert", "expr", "labels"} <= set(rule) and rule["labels"]["severity"] in ("warning", "critical")
            assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]
            used |= set(re.findall(r"\bzm_[a-z_]+", rule["expr"]))
    assert used and used <= exported, f"not exported: {sorted(used - exported)}"
    assert {"zm_outbox_backlog", "zm_consumer_lag", "zm_dlt_events_total"} <= used
