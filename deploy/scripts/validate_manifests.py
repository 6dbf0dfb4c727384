"""Validate Kubernetes manifests offline: every document of every file given, against the
bundled schemas of `kubernetes-validate` in strict mode (unknown fields are errors), for
each Kubernetes version asked for.

Custom resources (ServiceMonitor, PrometheusRule) have no bundled schema: they get a
structural check of the fields their controllers require, and are reported as such. Any
other kind without a schema is an error (most likely a typo in `apiVersion` or `kind`).

    python validate_manifests.py --kube-version 1.30.0 --kube-version 1.37.0 FILE...

Exit status 1 on any failure; a one-line summary either way.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import kubernetes_validate
import yaml

_CUSTOM: dict[tuple[str, str], tuple[str, ...]] = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"): ("spec.selector", "spec.endpoints"),
    ("monitoring.coreos.com/v1", "PrometheusRule"): ("spec.groups",),
}


def documents(path: Path) -> Iterator[Mapping[str, object]]:
    for document in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        if document is None:
            continue
        if not isinstance(document, dict):
            raise ValueError(f"{path}: a document that is not a mapping")
        yield document


def check_custom(document: Mapping[str, object], required: tuple[str, ...]) -> list[str]:
    problems = []
    metadata = document.get("metadata")
    if not isinstance(metadata, dict) or not metadata.get("name"):
        problems.append("metadata.name is missing")
    for dotted in required:
        node: object = document
        for part in dotted.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if not node:
            problems.append(f"{dotted} is missing or empty")
    if document.get("kind") == "PrometheusRule":
        for group in document.get("spec", {}).get("groups", []):  # type: ignore[union-attr]
            for rule in group.get("rules", []):
                if "expr" not in rule or not ({"alert", "record"} & rule.keys()):
                    problems.append(f"group {group.get('name')}: a rule without expr/alert")
    return problems


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kube-version", action="append", required=True)
    parser.add_argument("files", nargs="+", type=Path)
    args = parser.parse_args(argv)
    failures = validated = custom = 0
    for path in args.files:
        for document in documents(path):
            api, kind = str(document.get("apiVersion")), str(document.get("kind"))
            name = f"{path}: {kind}/{document.get('metadata', {}).get('name')}"  # type: ignore[union-attr]
            if (api, kind) in _CUSTOM:
                problems = check_custom(document, _CUSTOM[(api, kind)])
                custom += 1
                for problem in problems:
                    print(f"FAIL {name}: {problem}")
                failures += bool(problems)
                continue
            for version in args.kube_version:
                try:
                    kubernetes_validate.validate(document, version, strict=True)
                except kubernetes_validate.ValidationError as exc:
                    path_text = ".".join(str(p) for p in exc.path)
                    print(f"FAIL {name} (k8s {version}) at {path_text or '/'}: {exc.message}")
                    failures += 1
                except kubernetes_validate.SchemaNotFoundError:
                    print(f"FAIL {name} (k8s {version}): no schema for {api} {kind}")
                    failures += 1
                else:
                    validated += 1
    versions = ", ".join(args.kube_version)
    print(
        f"validate: {validated} document×version checks passed (Kubernetes {versions}, strict), "
        f"{custom} custom resources structure-checked, {failures} failures"
    )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
