"""deploy/k8s renders to exactly the objects recorded in k8s-rendered.yaml, and the renderer that
says so (tests/deploy/kustomize.py) renders as kustomize does: checked here against `kubectl
kustomize` wherever kubectl is installed (it bundles kustomize; no cluster is needed), on deploy/k8s
and on small kustomizations that use each feature once. Realistic mistakes in deploy/k8s (a patch
aimed at a misspelt name, a setting left out of one service, a base reordered under its overlays)
turn a test red: the last test makes them on a copy and watches.

k8s-rendered.yaml was first `kubectl kustomize deploy/k8s` of the manifests before the base and
overlays, which render to the same bytes. A deliberate change to deploy/k8s changes it too:

    .venv/bin/python -m tests.deploy.kustomize deploy/k8s > tests/deploy/k8s-rendered.yaml

(or `kubectl kustomize deploy/k8s`, which prints the same), and its diff is what the cluster will see."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.kustomize import KustomizeError, json_patch, render, to_yaml

K8S = Path(__file__).resolve().parents[2] / "deploy" / "k8s"
EXPECTED = Path(__file__).parent / "k8s-rendered.yaml"


def expected() -> list[dict[str, Any]]:
    return [obj for obj in yaml.safe_load_all(EXPECTED.read_text(encoding="utf-8")) if obj is not None]


def ident(obj: dict[str, Any]) -> str:
    return f"{obj['kind']} {obj['metadata'].get('namespace', '-')}/{obj['metadata']['name']}"


def differences(want: Any, got: Any, path: str = "") -> Iterator[str]:
    """Where `got` differs from `want`, as JSON pointers with both values."""
    if isinstance(want, dict) and isinstance(got, dict):
        for key in sorted(set(want) | set(got), key=str):
            if key not in got:
                yield f"{path}/{key}: missing (want {want[key]!r})"
            elif key not in want:
                yield f"{path}/{key}: not wanted ({got[key]!r})"
            else:
                yield from differences(want[key], got[key], f"{path}/{key}")
    elif isinstance(want, list) and isinstance(got, list) and len(want) == len(got):
        for i, (w, g) in enumerate(zip(want, got, strict=True)):
            yield from differences(w, g, f"{path}/{i}")
    elif want != got or type(want) is not type(got):
        yield f"{path or '/'}: {got!r}, want {want!r}"


def assert_same_objects(got: list[dict[str, Any]], want: list[dict[str, Any]]) -> None:
    """Same objects in the same order, or a list of what differs, object by object."""
    got_by, want_by = {ident(o): o for o in got}, {ident(o): o for o in want}
    problems = [f"missing: {i}" for i in want_by if i not in got_by]
    problems += [f"not wanted: {i}" for i in got_by if i not in want_by]
    problems += [f"{i}: {d}" for i in want_by if i in got_by for d in differences(want_by[i], got_by[i])]
    assert not problems, "\n".join(problems[:40])
    assert [ident(o) for o in got] == [ident(o) for o in want], "same objects, another order"


# --- deploy/k8s --------------------------------------------------------------------------------------


def test_deploy_k8s_renders_to_the_recorded_objects() -> None:
    assert_same_objects(render(K8S), expected())


@cache
def kubectl_kustomize() -> bool:
    """Whether `kubectl kustomize` runs here (kubectl bundles kustomize and needs no cluster for it)."""
    if shutil.which("kubectl") is None:
        return False
    done = subprocess.run(["kubectl", "kustomize", "--help"], capture_output=True, timeout=60, check=False)
    return done.returncode == 0


def kustomize_with_kubectl(directory: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60,
                          check=False)


needs_kubectl = pytest.mark.skipif(not kubectl_kustomize(), reason="kubectl (with kustomize) is not installed")


@needs_kubectl
def test_kubectl_renders_deploy_k8s_as_the_renderer_does() -> None:
    done = kustomize_with_kubectl(K8S)
    assert done.returncode == 0, done.stderr
    assert_same_objects(render(K8S), [o for o in yaml.safe_load_all(done.stdout) if o is not None])


def test_the_renderers_yaml_reads_back_as_the_same_objects() -> None:
    objects = render(K8S)
    assert list(yaml.safe_load_all(to_yaml(objects))) == objects


# --- the renderer, one feature at a time --------------------------------------------------------------


def deployment(name: str, labels: dict[str, str], *, image: str = "app", env: list[Any] | None = None) -> str:
    return yaml.safe_dump({
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "labels": dict(labels)},
        "spec": {"selector": {"matchLabels": dict(labels)},
                 "template": {"metadata": {"labels": dict(labels)}, "spec": {
                     "topologySpreadConstraints": [{"maxSkew": 1, "topologyKey": "zone",
                                                    "whenUnsatisfiable": "ScheduleAnyway",
                                                    "labelSelector": {"matchLabels": dict(labels)}}],
                     "containers": [{"name": "c", "image": image, "env": env or [{"name": "A", "value": "1"}]}]}}}})


BASE = {
    "base/kustomization.yaml": "resources: [app.yaml]\n",
    "base/app.yaml": deployment("api", {"app": "x", "role": "api"}, image="app:1") + "---\n" + yaml.safe_dump({
        "apiVersion": "v1", "kind": "Service", "metadata": {"name": "api"},
        "spec": {"selector": {"role": "api"}, "ports": [{"port": 80}]}}) + "---\n" + yaml.safe_dump({
        "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "api"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api"},
                 "minReplicas": 2, "maxReplicas": 5}}) + "---\n" + yaml.safe_dump({
        "apiVersion": "policy/v1", "kind": "PodDisruptionBudget", "metadata": {"name": "api"},
        "spec": {"maxUnavailable": 1, "selector": {"matchLabels": {"role": "api"}}}}) + "---\n" + yaml.safe_dump({
        "apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "migrate"},
        "spec": {"template": {"metadata": {"labels": {"role": "migrate"}}, "spec": {
            "restartPolicy": "Never", "containers": [{"name": "m", "image": "app"}]}}}}),
}
NETWORK_POLICY = yaml.safe_dump({
    "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy", "metadata": {"name": "from-api"},
    "spec": {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Ingress"],
             "ingress": [{"from": [{"podSelector": {"matchLabels": {"role": "api"}}},
                                   {"namespaceSelector": {"matchLabels": {"x": "y"}}}]}]}})
NAMESPACE = yaml.safe_dump({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
CONFIG = yaml.safe_dump({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings"},
                         "data": {"A": "1"}})

# name -> (files, None for "renders as kubectl does" or the error text the renderer must raise,
# and whether kustomize refuses it too, or only this stricter renderer)
CASES: dict[str, tuple[dict[str, str], str | None, bool]] = {
    "base as it is": (BASE, None, True),
    "an overlay with a prefix, labels everywhere and patches": ({**BASE, "overlay/kustomization.yaml": """
resources: [../base]
namePrefix: one-
labels:
  - pairs: {app: one, tier: backend}
    includeSelectors: true
patches:
  - target: {kind: Deployment}
    patch: |-
      - {op: test, path: /spec/template/spec/containers/0/env/0/name, value: A}
      - {op: replace, path: /spec/template/spec/containers/0/env/0/name, value: B}
      - {op: add, path: /spec/template/spec/containers/0/env/-, value: {name: C, value: "false"}}
      - {op: add, path: /spec/template/spec/containers/0/args, value: [run, "8080"]}
  - target: {kind: HorizontalPodAutoscaler, name: api}
    patch: '[{"op": "replace", "path": "/spec/maxReplicas", "value": 9}]'
  - path: job.yaml
    target: {group: batch, version: v1, kind: Job, name: mig.*}
""", "overlay/job.yaml": "- {op: remove, path: /spec/template/metadata/labels/role}\n"}, None, True),
    "labels on templates only": ({**BASE, "overlay/kustomization.yaml": """
resources: [../base]
labels:
  - pairs: {app: one}
    includeTemplates: true
"""}, None, True),
    "labels on metadata only, on a NetworkPolicy and a ConfigMap": ({
        "kustomization.yaml": "resources: [np.yaml, cm.yaml]\nlabels:\n  - pairs: {a: b}\n",
        "np.yaml": NETWORK_POLICY, "cm.yaml": CONFIG}, None, True),
    "selector labels on a NetworkPolicy": ({
        "kustomization.yaml": "resources: [np.yaml]\nlabels:\n  - pairs: {a: b}\n    includeSelectors: true\n",
        "np.yaml": NETWORK_POLICY}, None, True),
    "two overlays of one base, with namespace and images above them": ({
        **BASE,
        "one/kustomization.yaml": "resources: [../base]\nnamePrefix: one-\n",
        "two/kustomization.yaml": "resources: [../base]\nnamePrefix: two-\n",
        "kustomization.yaml": """
namespace: prod
resources: [ns.yaml, cm.yaml, one, two]
images:
  - {name: app, newName: registry.example.org/app, newTag: "2.0"}
""", "ns.yaml": NAMESPACE, "cm.yaml": CONFIG}, None, True),
    "an image given a digest": ({**BASE, "kustomization.yaml": """
resources: [base]
images:
  - {name: app, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
"""}, None, True),
    "an image given only a new name keeps its tag": ({**BASE, "kustomization.yaml": """
resources: [base]
images:
  - {name: app, newName: elsewhere/app}
"""}, None, True),
    "a patch target that selects nothing": ({**BASE, "overlay/kustomization.yaml": """
resources: [../base]
patches:
  - target: {kind: HorizontalPodAutoscaler, name: apl}
    patch: '[{"op": "replace", "path": "/spec/maxReplicas", "value": 9}]'
"""}, "selects nothing", False),
    "a name that only partly matches the target": ({**BASE, "overlay/kustomization.yaml": """
resources: [../base]
patches:
  - target: {kind: Deployment, name: ap}
    patch: '[{"op": "replace", "path": "/spec/selector/matchLabels/app", "value": "z"}]'
"""}, "selects nothing", False),
    "a failing test operation": ({**BASE, "overlay/kustomization.yaml": """
resources: [../base]
patches:
  - target: {kind: Deployment}
    patch: '[{"op": "test", "path": "/spec/template/spec/containers/0/env/0/name", "value": "B"}]'
"""}, "is 'A', not 'B'", True),
    "replacing a field that does not exist": ({**BASE, "overlay/kustomization.yaml": """
resources: [../base]
patches:
  - target: {kind: Deployment}
    patch: '[{"op": "replace", "path": "/spec/template/spec/containers/0/env/3/name", "value": "B"}]'
"""}, "out of range", True),
    "the same object twice": ({**BASE, "kustomization.yaml": "resources: [base, base/app.yaml]\n"},
                              "have one id", True),
    "a resource file outside the kustomization": (
        {**BASE, "overlay/kustomization.yaml": "resources: [../base/app.yaml]\n"}, "outside", True),
    "a strategic-merge patch": ({**BASE, "overlay/kustomization.yaml": """
resources: [../base]
patches:
  - patch: |-
      apiVersion: apps/v1
      kind: Deployment
      metadata: {name: api}
      spec: {replicas: 3}
"""}, "not implemented", False),
    "a field the renderer does not implement": ({**BASE, "kustomization.yaml": "resources: [base]\nnameSuffix: -x\n"},
                                                "not implemented", False),
    "a prefix on a ConfigMap that pods refer to": ({"kustomization.yaml": "resources: [cm.yaml]\nnamePrefix: a-\n",
                                                    "cm.yaml": CONFIG}, "not implemented", False),
}


def write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")


def entry_point(root: Path, files: dict[str, str]) -> Path:
    """The kustomization a case renders: the top-level one, else the overlay's, else the base."""
    for candidate in ("kustomization.yaml", "overlay/kustomization.yaml", "base/kustomization.yaml"):
        if candidate in files:
            return (root / candidate).parent
    raise AssertionError("no kustomization")


@pytest.mark.parametrize("name", list(CASES))
def test_renderer_feature(name: str, tmp_path: Path) -> None:
    files, error, _ = CASES[name]
    write(tmp_path, files)
    directory = entry_point(tmp_path, files)
    if error is not None:
        with pytest.raises(KustomizeError, match=error.replace("(", r"\(").replace("'", ".")):
            render(directory)
        return
    rendered = render(directory)
    assert rendered, "renders something"
    if name == "an overlay with a prefix, labels everywhere and patches":
        by = {o["kind"]: o for o in rendered}
        hpa, dep = by["HorizontalPodAutoscaler"], by["Deployment"]
        assert hpa["spec"]["scaleTargetRef"]["name"] == dep["metadata"]["name"] == "one-api"
        assert hpa["spec"]["maxReplicas"] == 9
        assert dep["spec"]["template"]["spec"]["topologySpreadConstraints"][0]["labelSelector"]["matchLabels"][
            "app"] == "one"
        assert [e["name"] for e in dep["spec"]["template"]["spec"]["containers"][0]["env"]] == ["B", "C"]


@needs_kubectl
@pytest.mark.parametrize("name", list(CASES))
def test_renderer_feature_as_kubectl_renders_it(name: str, tmp_path: Path) -> None:
    files, error, kustomize_refuses = CASES[name]
    write(tmp_path, files)
    directory = entry_point(tmp_path, files)
    done = kustomize_with_kubectl(directory)
    if error is None:
        assert done.returncode == 0, done.stderr
        assert_same_objects(render(directory), [o for o in yaml.safe_load_all(done.stdout) if o is not None])
    elif kustomize_refuses:
        assert done.returncode != 0, f"kustomize renders what the renderer refuses:\n{done.stdout}"


def test_json_patch_test_compares_types() -> None:
    doc = {"a": "8080", "b": True, "c": 1}
    json_patch(doc, [{"op": "test", "path": "/a", "value": "8080"}, {"op": "test", "path": "/c", "value": 1.0}])
    for path, value in (("/a", 8080), ("/b", 1), ("/c", True)):
        with pytest.raises(KustomizeError):
            json_patch(doc, [{"op": "test", "path": path, "value": value}])
    assert doc == {"a": "8080", "b": True, "c": 1}, "patches work on a copy"
    assert json_patch({"a/b": {"~": 1}}, [{"op": "replace", "path": "/a~1b/~0", "value": 2}]) == {"a/b": {"~": 2}}


# --- mistakes in deploy/k8s turn a test red -------------------------------------------------------------

# name -> (file under deploy/k8s, text in it, what a mistaken edit makes of that text)
MISTAKES: dict[str, tuple[str, str, str]] = {
    "a patch aimed at a misspelt name (kustomize would skip it: verification's API capped at 2)": (
        "overlays/verification/kustomization.yaml", "{kind: HorizontalPodAutoscaler, name: api}",
        "{kind: HorizontalPodAutoscaler, name: apl}"),
    "a patch aimed at the wrong kind": (
        "overlays/intake/kustomization.yaml", "target: {kind: Job}", "target: {kind: CronJob}"),
    "a setting left out of one service (credit_blacklist's API and relay would run the sweep)": (
        "overlays/credit-blacklist/kustomization.yaml", "name: api|relay}", "name: relay}"),
    "one service's database URL left under the base's variable name": (
        "overlays/clarification/pods.yaml",
        "- {op: replace, path: /spec/template/spec/containers/0/env/0/name, value: ZM_CLARIFICATION_DATABASE_URL}\n",
        ""),
    "another service's Secret mounted": (
        "overlays/verification/pods.yaml", "value: zhengming-verification-audit-keys}",
        "value: zhengming-intake-audit-keys}"),
    "an overlay without its labels (its Services would select no pod of its own)": (
        "overlays/intake/kustomization.yaml", "    includeSelectors: true\n", "    includeSelectors: false\n"),
    "a volume added in the middle of the base (the overlays' indexes would point at other volumes)": (
        "base/service.yaml", "      volumes:\n", "      volumes:\n        - name: cache\n          emptyDir: {}\n"),
    "an overlay left out": ("kustomization.yaml", "  - overlays/clarification\n", ""),
    "a changed setting in the base": ("base/service.yaml", "terminationGracePeriodSeconds: 60",
                                      "terminationGracePeriodSeconds: 30"),
}


@pytest.mark.parametrize("name", list(MISTAKES))
def test_a_mistake_in_deploy_k8s_turns_a_test_red(name: str, tmp_path: Path) -> None:
    file, text, mistaken = MISTAKES[name]
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy)
    original = (copy / file).read_text(encoding="utf-8")
    assert text in original, f"{file} no longer holds {text!r}: update this mistake"
    (copy / file).write_text(original.replace(text, mistaken, 1), encoding="utf-8")
    try:
        rendered = render(copy)
    except KustomizeError:
        return  # the build fails, as it should
    with pytest.raises(AssertionError):
        assert_same_objects(rendered, expected())
