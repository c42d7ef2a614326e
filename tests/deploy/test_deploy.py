"""deploy/ as a platform team would apply it: every file parses and matches its schema, and every
process gets exactly the settings its code reads, the files those settings name, and a command the
CLI accepts. Every process logs in to Kafka over SASL_SSL as its own service's principal, whose ACLs
are exactly what the code needs: computed here from the event catalog's producers and the handlers'
consumers (with the audit-anchor consumer every service runs). Each service MACs its audit chain with
keys no other service mounts, and reaches the other services' APIs for their anchors. Offline and
without a database or broker: schemas are vendored in tests/deploy/schemas/ (see refresh.py there);
settings names come from the settings classes themselves. The Kubernetes objects checked are the ones
`kubectl apply -k deploy/k8s` applies, rendered by tests/deploy/kustomize.py (test_kustomize.py holds
that rendering to kustomize's and to the objects recorded in k8s-rendered.yaml)."""

from __future__ import annotations

import importlib
import inspect
import json
import os
import re
import shlex
import ssl
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

import jsonschema_rs
import pytest
import yaml

from services.cli import build_parser
from services.intake.notices import OVERDUE_GAUGE
from services.registry import SERVICES
from shared.events import ANY_SERVICE, CATALOG, SIGNING_SERVICES, TOPICS, dead_letter_topic
from shared.observability import Metrics
from shared.settings import ServiceSettings
from shared.workers import ANCHOR_CONSUMER, ConsumerSpec
from tests.deploy.kustomize import render

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
SCHEMAS = Path(__file__).parent / "schemas"
IMAGE = "zhengming"  # what the manifests name; kustomization.yaml maps it to the registry
KUSTOMIZATION = "kustomization.yaml"
OVERLAYS = K8S / "overlays"  # one a service: the base (deploy/k8s/base), named and filled in for it
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
    """The manifests of what all services share (each service's own objects are its overlay)."""
    return sorted(p for p in K8S.glob("*.yaml") if p.name not in (KUSTOMIZATION, EXAMPLE_SECRETS))


def kustomization(directory: Path) -> dict[str, Any]:
    doc = yaml.safe_load((directory / KUSTOMIZATION).read_text(encoding="utf-8"))
    assert isinstance(doc, dict) and doc.get("kind") == "Kustomization", directory
    return doc


@cache
def k8s_objects() -> tuple[dict[str, Any], ...]:
    """Everything `kubectl apply -k deploy/k8s` applies, as it applies it."""
    return tuple(render(K8S))


@cache
def release_image() -> str:
    """What the kustomization maps IMAGE to: the image every Zhengming container runs."""
    (image,) = kustomization(K8S)["images"]
    return f"{image['newName']}:{image['newTag']}"


@cache
def example_secrets() -> dict[str, dict[str, str]]:
    return {obj["metadata"]["name"]: obj["stringData"] for obj in load_yaml_documents(K8S / EXAMPLE_SECRETS)}


def objects(kind: str) -> list[dict[str, Any]]:
    return [obj for obj in k8s_objects() if obj["kind"] == kind]


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
                   for f, o in tuple(("rendered", o) for o in k8s_objects())
                   + tuple((EXAMPLE_SECRETS, o) for o in load_yaml_documents(K8S / EXAMPLE_SECRETS))])
def test_kubernetes_object_matches_its_strict_schema(source: str, obj: dict[str, Any]) -> None:
    assert schema_errors(kubernetes_validator(obj["apiVersion"], obj["kind"]), obj) == []


def test_kustomization_applies_every_manifest_and_maps_the_one_image() -> None:
    """deploy/k8s applies the shared manifests and one overlay of the base per service, puts
    everything into the one namespace and maps the one image every Zhengming container names."""
    top = kustomization(K8S)
    overlays = [f"overlays/{k8s_name(s)}" for s in SERVICES]
    assert sorted(top["resources"]) == sorted([p.name for p in manifest_files()] + overlays)
    assert sorted(p.name for p in OVERLAYS.iterdir()) == sorted(k8s_name(s) for s in SERVICES), "an unused overlay"
    for overlay in overlays:
        assert kustomization(K8S / overlay)["resources"] == ["../../base"], overlay
    assert EXAMPLE_SECRETS not in top["resources"]  # placeholders would overwrite real keys
    assert [image["name"] for image in top["images"]] == [IMAGE]
    names = [(obj["kind"], obj["metadata"]["name"]) for obj in k8s_objects()]
    assert len(names) == len(set(names)), "two objects of one kind share a name"
    (namespace,) = objects("Namespace")
    assert namespace["metadata"]["name"] == top["namespace"]
    assert all(obj["metadata"].get("namespace") == top["namespace"] for obj in k8s_objects() if obj is not namespace)
    images = {c["image"] for _, pod in pod_specs() for c in pod["containers"]}
    assert release_image() in images and IMAGE not in images, "every Zhengming container runs the release image"


# --- what runs where -------------------------------------------------------------------------------


@dataclass
class Process:
    """One container's view: its command, its environment and the files mounted into it."""

    where: str
    args: list[str]
    env: dict[str, str]
    files: set[str] = field(default_factory=set)
    port: int | None = None  # the port health checks and Services use
    # Mounted file -> the secret (compose) or Secret/ConfigMap (Kubernetes) it comes from.
    sources: dict[str, str] = field(default_factory=dict)

    @property
    def service(self) -> str:
        return self.args[1]

    @property
    def role(self) -> str:
        if self.args[0] == "migrate":
            return "migrate"
        return self.args[self.args.index("--role") + 1]


def compose_sources(svc: dict[str, Any]) -> dict[str, str]:
    """Mounted file -> compose secret, for one compose service."""
    sources = {}
    for secret in svc.get("secrets", []):
        long_form = secret if isinstance(secret, dict) else {"source": secret}
        sources[long_form.get("target") or f"/run/secrets/{long_form['source']}"] = long_form["source"]
    return sources


def k8s_sources(pod: dict[str, Any], container: dict[str, Any]) -> dict[str, str]:
    """Mounted file -> the Secret or ConfigMap it comes from, for one container."""
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    sources = {}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        source = volume.get("secret") or volume.get("configMap") or {}
        for item in source.get("items", []):
            sources[str(PurePosixPath(mount["mountPath"]) / item["path"])] = (
                source.get("secretName") or source.get("name", ""))
    return sources


def compose_processes() -> list[Process]:
    out = []
    for name, svc in compose()["services"].items():
        if svc.get("build", {}).get("dockerfile") != "deploy/Dockerfile":
            continue
        assert "env_file" not in svc, f"{name}: settings go in `environment`, where this test sees them"
        # `${VAR:?message}` is filled from deploy/.env when compose runs.
        env = {key: re.sub(r"\$\{(\w+)(:\?[^}]*)?\}", "compose-variable", str(value))
               for key, value in (svc.get("environment") or {}).items()}
        sources = compose_sources(svc)
        port = None
        if "healthcheck" in svc:
            found = re.search(r"127\.0\.0\.1:(\d+)/readyz", " ".join(svc["healthcheck"]["test"]))
            port = int(found.group(1)) if found else None
        out.append(Process(f"compose service {name}", [str(a) for a in svc["command"]], env, set(sources), port,
                           sources))
    return out


def pod_specs() -> list[tuple[str, dict[str, Any]]]:
    return [(f"{obj['kind']} {obj['metadata']['name']}", obj["spec"]["template"]["spec"])
            for obj in objects("Deployment") + objects("Job")]


def k8s_processes() -> list[Process]:
    config_maps = {obj["metadata"]["name"]: obj["data"] for obj in objects("ConfigMap")}
    out = []
    for where, pod in pod_specs():
        for container in pod["containers"]:
            if container["image"] != release_image():
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
            sources = k8s_sources(pod, container)
            probe = container.get("readinessProbe", {}).get("httpGet", {}).get("port")
            ports = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
            out.append(Process(f"{where} container {container['name']}", container["args"], env, set(sources),
                               ports.get(probe, probe), sources))
    return out


PROCESSES = compose_processes() + k8s_processes()
ALL_PROCESSES = [pytest.param(p, id=p.where) for p in PROCESSES]


def settings_class(service: str) -> type[ServiceSettings]:
    cls: type[ServiceSettings] = SERVICES[service].settings_class
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


@contextmanager
def environment(env: dict[str, str]) -> Iterator[None]:
    """Only `env` among the ZM_* variables, for the duration."""
    saved = {name: value for name, value in os.environ.items() if name.upper().startswith("ZM_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(env)
    try:
        yield
    finally:
        for name in env:
            os.environ.pop(name, None)
        os.environ.update(saved)


def settings_of(process: Process) -> ServiceSettings:
    """The process's settings, built exactly as `zhengming run`/`migrate` builds them: this refuses
    missing key files, SQLite, a plaintext broker in production, ..."""
    overrides = {} if process.role == "migrate" else {"role": process.role, "port": PORT}
    with environment(process.env):
        return SERVICES[process.service].settings(**overrides)


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_process_gets_every_setting_production_needs(process: Process) -> None:
    settings = settings_of(process)
    assert settings.environment == "production"
    url = urlsplit(settings.database_url)
    assert url.scheme == "postgresql+asyncpg"
    assert url.path.lstrip("/") == process.service, "one database per service, named after it"
    for name in settings_class(process.service).model_fields:
        value = getattr(settings, name)
        if name.endswith("_file") and value is not None:
            assert str(value) in process.files, f"{process.where}: {name}={value} is not a mounted file"
    assert settings.signing_key_file is not None and settings.event_trust_file is not None
    assert settings.audit_keys_file is not None


def deployments() -> list[tuple[str, list[Process]]]:
    return [("compose", compose_processes()), ("kubernetes", k8s_processes())]


def mounted_by(processes: list[Process]) -> dict[str, set[str]]:
    """secret (or Secret) -> the services whose processes mount it."""
    out: dict[str, set[str]] = {}
    for p in processes:
        for source in p.sources.values():
            out.setdefault(source, set()).add(p.service)
    return out


@pytest.mark.parametrize("deployment,processes", [pytest.param(d, ps, id=d) for d, ps in deployments()])
def test_every_process_logs_in_to_kafka_as_its_own_service(deployment: str, processes: list[Process]) -> None:
    """SASL_SSL (SCRAM-SHA-512 over TLS checked against the mounted CA) as the service's own
    principal, with a password file, a signing key and audit MAC keys that no other service's pod
    mounts (one service's audit key must not let anyone rechain another's audit trail)."""
    owners = mounted_by(processes)
    usernames: dict[str, set[str]] = {}
    for p in processes:
        settings = settings_of(p)
        assert settings.kafka_security_protocol == "SASL_SSL", p.where
        assert settings.kafka_sasl_mechanism == "SCRAM-SHA-512", p.where
        assert settings.kafka_sasl_username, p.where
        usernames.setdefault(p.service, set()).add(settings.kafka_sasl_username)
        for name in ("kafka_sasl_password_file", "kafka_ssl_cafile", "signing_key_file", "event_trust_file",
                     "audit_keys_file"):
            path = str(getattr(settings, name))
            assert path in p.files, f"{p.where}: {name}={path} is not a mounted file"
        for name in ("kafka_sasl_password_file", "signing_key_file", "audit_keys_file"):
            source = p.sources[str(getattr(settings, name))]
            assert owners[source] == {p.service}, f"{p.where}: {name} comes from {source}, mounted by {owners[source]}"
        for name in ("kafka_ssl_cafile", "event_trust_file"):
            source = p.sources[str(getattr(settings, name))]
            assert owners[source] == set(SERVICES), f"{deployment}: every service reads the same {name}"
    assert all(len(u) == 1 for u in usernames.values()), f"{deployment}: one principal per service: {usernames}"
    assert len({next(iter(u)) for u in usernames.values()}) == len(SERVICES), f"{deployment}: shared principal"


def k8s_name(service: str) -> str:
    """The service's `app.kubernetes.io/name` (Kubernetes names cannot hold `_`)."""
    return service.replace("_", "-")


def assert_reaches_api(process: Process, url_text: str, service: str) -> None:
    """`url_text`, as `process` dials it, is `service`'s API: its compose container or its Service."""
    url = urlsplit(url_text)
    assert url.scheme == "http" and url.path in ("", "/"), f"{process.where}: {url_text}"
    if process.where.startswith("compose"):
        target = compose()["services"][url.hostname or ""]
        assert target["command"][:4] == ["run", service, "--role", "api"] and url.port == PORT, \
            f"{process.where}: {url_text} is not {service}'s API"
    else:
        found = by_name("Service", url.hostname or "")
        assert found["spec"]["selector"] == {"app.kubernetes.io/name": k8s_name(service),
                                             "app.kubernetes.io/component": "api"}, \
            f"{process.where}: {url_text} is not {service}'s API"
        assert url.port in [p["port"] for p in found["spec"]["ports"]]


@pytest.mark.parametrize("process", [pytest.param(p, id=p.where) for p in PROCESSES if p.service == "credit_blacklist"])
def test_credit_blacklist_reaches_intake_api(process: Process) -> None:
    assert_reaches_api(process, process.env["ZM_CREDIT_BLACKLIST_INTAKE_URL"], "intake")


@pytest.mark.parametrize("process", ALL_PROCESSES)
def test_audit_peers_are_the_other_services_apis(process: Process) -> None:
    """`GET /v1/audit/verify` asks every other service for the anchors of this service's chain it
    kept: each must be named, at its API as this process dials it (not the loopback default)."""
    peers = settings_of(process).audit_peer_urls
    assert set(peers) == set(SERVICES) - {process.service}, f"{process.where}: {sorted(peers)}"
    for peer, url in peers.items():
        assert_reaches_api(process, url, peer)


def test_services_keep_to_their_own_database_and_share_the_rest() -> None:
    for processes in (compose_processes(), k8s_processes()):
        urls: dict[str, set[str]] = {}
        for p in processes:
            urls.setdefault(p.service, set()).update(v for k, v in p.env.items() if k.endswith("_DATABASE_URL"))
            for shared in ("ZM_KAFKA_PARTITIONS", "ZM_KAFKA_BOOTSTRAP", "ZM_KAFKA_SECURITY_PROTOCOL",
                           "ZM_KAFKA_SSL_CAFILE", "ZM_EVENT_TRUST_FILE", "ZM_AUDIT_PEERS"):
                assert p.env[shared] == processes[0].env[shared], f"{p.where}: {shared}"
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


def test_inside_the_namespace_only_the_identity_call_and_the_anchor_questions_are_allowed() -> None:
    """Three kinds of connection between pods: credit_blacklist's consumers to intake's API (the
    reporter identity), intake's consumers to verification's and credit_blacklist's APIs (retention
    holds), and each service's API to every other service's API (`/v1/audit/verify`
    asks them for its anchors). Not an API to its own service's API; nothing to consumers or relays."""
    default_deny = [p for p in objects("NetworkPolicy")
                    if p["spec"]["podSelector"] == {} and p["spec"].get("policyTypes") == ["Ingress"]
                    and not p["spec"].get("ingress")]
    assert default_deny, "ingress must be denied unless a policy allows it"
    for deployment in objects("Deployment"):
        labels = labels_of(deployment)
        name, component = labels["app.kubernetes.io/name"], labels["app.kubernetes.io/component"]
        pods, namespaces = pods_allowed_into(labels)
        expected: set[tuple[str, str]] = set()
        if component == "api":
            expected = {(k8s_name(s), "api") for s in SERVICES if k8s_name(s) != name}
            if name == "intake":
                expected.add(("credit-blacklist", "consumer"))
            if name in ("verification", "credit-blacklist"):
                expected.add(("intake", "consumer"))  # the retention sweeper's hold questions
        allowed = {(p["app.kubernetes.io/name"], p["app.kubernetes.io/component"]) for p in pods}
        assert allowed == expected, f"{deployment['metadata']['name']}: reachable from {sorted(allowed)}"
        assert all(ns.get("matchLabels") for ns in namespaces), "outside callers only from labelled namespaces"
    for policy in objects("NetworkPolicy"):
        for rule in policy["spec"].get("ingress", []):
            assert [p["port"] for p in rule.get("ports", [])] == [PORT], policy["metadata"]["name"]


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


# --- Kafka: topics, the broker's listeners, principals and ACLs -----------------------------------------


@cache
def consumer_specs(service: str) -> tuple[ConsumerSpec, ...]:
    """The consumers a service runs: its handlers module's, and the audit-anchor consumer that
    `start_workers` adds to every service's own (shared.workers.ANCHOR_CONSUMER)."""
    handlers = importlib.import_module(f"services.{service}.handlers")
    if hasattr(handlers, "consumers"):
        params = inspect.signature(handlers.consumers).parameters
        specs = handlers.consumers(**{name: None for name in params})  # only closures are built
    else:
        specs = handlers.CONSUMERS
    return (*specs, ANCHOR_CONSUMER)


def consumed_by(service: str) -> frozenset[str]:
    """The topics a service's consumers subscribe to."""
    return frozenset(spec.topic for spec in consumer_specs(service))


def groups_of(service: str, base: str) -> frozenset[str]:
    """The consumer groups a service's consumers join: `<base><suffix>`, base being its name."""
    return frozenset(f"{base}{spec.subscriber_suffix}" for spec in consumer_specs(service))


def consumed_topics() -> set[str]:
    return set().union(*(consumed_by(service) for service in SERVICES))


def produced_by(service: str) -> set[str]:
    """The topics of the event types the catalog names `service` the producer of, and of the types
    every signing service produces about itself (producer ANY_SERVICE: the audit anchors)."""
    assert service in SIGNING_SERVICES, f"{service} signs no events"
    return {cls.topic for cls in CATALOG.values() if cls.producer in (service, ANY_SERVICE)}


@dataclass
class KafkaJob:
    """A container that runs the Kafka tools (the apache/kafka image) against the broker."""

    where: str
    env: dict[str, str]
    script: str
    sources: dict[str, str]  # mounted file -> secret


def compose_kafka_job(name: str) -> KafkaJob:
    svc = compose()["services"][name]
    return KafkaJob(f"compose service {name}", {k: str(v) for k, v in svc["environment"].items()},
                    svc["command"][2].replace("$$", "$"), compose_sources(svc))


def k8s_kafka_job(name: str) -> KafkaJob:
    pod = by_name("Job", name)["spec"]["template"]["spec"]
    container = pod["containers"][0]
    config_maps = {obj["metadata"]["name"]: obj["data"] for obj in objects("ConfigMap")}
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(config_maps[source["configMapRef"]["name"]])
    env.update({v["name"]: v["value"] for v in container["env"]})
    return KafkaJob(f"Job {name}", env, container["command"][2], k8s_sources(pod, container))


def kafka_jobs() -> list[KafkaJob]:
    return [compose_kafka_job(n) for n in ("kafka-topics", "kafka-users", "kafka-acls")] + [
        k8s_kafka_job(n) for n in ("zhengming-kafka-topics", "zhengming-kafka-acls")]


def test_topics_created_are_the_catalogs_with_dead_letter_topics_for_consumed_ones() -> None:
    expected = set(TOPICS) | {dead_letter_topic(t) for t in consumed_topics()}
    assert {ANCHOR_CONSUMER.topic, dead_letter_topic(ANCHOR_CONSUMER.topic)} <= expected
    jobs = [(compose_kafka_job("kafka-topics"), compose_processes()[0]),
            (k8s_kafka_job("zhengming-kafka-topics"), k8s_processes()[0])]
    for job, process in jobs:
        assert set(job.env["TOPICS"].split()) == expected, job.where
        assert job.env["ZM_KAFKA_PARTITIONS"] == process.env["ZM_KAFKA_PARTITIONS"], \
            f"{job.where}: topics and services disagree on partitions"
        assert job.env["ZM_KAFKA_BOOTSTRAP"] == process.env["ZM_KAFKA_BOOTSTRAP"], job.where
        assert "--partitions \"$ZM_KAFKA_PARTITIONS\"" in job.script and \
            "--replication-factor \"$REPLICATION_FACTOR\"" in job.script, job.where
        shlex.split(job.script.replace("\\\n", " "), comments=True)  # a quoting mistake raises here
    (compose_job, _), (k8s_job, _) = jobs
    assert compose_job.script == k8s_job.script, "compose and Kubernetes create topics with the same script"
    assert compose_job.env["REPLICATION_FACTOR"] == "1"  # one broker
    assert int(k8s_job.env["REPLICATION_FACTOR"]) == 3 and int(k8s_job.env["MIN_INSYNC_REPLICAS"]) == 2
    assert compose()["services"]["kafka"]["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


@pytest.mark.parametrize("job", [pytest.param(j, id=j.where) for j in kafka_jobs()])
def test_kafka_jobs_log_in_as_the_admin_over_tls(job: KafkaJob) -> None:
    """Topics, users and ACLs are the admin's work: every Kafka tool the job runs gets the admin's
    client properties (SASL_SSL), which are mounted, from the admin's secret, with the CA they name."""
    tools = re.findall(r"/opt/kafka/bin/kafka-[a-z-]+\.sh", job.script)
    assert tools and len(tools) == len(re.findall(r'--command-config "?\$ADMIN_CONFIG"?', job.script)), job.where
    config = job.env["ADMIN_CONFIG"]
    assert config in job.sources, f"{job.where}: ADMIN_CONFIG={config} is not mounted"
    if job.where.startswith("compose"):
        assert job.sources[config] == "kafka_admin_client"
        assert "kafka_ca" in job.sources.values()  # the properties name it: see the make-dev-secrets test
    else:
        assert job.sources[config] == "zhengming-kafka-admin"
        properties = dict(line.split("=", 1) for line in example_secrets()["zhengming-kafka-admin"][
            "client.properties"].splitlines() if "=" in line)
        assert properties["security.protocol"] == "SASL_SSL"
        assert properties["ssl.truststore.location"] in job.sources, f"{job.where}: the CA file is not mounted"
        assert job.sources[properties["ssl.truststore.location"]] == "zhengming-kafka-ca"
    shlex.split(job.script.replace("\\\n", " "), comments=True)


def listeners(value: str) -> dict[str, tuple[str, int]]:
    """`NAME://host:port,...` -> {NAME: (host, port)}."""
    out = {}
    for item in value.split(","):
        name, _, address = item.partition("://")
        host, _, port = address.rpartition(":")
        out[name] = (host, int(port))
    return out


def test_broker_takes_clients_only_on_sasl_ssl_and_refuses_what_no_acl_allows() -> None:
    kafka = compose()["services"]["kafka"]
    env = {k: str(v) for k, v in kafka["environment"].items()}
    protocols = dict(item.split(":") for item in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
    bound, advertised = listeners(env["KAFKA_LISTENERS"]), listeners(env["KAFKA_ADVERTISED_LISTENERS"])
    host, _, port = compose_processes()[0].env["ZM_KAFKA_BOOTSTRAP"].partition(":")
    dialled = [name for name, address in advertised.items() if address == (host, int(port))]
    assert len(dialled) == 1, "the services' bootstrap address is one advertised listener"
    client = dialled[0]
    assert protocols[client] == "SASL_SSL", "clients reach the broker over TLS and log in"
    mechanisms = env[f"KAFKA_LISTENER_NAME_{client.replace('_', '__')}_SASL_ENABLED_MECHANISMS"].split(",")
    assert {settings_of(p).kafka_sasl_mechanism for p in compose_processes()} <= set(mechanisms)
    for name, (bind_host, _) in bound.items():
        assert protocols[name] in ("SASL_SSL", "SASL_PLAINTEXT"), f"listener {name} lets clients in unauthenticated"
        if protocols[name] != "SASL_SSL":
            assert bind_host == "127.0.0.1", f"listener {name} is unencrypted: loopback only"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] in bound
    assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
    assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
    service_principals = {f"User:{settings_of(p).kafka_sasl_username}" for p in compose_processes()}
    assert env["KAFKA_SUPER_USERS"] == "User:admin" and "User:admin" not in service_principals
    # What the broker and the image's start script read is mounted.
    files = compose_sources(kafka)
    for name in ("KAFKA_SSL_KEYSTORE_FILENAME", "KAFKA_SSL_KEYSTORE_CREDENTIALS", "KAFKA_SSL_KEY_CREDENTIALS"):
        assert f"/etc/kafka/secrets/{env[name]}" in files, name
    jaas = re.search(r"-Djava\.security\.auth\.login\.config=(\S+)", env["KAFKA_OPTS"])
    assert jaas and jaas.group(1) in files
    assert env["KAFKA_SSL_TRUSTSTORE_LOCATION"] in files
    assert {files[env["KAFKA_SSL_TRUSTSTORE_LOCATION"]]} == {
        p.sources[str(settings_of(p).kafka_ssl_cafile)] for p in compose_processes()}, "one CA for all"
    health = " ".join(kafka["healthcheck"]["test"])
    config = re.search(r"--command-config (\S+)", health)
    assert config and config.group(1) in files, "the health check logs in too"


ACL_LINE = re.compile(r"(\S+) (Read|Write|Describe) (topic|group) (\S+)")
Acl = tuple[str, str, str, str]  # principal, operation, resource type, name


def granted(job: KafkaJob) -> list[Acl]:
    out = []
    for line in job.env["ACLS"].splitlines():
        if line.strip():
            found = ACL_LINE.fullmatch(line.strip())
            assert found, f"{job.where}: not `principal operation resource name`: {line!r}"
            out.append((found[1], found[2], found[3], found[4]))
    return out


def acls_needed(service: str, principal: str, group: str) -> set[Acl]:
    """What the service's code does with the broker: its relay writes the topics it produces and
    its consumers' dead letters (`<consumed topic>.DLT`, through its own outbox); its consumers read
    what they consume in the groups named after the service (`<service>` and `<service>.audit`);
    both list these topics first."""
    writes = produced_by(service) | {dead_letter_topic(t) for t in consumed_by(service)}
    reads = set(consumed_by(service))
    acls = {(principal, "Write", "topic", t) for t in writes} | {(principal, "Read", "topic", t) for t in reads}
    acls |= {(principal, "Describe", "topic", t) for t in writes | reads}
    acls |= {(principal, "Read", "group", g) for g in groups_of(service, group)}
    return acls


@pytest.mark.parametrize("deployment,processes", [pytest.param(d, ps, id=d) for d, ps in deployments()])
def test_each_service_has_exactly_the_acls_its_code_needs(deployment: str, processes: list[Process]) -> None:
    job = compose_kafka_job("kafka-acls") if deployment == "compose" else k8s_kafka_job("zhengming-kafka-acls")
    lines = granted(job)
    assert len(lines) == len(set(lines)), "a repeated line would fail the job's own count of each principal's ACLs"
    principal_of = {p.service: settings_of(p).kafka_sasl_username for p in processes}
    group_of = {p.service: settings_of(p).service_name for p in processes}
    service_of = {principal: service for service, principal in principal_of.items()}
    producer_of = {cls.topic: cls.producer for cls in CATALOG.values()}
    # Readable failures first: nobody writes what another service produces.
    for principal, operation, resource, name in lines:
        assert principal in service_of, f"{job.where}: User:{principal} is no service's principal"
        service = service_of[principal]
        if operation == "Write" and name in producer_of:
            assert producer_of[name] in (service, ANY_SERVICE), \
                f"User:{principal} may write {name}, which {producer_of[name]} produces"
        if operation == "Write" and name.endswith(".DLT"):
            assert name in {dead_letter_topic(t) for t in consumed_by(service)}, f"User:{principal} writes {name}"
        if resource == "group":
            assert operation == "Read" and name in groups_of(service, group_of[service]), \
                f"User:{principal}: {operation} group {name}"
    # Every service publishes anchors of its own chain and keeps everyone's, in a group of its own.
    anchors = ANCHOR_CONSUMER.topic
    for service in SERVICES:
        principal = principal_of[service]
        assert {(principal, "Write", "topic", anchors), (principal, "Read", "topic", anchors),
                (principal, "Write", "topic", dead_letter_topic(anchors)),
                (principal, "Read", "group", f"{group_of[service]}.audit")} <= set(lines), f"{service}: anchors"
    expected = set().union(*(acls_needed(s, principal_of[s], group_of[s]) for s in SERVICES))
    assert set(lines) == expected, (f"{job.where}: missing {sorted(expected - set(lines))}, "
                                    f"not needed {sorted(set(lines) - expected)}")
    for service in SERVICES:
        assert any(acl[0] == principal_of[service] for acl in lines), f"{service} has no ACLs"


def test_acl_jobs_grant_the_same_lines_and_fail_on_any_other_acl() -> None:
    compose_job, k8s_job = compose_kafka_job("kafka-acls"), k8s_kafka_job("zhengming-kafka-acls")
    assert compose_job.script == k8s_job.script, "compose and Kubernetes set ACLs with the same script"
    assert granted(compose_job) == granted(k8s_job)
    script = compose_job.script
    assert '--add --allow-principal "User:$principal"' in script
    # After granting, each principal's ACL count must equal its lines, and User:* must hold none.
    assert '--list --principal "User:$principal"' in script and "'*'" in script and "exit $status" in script
    assert "--deny-principal" not in script and "--resource-pattern-type prefixed" not in script


def test_compose_creates_each_services_scram_user_from_the_password_file_it_mounts() -> None:
    job = compose_kafka_job("kafka-users")
    processes = compose_processes()
    principals = {settings_of(p).kafka_sasl_username for p in processes}
    assert set(job.env["PRINCIPALS"].split()) == principals
    assert {acl[0] for acl in granted(compose_kafka_job("kafka-acls"))} == principals
    found = re.search(r'cat "(\S*)\$\{user\}(\S*)"', job.script)
    assert found, "the job reads each user's password from a file named after the user"
    mechanisms = {settings_of(p).kafka_sasl_mechanism for p in processes}
    assert [f"{m}=[password=" for m in mechanisms] == re.findall(r"SCRAM-SHA-\d+=\[password=", job.script)
    for p in processes:
        settings = settings_of(p)
        path = f"{found[1]}{settings.kafka_sasl_username}{found[2]}"
        assert job.sources.get(path) == p.sources[str(settings.kafka_sasl_password_file)], \
            f"{p.where}: logs in with another password than kafka-users sets for User:{settings.kafka_sasl_username}"


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


def test_services_start_once_the_broker_knows_them() -> None:
    """Topics, SCRAM users and ACLs exist before any API, consumer or relay starts."""
    services = compose()["services"]
    for job in ("kafka-topics", "kafka-users", "kafka-acls"):
        assert services[job]["depends_on"] == {"kafka": {"condition": "service_healthy"}}, job
    for p in compose_processes():
        if p.role == "migrate":
            continue
        name = p.where.removeprefix("compose service ")
        for job in ("kafka-topics", "kafka-users", "kafka-acls"):
            assert services[name]["depends_on"].get(job) == {"condition": "service_completed_successfully"}, name


@pytest.fixture(scope="module")
def dev_secrets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """make-dev-secrets.sh run for real (this venv's Python instead of the image) into a temporary folder."""
    out = tmp_path_factory.mktemp("dev-secrets")
    run_make_dev_secrets(out)
    return out


def run_make_dev_secrets(out: Path) -> str:
    env = {**os.environ, "PYTHON": sys.executable, "SECRETS_DIR": str(out / "secrets"), "ENV_FILE": str(out / ".env")}
    done = subprocess.run(["sh", str(DEPLOY / "make-dev-secrets.sh")], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_make_dev_secrets_writes_every_file_compose_mounts(dev_secrets: Path) -> None:
    written = {p.name for p in (dev_secrets / "secrets").iterdir()}
    for name, secret in compose()["secrets"].items():
        assert PurePosixPath(secret["file"]).parent == PurePosixPath("secrets"), name
        assert PurePosixPath(secret["file"]).name in written, f"{name}: make-dev-secrets.sh does not write it"
    private = {"jwt-private.pem", "kafka-ca-key.pem", "kafka-admin-password"}
    mounted = {PurePosixPath(s["file"]).name for s in compose()["secrets"].values()}
    assert not private & mounted, "private keys and the admin password are mounted nowhere"
    for path in (dev_secrets / "secrets").iterdir():
        assert path.stat().st_mode & 0o777 == (0o600 if path.name in private else 0o644), path.name
    assert not [n for n in written if "token" in n], "no service token any more: services sign their own credentials"
    env = dict(line.split("=", 1) for line in (dev_secrets / ".env").read_text().splitlines()
               if line and not line.startswith("#"))
    assert env["ZM_PG_INTAKE_PASSWORD"] == (dev_secrets / "secrets" / "pg-intake-password").read_text()


def test_make_dev_secrets_keeps_what_exists_and_trusts_a_new_key_beside_the_old(dev_secrets: Path,
                                                                               tmp_path: Path) -> None:
    import importlib.util
    import shutil

    spec = importlib.util.spec_from_file_location("dev_secrets", DEPLOY / "dev_secrets.py")
    assert spec is not None and spec.loader is not None
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)  # what make-dev-secrets.sh runs, here in-process (faster)
    out = tmp_path / "again"
    shutil.copytree(dev_secrets / "secrets", out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    generator.main(out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before, "a second run changes nothing"
    # A service's key made anew (rotation): the trust file keeps the old key, replays may need it.
    (out / "signing-intake.pem").unlink()
    generator.main(out)
    trust = json.loads((out / "event-trust.json").read_text())
    old = json.loads(before["event-trust.json"])
    assert trust["intake"][0] == old["intake"][0] and len(trust["intake"]) == 2
    assert {s: k for s, k in trust.items() if s != "intake"} == {s: k for s, k in old.items() if s != "intake"}


def test_dev_admin_login_is_what_the_broker_knows_and_names_a_mounted_ca(dev_secrets: Path) -> None:
    secrets_dir = dev_secrets / "secrets"
    password = (secrets_dir / "kafka-admin-password").read_text().strip()
    jaas = (secrets_dir / "kafka-server-jaas.conf").read_text()
    assert f'user_admin="{password}"' in jaas and "ScramLoginModule" in jaas
    properties = dict(line.split("=", 1) for line in (secrets_dir / "kafka-admin.properties").read_text().splitlines()
                      if "=" in line and not line.startswith("#"))
    assert properties["security.protocol"] == "SASL_SSL" and f'password="{password}"' in properties["sasl.jaas.config"]
    for name, svc in compose()["services"].items():
        sources = compose_sources(svc)
        if "kafka_admin_client" in sources.values():
            assert sources.get(properties["ssl.truststore.location"]) == "kafka_ca", f"{name}: CA not mounted there"


def test_dev_trust_file_holds_each_services_signing_key(dev_secrets: Path) -> None:
    from shared.signing import EventTrust, ServiceKey

    secrets_dir = dev_secrets / "secrets"
    trust = json.loads((secrets_dir / "event-trust.json").read_text())
    assert set(trust) == set(SERVICES)
    files = {name: PurePosixPath(s["file"]).name for name, s in compose()["secrets"].items()}
    for p in compose_processes():
        settings = settings_of(p)
        key_file = secrets_dir / files[p.sources[str(settings.signing_key_file)]]
        assert trust[p.service] == [ServiceKey.from_file(p.service, key_file).public_pem()], p.where
        assert files[p.sources[str(settings.event_trust_file)]] == "event-trust.json"
    EventTrust.from_file(secrets_dir / "event-trust.json", {t: cls.producer for t, cls in CATALOG.items()})


def test_dev_audit_keys_are_each_services_own(dev_secrets: Path) -> None:
    """Every service MACs its audit chain with a key file of its own (what the code reads, 32+
    bytes, an active key among them), none sharing a key with another service."""
    from shared.audit import AuditKeys

    secrets_dir = dev_secrets / "secrets"
    files = {name: PurePosixPath(s["file"]).name for name, s in compose()["secrets"].items()}
    file_of: dict[str, set[str]] = {}
    for p in compose_processes():
        file_of.setdefault(p.service, set()).add(files[p.sources[str(settings_of(p).audit_keys_file)]])
    assert set(file_of) == set(SERVICES) and all(len(f) == 1 for f in file_of.values()), file_of
    key_bytes: dict[str, set[str]] = {}
    for service, (name,) in ((s, tuple(f)) for s, f in file_of.items()):
        AuditKeys.from_file(secrets_dir / name)  # raises on a short key or an active id not among the keys
        key_bytes[service] = set(json.loads((secrets_dir / name).read_text())["keys"].values())
    every = [k for keys in key_bytes.values() for k in keys]
    assert len(every) == len(set(every)), "two services share an audit key"


def test_dev_broker_certificate_passes_the_services_tls_check(dev_secrets: Path, tmp_path: Path) -> None:
    """What kafka-python does (ssl_check_hostname, the CA file) against the broker's keystore, in memory."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.serialization import pkcs12

    secrets_dir = dev_secrets / "secrets"
    password = (secrets_dir / "kafka-broker-keystore-password").read_bytes().strip()
    key, cert, chain = pkcs12.load_key_and_certificates((secrets_dir / "kafka-broker.p12").read_bytes(), password)
    assert key is not None and cert is not None
    pem = cert.public_bytes(serialization.Encoding.PEM) + b"".join(
        c.public_bytes(serialization.Encoding.PEM) for c in chain)
    (tmp_path / "broker.pem").write_bytes(pem)
    (tmp_path / "broker-key.pem").write_bytes(key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(tmp_path / "broker.pem", tmp_path / "broker-key.pem")
    client = ssl.create_default_context(cafile=str(secrets_dir / "kafka-ca.pem"))
    client.verify_flags |= ssl.VERIFY_X509_STRICT
    host = compose_processes()[0].env["ZM_KAFKA_BOOTSTRAP"].partition(":")[0]
    for name in (host, "localhost"):  # what the services dial; the broker's own health check
        tls_handshake(client, server, name)
    with pytest.raises(ssl.SSLCertVerificationError):
        tls_handshake(client, server, "elsewhere")


def tls_handshake(client: ssl.SSLContext, server: ssl.SSLContext, server_hostname: str) -> None:
    """A TLS handshake between two in-memory ends; raises what the client's verification raises."""
    client_in, client_out, server_in, server_out = (ssl.MemoryBIO() for _ in range(4))
    ends = {"client": client.wrap_bio(client_in, client_out, server_hostname=server_hostname),
            "server": server.wrap_bio(server_in, server_out, server_side=True)}
    done: set[str] = set()
    for _ in range(20):
        for name, end in ends.items():
            if name not in done:
                try:
                    end.do_handshake()
                    done.add(name)
                except ssl.SSLWantReadError:
                    pass
        server_in.write(client_out.read())
        client_in.write(server_out.read())
        if len(done) == 2:
            return
    raise AssertionError("the TLS handshake did not finish")


def exported_metrics() -> set[str]:
    """The sample names of the metrics Metrics declares (the backlogs, read from the tables when
    scraped, by their description); tests/test_metrics.py checks the same against real scrapes."""
    names = set()
    metrics = Metrics("deploy-test")
    for family in [*metrics.registry.collect(), *metrics.backlogs.describe()]:
        suffixes = {"histogram": ("_bucket", "_count", "_sum"), "counter": ("_total",)}.get(family.type, ("",))
        names |= {family.name + suffix for suffix in suffixes}
    return names | {OVERDUE_GAUGE}  # intake's own, registered by its resources when it starts


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
    assert {"zm_outbox_backlog_events", "zm_consumer_lag_messages", "zm_dlt_events_total",
            "zm_events_rejected_total"} <= used


def test_a_rejected_event_pages_at_once() -> None:
    """An event refused by the trust check (forged, mis-signed) is critical on its first occurrence."""
    rules = yaml.safe_load((DEPLOY / "prometheus" / "alerts.yaml").read_text(encoding="utf-8"))
    found = [r for g in rules["groups"] for r in g["rules"] if "zm_events_rejected_total" in r["expr"]]
    assert len(found) == 1
    rule = found[0]
    assert rule["labels"]["severity"] == "critical" and "for" not in rule, "no waiting period"
    assert "reason" in rule["expr"] and "zhengming dlq list" in rule["annotations"]["runbook"]
    assert "deploy/README.md" in rule["annotations"]["runbook"]
