#!/usr/bin/env bash
# Makes this host a Crucible sandboxing runner, idempotently: Debian packages, dockerd with gVisor's
# runsc registered as a runtime, npm dependencies, and the base sandbox image (other images are built by
# the first run that needs them). Every step is skipped when its work is already done.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
log() { printf '[setup] %s\n' "$*"; }

if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then as_root=(sudo); else
    log "this step needs root (apt-get, dockerd); run it as root or install sudo"; exit 1
  fi
else
  as_root=()
fi

# 1. Debian packages: Docker, gVisor and the image builder. Extra packages may be requested with
#    CRUCIBLE_EXTRA_PACKAGES (tests add the browser this way).
packages=(docker.io runsc mmdebstrap python3 chromium ${CRUCIBLE_EXTRA_PACKAGES:-})
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  log "installing ${missing[*]}"
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
else
  log "Debian packages present"
fi

# 2. npm dependencies (this also builds the CLI, which step 3 uses), reinstalled only when the lock file changed. `npm ci`
#    installs exactly what package-lock.json says and never rewrites it, so a fresh clone stays clean.
lock_hash="$(sha256sum package-lock.json | cut -d' ' -f1)"
if [ "$(cat node_modules/.crucible-lock-hash 2>/dev/null)" != "$lock_hash" ]; then
  log "installing npm dependencies (npm ci)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.crucible-lock-hash
else
  log "npm dependencies up to date"
fi
# The CLI bundle is not tracked: rebuilt when missing or older than any source it is built from (its start
# file, crucible.js, is written before bundle.js, so bundle.js is the one to compare with).
cli_bundle=actions/cli/dist/bundle.js
if [ ! -f "$cli_bundle" ] || [ -n "$(find actions/cli/src actions/lib/src actions/scripts/build.mjs -newer "$cli_bundle" | head -1)" ]; then
  node actions/scripts/build.mjs --cli-only
fi

# 3. runsc registered with Docker, with runtime arguments chosen for the installed build (runsc rejects
#    flags it does not know): `crucible runtime-args` reads `runsc --version` and `runsc flags`. Always
#    --network=none: no sandbox ever gets a network, and Debian's runsc (2022) fails every start on
#    kernels >= 6.11 without it. runner-setup/README.md lists the combinations relied on.
#    `runsc-monitored-0` … `-<N-1>` are the same runsc with gVisor's trace session (behaviour monitoring),
#    one per sandbox that may run at once, each with its own socket: N is the highest
#    limits.maxConcurrentSandboxes of the runner policies here (and $CRUCIBLE_POLICY), or
#    $CRUCIBLE_MONITORED_RUNTIMES. Their --pod-init-config files are written under /etc, where only root
#    can change what is traced. The GPU runtimes those policies name (runner-setup/GPU.md registers them by
#    hand) get traced variants `<name>-monitored-<k>` on the same trace configurations, when registered.
monitored="${CRUCIBLE_MONITORED_RUNTIMES:-$(node -e '
  const files = process.argv.slice(1).filter(Boolean);
  const limits = files.map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")).limits?.maxConcurrentSandboxes ?? 4);
  console.log(Math.max(4, ...limits));
' runner-setup/policy*.json "${CRUCIBLE_POLICY:-}")}"
gpu_runtimes="$(node -e '
  const policies = process.argv.slice(1).filter(Boolean).map((f) => JSON.parse(require("fs").readFileSync(f, "utf8")));
  console.log([...new Set(policies.filter((p) => p.limits?.maxGpus > 0 && p.gpu?.runtime).map((p) => p.gpu.runtime))].join(","));
' runner-setup/policy*.json "${CRUCIBLE_POLICY:-}")"
"${as_root[@]}" mkdir -p /etc/docker /etc/crucible/monitoring
registered="$("${as_root[@]}" node runner-setup/configure-docker.mjs /etc/docker/daemon.json "$(command -v runsc)" \
  --pod-init-template=runner-setup/monitoring/pod-init.json --monitoring-dir=/etc/crucible/monitoring \
  --monitored-runtimes="$monitored" --gpu-runtimes="$gpu_runtimes")"
printf '%s\n' "$registered" | grep -v '^changed$' || true

# 4. dockerd. There is no init system on these hosts, so it is started here when it is not answering.
docker_ok() { "${as_root[@]}" docker version --format '{{.Server.Version}}' >/dev/null 2>&1; }
if docker_ok; then
  if [ "$(printf '%s\n' "$registered" | tail -1)" = changed ] || ! "${as_root[@]}" docker info --format '{{json .Runtimes}}' | grep -q "\"runsc-monitored-$((monitored - 1))\""; then
    log "reloading dockerd to register runsc and runsc-monitored-0 … -$((monitored - 1))"
    "${as_root[@]}" pkill -HUP -x dockerd
    sleep 1
  fi
  log "dockerd running"
else
  pidfile=/var/run/docker.pid
  if [ -f "$pidfile" ] && ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then "${as_root[@]}" rm -f "$pidfile"; fi
  log "starting dockerd (log: /var/log/crucible-dockerd.log)"
  "${as_root[@]}" sh -c 'nohup dockerd >>/var/log/crucible-dockerd.log 2>&1 &'
  for _ in $(seq 1 60); do docker_ok && break; sleep 0.5; done
  docker_ok || { log "dockerd did not start; see /var/log/crucible-dockerd.log"; tail -20 /var/log/crucible-dockerd.log; exit 1; }
fi
"${as_root[@]}" docker info --format '{{json .Runtimes}}' | grep -q '"runsc"' || { log "runsc is not registered with dockerd"; exit 1; }

# 5. Sandbox images. Only `base` (the default image, which the demo and the doctor's probes use) is built
#    here; any other recipe image is built by the first run that needs it (crucible run, the run action,
#    the doctor), once, with progress lines. CRUCIBLE_SETUP_IMAGES=all (npm test) builds every recipe now;
#    either way an image is rebuilt only when its recipe changed.
if [ "${CRUCIBLE_SETUP_IMAGES:-base}" = all ]; then
  "${as_root[@]}" node actions/cli/bin/crucible.js image build
else
  "${as_root[@]}" node actions/cli/bin/crucible.js image build base
fi
