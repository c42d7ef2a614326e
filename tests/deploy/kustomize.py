"""A small kustomize: what `kubectl apply -k deploy/k8s` would apply, rendered offline in Python, so
tests/deploy checks the objects the cluster gets and not the files they are made from.

It implements the part of kustomize (v5) that deploy/k8s uses, as kustomize does it, and refuses
everything else with an error rather than rendering something kustomize would not:

* `resources`: YAML files (any number of documents) and directories holding a kustomization.yaml.
  Two objects of one kind, namespace and name are an error. A file must lie under the
  kustomization's own directory (kustomize's default load restriction); a directory may be anywhere.
* `patches`: JSON 6902 patches only (`add`, `remove`, `replace`, `test`), from `path` or inline
  `patch`, applied in order to every object the `target` selects: `group`, `version`, `kind` and
  `name`, each an anchored regular expression; a name matches the object's name as first loaded or
  as it is now. Stricter than kustomize: a target that selects nothing is an error (kustomize skips
  the patch silently, which would hide a patch aimed at a misspelt name).
* `namespace`: metadata.namespace of every namespaced object; a Namespace object is renamed to it.
* `namePrefix`: prefixes metadata.name (not a Namespace's). kustomize then rewrites the references
  to a renamed object; of those, the kinds here allow only a HorizontalPodAutoscaler's
  scaleTargetRef, so prefixing a ConfigMap, Secret or ServiceAccount (which pods refer to) is refused.
* `labels`: `pairs`, with `includeSelectors` (selectors and pod templates too, kustomize's
  commonLabels field list) or `includeTemplates` (pod templates too).
* `images`: `name` with `newName`, `newTag` or `digest`, on every container and init container.

Kinds: those in KINDS, since the fields `namespace` and `labels` touch depend on the kind.
Transformers run in kustomize's order (patches, namespace, namePrefix, labels, images), each
kustomization's after the resources it includes were built. `render` orders the output as
kustomize's legacy sort does (Namespace first, ..., then by kind and name).

    .venv/bin/python -m tests.deploy.kustomize deploy/k8s   # prints what `kubectl kustomize deploy/k8s` prints
"""

from __future__ import annotations

import copy
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

KUSTOMIZATION_FILES = ("kustomization.yaml", "kustomization.yml", "Kustomization")
FIELDS = {"apiVersion", "kind", "resources", "patches", "namespace", "namePrefix", "labels", "images"}

# (apiVersion, kind) of every kind this renderer knows -> whether objects of it are namespaced.
KINDS: dict[tuple[str, str], bool] = {
    ("v1", "Namespace"): False,
    ("v1", "ServiceAccount"): True,
    ("v1", "ConfigMap"): True,
    ("v1", "Secret"): True,
    ("v1", "Service"): True,
    ("apps/v1", "Deployment"): True,
    ("batch/v1", "Job"): True,
    ("autoscaling/v2", "HorizontalPodAutoscaler"): True,
    ("policy/v1", "PodDisruptionBudget"): True,
    ("networking.k8s.io/v1", "NetworkPolicy"): True,
}
# Objects of these kinds are referred to by name from other kinds (pods), which kustomize would
# rewrite after a namePrefix and this renderer does not.
REFERRED_BY_PODS = {"ConfigMap", "Secret", "ServiceAccount"}


class KustomizeError(Exception):
    """A kustomization that kustomize would refuse, or that this renderer does not implement."""


@dataclass(frozen=True)
class FieldSpec:
    """A field kustomize's transformers set: a path (`/`-separated; a list on the way means each of
    its items), on kind (any kind if empty), creating missing maps on the way only if `create`."""

    path: str
    kind: str = ""
    create: bool = False


# kustomize's metadataLabels and commonLabels field lists (api/internal/konfig/builtinpluginconsts),
# restricted to KINDS.
TEMPLATE_LABELS = (
    FieldSpec("metadata/labels", create=True),
    FieldSpec("spec/template/metadata/labels", "Deployment", create=True),
    FieldSpec("spec/template/metadata/labels", "Job", create=True),
)
SELECTOR_LABELS = (
    *TEMPLATE_LABELS,
    FieldSpec("spec/selector", "Service", create=True),
    FieldSpec("spec/selector/matchLabels", "Deployment", create=True),
    *(FieldSpec(f"spec/template/spec/affinity/{affinity}/{term}/labelSelector/matchLabels", "Deployment")
      for affinity in ("podAffinity", "podAntiAffinity")
      for term in ("preferredDuringSchedulingIgnoredDuringExecution/podAffinityTerm",
                   "requiredDuringSchedulingIgnoredDuringExecution")),
    FieldSpec("spec/template/spec/topologySpreadConstraints/labelSelector/matchLabels", "Deployment"),
    FieldSpec("spec/selector/matchLabels", "Job"),
    FieldSpec("spec/selector/matchLabels", "PodDisruptionBudget"),
    FieldSpec("spec/podSelector/matchLabels", "NetworkPolicy"),
    FieldSpec("spec/ingress/from/podSelector/matchLabels", "NetworkPolicy"),
    FieldSpec("spec/egress/to/podSelector/matchLabels", "NetworkPolicy"),
)

# kustomize's legacy output order (api/internal/builtins/SortOrderTransformer.go).
ORDER_FIRST = ("Namespace", "ResourceQuota", "StorageClass", "CustomResourceDefinition", "ServiceAccount",
               "PodSecurityPolicy", "Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding", "ConfigMap",
               "Secret", "Endpoints", "Service", "LimitRange", "PriorityClass", "PersistentVolume",
               "PersistentVolumeClaim", "Deployment", "StatefulSet", "CronJob", "PodDisruptionBudget")
ORDER_LAST = ("MutatingWebhookConfiguration", "ValidatingWebhookConfiguration")


@dataclass
class Resource:
    obj: dict[str, Any]
    origin: str  # the file it was loaded from, for error messages
    original_name: str = ""

    def __post_init__(self) -> None:
        self.original_name = self.original_name or self.name

    @property
    def api_version(self) -> str:
        return str(self.obj["apiVersion"])

    @property
    def kind(self) -> str:
        return str(self.obj["kind"])

    @property
    def name(self) -> str:
        return str(self.obj["metadata"]["name"])

    @property
    def namespace(self) -> str:
        return str(self.obj["metadata"].get("namespace", ""))

    @property
    def id(self) -> tuple[str, str, str, str]:
        return self.api_version, self.kind, self.namespace, self.name

    def describe(self) -> str:
        return f"{self.kind} {self.name} (from {self.origin})"


# --- loading ---------------------------------------------------------------------------------------


def kustomization_file(directory: Path) -> Path:
    found = [directory / name for name in KUSTOMIZATION_FILES if (directory / name).is_file()]
    if len(found) != 1:
        raise KustomizeError(f"{directory}: expected one of {', '.join(KUSTOMIZATION_FILES)}, found {len(found)}")
    return found[0]


def inside(directory: Path, relative: str, what: str) -> Path:
    path = (directory / relative).resolve()
    if not path.is_relative_to(directory.resolve()):
        raise KustomizeError(f"{directory}: {what} {relative} is outside the kustomization's directory")
    return path


def load_documents(path: Path) -> list[Resource]:
    out = []
    for obj in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if obj is None:
            continue
        if not isinstance(obj, dict) or not isinstance(obj.get("metadata"), dict) or "name" not in obj["metadata"]:
            raise KustomizeError(f"{path}: a document is not an object with metadata.name")
        if (obj.get("apiVersion"), obj.get("kind")) not in KINDS:
            raise KustomizeError(f"{path}: {obj.get('apiVersion')} {obj.get('kind')} is not a kind this renderer "
                                 f"knows (KINDS in {__name__})")
        out.append(Resource(obj, str(path)))
    return out


def build(directory: Path) -> list[Resource]:
    """The resources the kustomization in `directory` makes, in load order."""
    directory = Path(directory)
    path = kustomization_file(directory)
    kustomization = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    unknown = set(kustomization) - FIELDS
    if unknown:
        raise KustomizeError(f"{path}: {sorted(unknown)} not implemented here ({__name__} lists what is)")
    if kustomization.get("kind", "Kustomization") != "Kustomization":
        raise KustomizeError(f"{path}: kind {kustomization['kind']}, expected Kustomization")

    resources: list[Resource] = []
    for entry in kustomization.get("resources") or []:
        target = (directory / entry).resolve()
        if target.is_dir():
            resources.extend(build(target))
        elif target.is_file():
            resources.extend(load_documents(inside(directory, entry, "resource")))
        else:
            raise KustomizeError(f"{path}: resource {entry} does not exist")
    check_unique(resources, path)

    for patch in kustomization.get("patches") or []:
        apply_patch_entry(directory, path, patch, resources)
    if "namespace" in kustomization:
        set_namespace(resources, str(kustomization["namespace"]))
    if "namePrefix" in kustomization:
        add_name_prefix(resources, str(kustomization["namePrefix"]), path)
    for entry in kustomization.get("labels") or []:
        add_labels(resources, entry, path)
    for entry in kustomization.get("images") or []:
        set_images(resources, entry, path)
    check_unique(resources, path)
    return resources


def check_unique(resources: list[Resource], where: Path) -> None:
    seen: dict[tuple[str, str, str, str], Resource] = {}
    for resource in resources:
        if resource.id in seen:
            raise KustomizeError(f"{where}: {resource.describe()} and {seen[resource.id].describe()} have one id")
        seen[resource.id] = resource


# --- patches ---------------------------------------------------------------------------------------

TARGET_FIELDS = {"group", "version", "kind", "name"}


def selects(target: dict[str, Any], resource: Resource) -> bool:
    """kustomize's selector: each given field an anchored regular expression (an empty one matches all)."""
    group, _, version = resource.api_version.rpartition("/")
    values = {"group": group, "version": version, "kind": resource.kind}
    for key in ("group", "version", "kind"):
        if target.get(key) and not re.fullmatch(str(target[key]), values[key]):
            return False
    if target.get("name"):
        pattern = str(target["name"])
        return bool(re.fullmatch(pattern, resource.original_name) or re.fullmatch(pattern, resource.name))
    return True


def apply_patch_entry(directory: Path, where: Path, entry: dict[str, Any], resources: list[Resource]) -> None:
    if set(entry) - {"path", "patch", "target"} or ("path" in entry) == ("patch" in entry):
        raise KustomizeError(f"{where}: a patch needs one of path and patch, and a target: {entry}")
    source = inside(directory, entry["path"], "patch") if "path" in entry else None
    text = source.read_text(encoding="utf-8") if source else str(entry["patch"])
    label = f"{where} patch {entry.get('path') or '(inline)'}"
    operations = yaml.safe_load(text)
    if not isinstance(operations, list):
        raise KustomizeError(f"{label}: not a JSON 6902 patch (a list of operations); "
                             "strategic-merge patches are not implemented here")
    target = entry.get("target")
    if not isinstance(target, dict) or not target or set(target) - TARGET_FIELDS:
        raise KustomizeError(f"{label}: a target by {sorted(TARGET_FIELDS)} is needed, got {target}")
    selected = [r for r in resources if selects(target, r)]
    if not selected:
        raise KustomizeError(f"{label}: target {target} selects nothing")
    for resource in selected:
        try:
            resource.obj = json_patch(resource.obj, operations)
        except KustomizeError as e:
            raise KustomizeError(f"{label} on {resource.describe()}: {e}") from None


def pointer(path: str) -> list[str]:
    if not isinstance(path, str) or (path and not path.startswith("/")):
        raise KustomizeError(f"{path!r} is not a JSON pointer")
    return [part.replace("~1", "/").replace("~0", "~") for part in path.split("/")[1:]]


def index(container: list[Any], part: str, path: str, *, insert: bool = False) -> int:
    if part == "-" and insert:
        return len(container)
    if not re.fullmatch(r"0|[1-9][0-9]*", part):
        raise KustomizeError(f"{path}: {part!r} is not a list index")
    i = int(part)
    if i > len(container) or (i == len(container) and not insert):
        raise KustomizeError(f"{path}: index {i} is out of range (the list has {len(container)} items)")
    return i


def parent_of(doc: Any, parts: list[str], path: str) -> Any:
    node = doc
    for part in parts[:-1]:
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list):
            node = node[index(node, part, path)]
        else:
            raise KustomizeError(f"{path}: {part!r} does not exist")
    return node


def json_patch(doc: dict[str, Any], operations: list[Any]) -> dict[str, Any]:
    """RFC 6902 as kustomize applies it (evanphx/json-patch): `replace` and `remove` need the field
    to exist, `add` needs its parent; `test` compares the value, type included."""
    doc = copy.deepcopy(doc)
    for operation in operations:
        if not isinstance(operation, dict) or "op" not in operation or "path" not in operation:
            raise KustomizeError(f"not a JSON patch operation: {operation!r}")
        op, path = operation["op"], operation["path"]
        if op in ("add", "replace", "test") and "value" not in operation:
            raise KustomizeError(f"{op} {path}: no value")
        parts = pointer(path)
        if not parts:
            raise KustomizeError(f"{op} on the whole document is not implemented")
        parent, last = parent_of(doc, parts, path), parts[-1]
        value = copy.deepcopy(operation.get("value"))
        if op == "add":
            if isinstance(parent, dict):
                parent[last] = value
            elif isinstance(parent, list):
                parent.insert(index(parent, last, path, insert=True), value)
            else:
                raise KustomizeError(f"add {path}: the parent is not an object or a list")
        elif op in ("replace", "remove", "test"):
            if isinstance(parent, dict):
                if last not in parent:
                    raise KustomizeError(f"{op} {path}: no such field")
                key: Any = last
            elif isinstance(parent, list):
                key = index(parent, last, path)
            else:
                raise KustomizeError(f"{op} {path}: the parent is not an object or a list")
            if op == "replace":
                parent[key] = value
            elif op == "remove":
                del parent[key]
            elif not same_json(parent[key], value):
                raise KustomizeError(f"test {path}: is {parent[key]!r}, not {value!r}")
        else:
            raise KustomizeError(f"operation {op!r} is not implemented (add, remove, replace, test)")
    return doc


def same_json(a: Any, b: Any) -> bool:
    """Equal as JSON values: a bool is not a number, 1 equals 1.0."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_json(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


# --- namespace, namePrefix, labels, images -----------------------------------------------------------


def set_namespace(resources: list[Resource], namespace: str) -> None:
    for resource in resources:
        if resource.kind == "Namespace":
            resource.obj["metadata"]["name"] = namespace
        elif KINDS[(resource.api_version, resource.kind)]:
            resource.obj["metadata"]["namespace"] = namespace


def add_name_prefix(resources: list[Resource], prefix: str, where: Path) -> None:
    renamed: dict[str, str] = {}  # old Deployment name -> new
    for resource in resources:
        if resource.kind == "Namespace":
            continue
        if resource.kind in REFERRED_BY_PODS:
            raise KustomizeError(f"{where}: namePrefix on {resource.describe()}: pods refer to it by name, "
                                 "and rewriting those references is not implemented here")
        old = resource.name
        resource.obj["metadata"]["name"] = prefix + old
        if resource.kind == "Deployment":
            renamed[old] = resource.name
    for resource in resources:  # kustomize's nameReference, for the one reference KINDS can hold
        if resource.kind == "HorizontalPodAutoscaler":
            ref = resource.obj["spec"]["scaleTargetRef"]
            if ref.get("kind") == "Deployment" and ref.get("name") in renamed:
                ref["name"] = renamed[ref["name"]]


def walk(node: Any, parts: list[str], create: bool) -> list[dict[str, Any]]:
    """The maps at `parts` below `node` (each item of a list on the way)."""
    if isinstance(node, list):
        return [found for item in node for found in walk(item, parts, create)]
    if not isinstance(node, dict):
        return []
    if not parts:
        return [node]
    head, rest = parts[0], parts[1:]
    if head not in node or node[head] is None:
        if not create:
            return []
        node[head] = {}
    return walk(node[head], rest, create)


def add_labels(resources: list[Resource], entry: dict[str, Any], where: Path) -> None:
    if set(entry) - {"pairs", "includeSelectors", "includeTemplates"} or not isinstance(entry.get("pairs"), dict):
        raise KustomizeError(f"{where}: labels entries hold pairs, includeSelectors, includeTemplates: {entry}")
    specs = (SELECTOR_LABELS if entry.get("includeSelectors") else
             TEMPLATE_LABELS if entry.get("includeTemplates") else TEMPLATE_LABELS[:1])
    pairs = {str(k): str(v) for k, v in entry["pairs"].items()}
    for resource in resources:
        for spec in specs:
            if spec.kind in ("", resource.kind):
                for labels in walk(resource.obj, spec.path.split("/"), spec.create):
                    labels.update(pairs)


def split_image(image: str) -> tuple[str, str, str]:
    """name, tag, digest of `name[:tag][@digest]` (a `:` before the last `/` is a registry port)."""
    rest, _, digest = image.partition("@")
    name, colon, tag = rest.rpartition(":")
    if not colon or "/" in tag:
        return rest, "", digest
    return name, tag, digest


def set_images(resources: list[Resource], entry: dict[str, Any], where: Path) -> None:
    if set(entry) - {"name", "newName", "newTag", "digest"} or "name" not in entry:
        raise KustomizeError(f"{where}: images entries hold name, newName, newTag, digest: {entry}")
    for resource in resources:
        pod = resource.obj.get("spec", {}).get("template", {}).get("spec", {})
        for container in [*pod.get("containers", []), *pod.get("initContainers", [])]:
            name, tag, digest = split_image(str(container.get("image", "")))
            if name != entry["name"]:
                continue
            name = str(entry.get("newName", name))
            if "digest" in entry:
                container["image"] = f"{name}@{entry['digest']}"
            elif "newTag" in entry:
                container["image"] = f"{name}:{entry['newTag']}"
            else:
                container["image"] = name + (f":{tag}" if tag else "") + (f"@{digest}" if digest else "")


# --- output ----------------------------------------------------------------------------------------


def legacy_order(obj: dict[str, Any]) -> tuple[int, str, str]:
    kind = str(obj["kind"])
    rank = (-len(ORDER_FIRST) + ORDER_FIRST.index(kind) if kind in ORDER_FIRST else
            1 + ORDER_LAST.index(kind) if kind in ORDER_LAST else 0)
    group, _, version = str(obj["apiVersion"]).rpartition("/")
    gvk = "_".join((group or "~G", version or "~V", kind))
    gvk_string = ".".join((kind, version or "~V", group or "~G"))
    ident = "|".join((gvk_string, obj["metadata"].get("namespace") or "~X", obj["metadata"]["name"]))
    return rank, gvk, ident


def render(directory: Path) -> list[dict[str, Any]]:
    """The objects `kubectl kustomize directory` prints, in its order."""
    return sorted((r.obj for r in build(Path(directory))), key=legacy_order)


class _Dumper(yaml.SafeDumper):
    """YAML as kubectl prints it: sorted keys, multi-line strings as `|` blocks, double quotes where
    a string needs quotes, plain strings folded at 80 columns."""

    def choose_scalar_style(self) -> str:
        style = str(super().choose_scalar_style())
        return '"' if style == "'" else style


_Dumper.add_representer(str, lambda dumper, value: dumper.represent_scalar(
    "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None))


def to_yaml(objects: list[dict[str, Any]]) -> str:
    return str(yaml.dump_all(objects, Dumper=_Dumper, sort_keys=True, allow_unicode=True, width=80))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(f"usage: python -m {__spec__.name if __spec__ else 'kustomize'} DIRECTORY")
    sys.stdout.write(to_yaml(render(Path(sys.argv[1]))))
