#!/usr/bin/env bash
# Builds Weir's engine image (the Dockerfile at the repo root) with podman on this machine, checks it,
# and — where the image has `weir serve` — runs it on the demo folder against the simulators.
#
# No image registry is reachable here, so the base images are made locally and kept in podman's store
# under a versioned tag (a second run reuses them):
# - runtime base: `debootstrap --variant=minbase bookworm` (+ ca-certificates), trimmed, `podman import`;
# - builder base: the same with build-essential and pkg-config, plus the host's Rust toolchain copied
#   in (`rustc --print sysroot`: rustup's servers are not reachable, Debian's rustc is too old). Crates
#   come from crates.io during the build (host network), cached in a build cache mount.
# Podman runs with `--runtime runc`, host networking, and a containers.conf of our own (CONTAINERS_CONF,
# under the cache folder) with `default_ulimits = []`: this machine refuses the default nofile limit.
#
# Checks: the image builds (`--locked`), `weir --version`, non-root user, HEALTHCHECK and default
# command as documented, `weir validate /pipelines` on the demo folder mounted read-only. Then, only if
# `weir serve --help` works inside the image: the simulators (from the same image, host network, free
# loopback ports), `weir serve` on the demo folder with its state on a named volume and an admin token,
# `/readyz` within a deadline, the image's own healthcheck, `/api/runs` refused without the token, a
# demo pipeline run through the API (`WEIR_TEST_PIPELINE`, default inventory) until `/api/runs` shows
# it succeeded with records delivered, SIGTERM → exit 0, and the run history read back from the volume
# by a new container. Without `weir serve` it says so and exits 1: no success is faked.
#
# Usage: scripts/container-test.sh   (root; WEIR_CONTAINER_CACHE, WEIR_IMAGE, DEBIAN_MIRROR to override)
# Takes ~30 min on a fresh machine (base images ~6 min, a cold release build ~24 min on 2 shared cores),
# ~9 min after a source change, under a minute when nothing changed (docs/container.md has the numbers).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cache=${WEIR_CONTAINER_CACHE:-$repo/.cache/container}
image=${WEIR_IMAGE:-localhost/weir:test}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
# Bump when a base image's recipe below changes: the tag names the recipe, so an old image is not reused.
base_recipe=1
ready_deadline=${WEIR_READY_DEADLINE:-90}
run_deadline=${WEIR_RUN_DEADLINE:-120}

step() { printf '\n== %s\n' "$*" >&2; }
fail() {
  printf '\ncontainer-test: FAILED: %s\n' "$*" >&2
  exit 1
}
started=$SECONDS

# --- tools -------------------------------------------------------------------------------------------
missing=()
for tool in podman runc debootstrap curl python3; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if ((${#missing[@]})); then
  step "installing ${missing[*]}"
  [ "$(id -u)" = 0 ] || fail "need root to install ${missing[*]} (apt-get)"
  apt-get update -q
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi

mkdir -p "$cache"
export CONTAINERS_CONF=$cache/containers.conf
cat >"$CONTAINERS_CONF" <<'EOF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
EOF
pm() { podman --runtime runc "$@"; }
# podman sets up a systemd timer for a container with a healthcheck and complains where there is no
# systemd (as here); `podman healthcheck run` checks on demand all the same.
without_timer_noise() { "$@" 2> >(grep -v 'systemd connection' >&2); }

# --- base images -------------------------------------------------------------------------------------
# Runs debootstrap into a fresh folder, trims what a container does not need, imports it as $1.
import_rootfs() {
  local tag=$1 rootfs=$2
  shift 2
  rm -rf "${rootfs:?}/var/cache/apt/archives/"*.deb "$rootfs/var/cache/apt/"*.bin "$rootfs/var/lib/apt/lists/"* \
    "$rootfs/usr/share/man" "$rootfs/usr/share/info" "$rootfs/usr/share/locale" "$rootfs/var/log/"*
  find "$rootfs/usr/share/doc" -mindepth 1 ! -name copyright ! -type d -delete 2>/dev/null || true
  tar -C "$rootfs" --numeric-owner -c . | pm import "$@" - "$tag" >/dev/null
  rm -rf "$rootfs"
}

debootstrap_into() {
  local rootfs=$1 include=$2
  rm -rf "$rootfs"
  debootstrap --variant=minbase --include="$include" bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 ||
    fail "debootstrap (see $rootfs.log)"
}

runtime_base=localhost/weir-runtime-base:bookworm-r$base_recipe
if pm image exists "$runtime_base"; then
  step "runtime base: $runtime_base (cached)"
else
  step "runtime base: $runtime_base (debootstrap minbase bookworm)"
  t0=$SECONDS
  debootstrap_into "$cache/runtime-rootfs" ca-certificates
  import_rootfs "$runtime_base" "$cache/runtime-rootfs" --change 'CMD ["/bin/bash"]'
  echo "built in $((SECONDS - t0)) s" >&2
fi

command -v rustc >/dev/null 2>&1 || fail "the builder base copies the host's Rust toolchain: rustc not found"
sysroot=$(rustc --print sysroot)
rust_version=$(rustc --version | awk '{print $2}')
wanted=$(sed -n 's/^rust-version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml")
[ "$(printf '%s\n%s\n' "$wanted" "$rust_version" | sort -V | head -1)" = "$wanted" ] ||
  fail "the host's rustc $rust_version is older than Cargo.toml's rust-version $wanted"
builder_base=localhost/weir-builder-base:rust$rust_version-bookworm-r$base_recipe
if pm image exists "$builder_base"; then
  step "builder base: $builder_base (cached)"
else
  step "builder base: $builder_base (debootstrap + the host's toolchain from $sysroot)"
  t0=$SECONDS
  rootfs=$cache/builder-rootfs
  debootstrap_into "$rootfs" build-essential,pkg-config,ca-certificates
  # The toolchain without its docs (share/); cargo and rustc find their sysroot from where they are.
  mkdir -p "$rootfs/usr/local/rust/bin" "$rootfs/usr/local/cargo/bin"
  cp -a "$sysroot/lib" "$rootfs/usr/local/rust/"
  [ -d "$sysroot/libexec" ] && cp -a "$sysroot/libexec" "$rootfs/usr/local/rust/"
  for tool in cargo rustc rustdoc; do
    cp -a "$sysroot/bin/$tool" "$rootfs/usr/local/rust/bin/"
    ln -s "../../rust/bin/$tool" "$rootfs/usr/local/cargo/bin/$tool"
  done
  # The same PATH and CARGO_HOME as the official rust images, so the Dockerfile works on either.
  import_rootfs "$builder_base" "$rootfs" \
    --change 'ENV PATH=/usr/local/cargo/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'ENV CARGO_HOME=/usr/local/cargo' --change 'CMD ["/bin/bash"]'
  echo "built in $((SECONDS - t0)) s" >&2
fi

# --- the image ---------------------------------------------------------------------------------------
step "building $image"
t0=$SECONDS
t0_date=$(date -u +%Y-%m-%dT%H:%M:%SZ)
# `--format docker`: the OCI format has no HEALTHCHECK (podman drops it with a warning). The build's
# steps trust what the host trusts (its CA bundle mounted read-only): where HTTPS goes through a proxy
# with its own CA, as here, cargo reaches crates.io; nothing of it ends up in the image.
trust=()
[ -s /etc/ssl/certs/ca-certificates.crt ] &&
  trust=(-v /etc/ssl/certs/ca-certificates.crt:/etc/ssl/certs/ca-certificates.crt:ro)
pm build --format docker --network host "${trust[@]}" \
  --build-arg BUILDER_IMAGE="$builder_base" --build-arg RUNTIME_IMAGE="$runtime_base" \
  -t "$image" -f "$repo/Dockerfile" "$repo"
build_seconds=$((SECONDS - t0))
# Each change of the sources leaves the previous builder stage (~1 GB) and image untagged: drop those
# of earlier builds (found by their labels), keep this build's as the layer cache of the next.
for label in weir.stage=builder org.opencontainers.image.title=weir; do
  pm image prune -f --filter "label=$label" --filter "until=${t0_date}" >/dev/null || true
done
image_bytes=$(pm image inspect --format '{{.Size}}' "$image")
image_mb=$(((image_bytes + 500000) / 1000000))
echo "image $image: ${image_mb} MB, built in ${build_seconds} s" >&2

# --- the image's checks ------------------------------------------------------------------------------
step "checking the image"
wanted_version=$(sed -n 's/^version *= *"\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
version=$(pm run --rm --no-healthcheck --network host "$image" weir --version)
[ "$version" = "weir $wanted_version" ] || fail "weir --version in the image: '$version', wanted 'weir $wanted_version'"
echo "ok: $version" >&2

uid=$(pm run --rm --no-healthcheck --network host "$image" id -u)
[ "$uid" != 0 ] || fail "the container runs as root"
echo "ok: runs as uid $uid ($(pm image inspect --format '{{.Config.User}}' "$image"))" >&2

healthcheck=$(pm image inspect --format '{{json .Config.Healthcheck.Test}}' "$image")
[ "$healthcheck" = '["CMD","weir","healthcheck","--timeout","4s"]' ] || fail "HEALTHCHECK: $healthcheck"
echo "ok: HEALTHCHECK $healthcheck" >&2

command=$(pm image inspect --format '{{json .Config.Cmd}}' "$image")
[ "$command" = '["weir","serve","/pipelines"]' ] || fail "default command: $command"
echo "ok: CMD $command, volumes $(pm image inspect --format '{{json .Config.Volumes}}' "$image")" >&2

pm run --rm --no-healthcheck --network host -v "$repo/pipelines/demo:/pipelines:ro" "$image" weir validate /pipelines >&2 ||
  fail "weir validate /pipelines in the container"
echo "ok: weir validate /pipelines (the demo folder, read-only)" >&2

# --- weir serve --------------------------------------------------------------------------------------
step "weir serve"
if ! pm run --rm --no-healthcheck --network host "$image" weir serve --help >/dev/null 2>&1; then
  echo "container-test: serve not available in this build: the image, its checks and 'weir validate' passed" \
    "(${image_mb} MB, built in ${build_seconds} s); the run of the demo folder was not tested" >&2
  exit 1
fi

containers=()
volume=weir-container-test-$$
cleanup() {
  local id
  for id in "${containers[@]}"; do pm rm -f -t 0 "$id" >/dev/null 2>&1 || true; done
  pm volume rm -f "$volume" >/dev/null 2>&1 || true
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# Polls `$2` (a command) every half second until it succeeds or `$1` seconds pass.
wait_for() {
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.5
  done
}

# A simulator from the image on the host network, on a free loopback port (it prints its address).
start_sim() {
  local kind=$1 port id
  port=$(free_port)
  id=$(pm run -d --no-healthcheck --network host "$image" weir sim "$kind" --port "$port")
  containers+=("$id")
  # Any HTTP answer will do: the simulator is up.
  wait_for 30 curl -s -o /dev/null "http://127.0.0.1:$port/" || {
    pm logs "$id" >&2
    fail "weir sim $kind did not answer on 127.0.0.1:$port"
  }
  echo "http://127.0.0.1:$port"
}
commerce=$(start_sim commerce)
erp=$(start_sim erp)
company=$(curl -fsS "$erp/__sim/state" | python3 -c 'import json, sys; print(json.load(sys.stdin)["companyId"])')
echo "simulators: commerce $commerce, erp $erp (company $company)" >&2

# The engine as the image runs it, but on a free loopback port of the host network; the admin API's
# token from the environment (passed by name: its value is not on podman's command line).
listen=127.0.0.1:$(free_port)
WEIR_ADMIN_TOKEN=$(python3 -c 'import secrets; print(secrets.token_hex(16))')
export WEIR_ADMIN_TOKEN
weir_id=$(without_timer_noise pm run -d --network host --health-interval disable \
  -v "$repo/pipelines/demo:/pipelines:ro" -v "$volume:/var/lib/weir" \
  -e WEIR_LISTEN="$listen" -e WEIR_ADMIN_TOKEN \
  -e COMMERCE_URL="$commerce" -e ERP_URL="$erp" -e ERP_COMPANY="$company" \
  -e ERP_TOKEN_URL="$erp/tenant-1/oauth2/v2.0/token" \
  "$image")
containers+=("$weir_id")

running() { [ "$(pm inspect --format '{{.State.Running}}' "$weir_id")" = true ]; }
ready() {
  running || {
    pm logs "$weir_id" >&2
    fail "weir serve exited ($(pm inspect --format '{{.State.ExitCode}}' "$weir_id")) before it was ready"
  }
  curl -fs -o /dev/null "http://$listen/readyz"
}
t0=$SECONDS
wait_for "$ready_deadline" ready || {
  pm logs "$weir_id" >&2
  curl -sS "http://$listen/readyz" >&2 || true
  fail "/readyz not 200 within ${ready_deadline} s"
}
echo "ok: /readyz 200 after $((SECONDS - t0)) s: $(curl -sS "http://$listen/readyz")" >&2
pm healthcheck run "$weir_id" >&2 || fail "the image's HEALTHCHECK failed on a ready server"
echo "ok: podman healthcheck run: healthy" >&2

api() { curl -sS -H "Authorization: Bearer $WEIR_ADMIN_TOKEN" "$@"; }
status=$(curl -sS -o /dev/null -w '%{http_code}' "http://$listen/api/runs")
[ "$status" = 401 ] || fail "/api/runs without the token answered $status, wanted 401"
echo "ok: /api/runs without the token: 401" >&2

# The demo's pipelines have no schedule: each runs when asked (`POST /api/pipelines/{name}/run`).
pipeline=${WEIR_TEST_PIPELINE:-inventory}
status=$(api -o /dev/null -w '%{http_code}' -X POST "http://$listen/api/pipelines/$pipeline/run")
[ "$status" = 202 ] || fail "POST /api/pipelines/$pipeline/run answered $status, wanted 202"
echo "ok: POST /api/pipelines/$pipeline/run: 202" >&2

# Its run ended: succeeded, with records received and delivered (to the commerce simulator).
ran() {
  api -f "http://$listen/api/runs?pipeline=$pipeline" | PIPELINE=$pipeline python3 -c '
import json, os, sys
runs = json.load(sys.stdin)
runs = runs.get("runs", runs) if isinstance(runs, dict) else runs
mine = [r for r in runs if r.get("pipeline") == os.environ["PIPELINE"]]
for r in mine:
    records = r.get("records") or (r.get("summary") or {}).get("records") or {}
    if r.get("status") == "failed":
        print("run failed: %s" % r.get("error"), file=sys.stderr)
        sys.exit(2)
    if r.get("status") == "succeeded" and records.get("received", 0) > 0 and records.get("delivered", 0) > 0:
        print("run %s: %s, trigger %s, records %s" % (r.get("id"), r["status"], r.get("trigger"), json.dumps(records)), file=sys.stderr)
        sys.exit(0)
sys.exit(1)'
}
t0=$SECONDS
deadline=$((SECONDS + run_deadline))
until ran; do
  code=$?
  if ((code == 2 || SECONDS >= deadline)); then
    pm logs "$weir_id" >&2
    api "http://$listen/api/runs" >&2 || true
    fail "no succeeded run of $pipeline with records delivered in /api/runs (within ${run_deadline} s)"
  fi
  sleep 0.5
done
echo "ok: $pipeline ran in the container ($((SECONDS - t0)) s to a succeeded run)" >&2

without_timer_noise pm stop -t 60 "$weir_id" >/dev/null
exit_code=$(pm inspect --format '{{.State.ExitCode}}' "$weir_id")
[ "$exit_code" = 0 ] || {
  pm logs "$weir_id" >&2
  fail "weir serve exited $exit_code after SIGTERM, wanted 0"
}
echo "ok: SIGTERM → exit 0" >&2

# The state outlived the container: a new one on the same volume reads the run history.
history=$(pm run --rm --no-healthcheck --network host -v "$volume:/var/lib/weir" "$image" weir runs --json "$pipeline") ||
  fail "weir runs on the state volume"
kept=$(PIPELINE=$pipeline python3 -c '
import json, os, sys
print(sum(1 for r in json.load(sys.stdin) if r.get("pipeline") == os.environ["PIPELINE"] and r.get("status") == "succeeded"))' <<<"$history")
((kept > 0)) || fail "no succeeded run of $pipeline in the state volume's history: $history"
echo "ok: the state volume keeps the history ($kept succeeded run(s) of $pipeline, read by a new container)" >&2

echo "container-test: passed in $((SECONDS - started)) s (image ${image_mb} MB, built in ${build_seconds} s)" >&2
