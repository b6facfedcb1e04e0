# Weir's engine image: `weir serve /pipelines` runs every pipeline of the client folder mounted there,
# with its state on the volume /var/lib/weir. docs/container.md says how to build, run and check it.
#
# The base images are build arguments, so the same file builds from a public registry (the defaults)
# and from local images where none is reachable (scripts/container-test.sh passes its own). The builder
# only needs `cargo` and `rustc` on PATH (Rust 1.95, Cargo.toml's `rust-version`), a C compiler (SQLite
# and mimalloc are C) and CARGO_HOME=/usr/local/cargo; the runtime a glibc as new as the builder's.
ARG BUILDER_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILDER_IMAGE} AS builder
# Lets a script clear old builder stages (`podman image prune --filter label=weir.stage=builder`).
LABEL weir.stage=builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# The release profile keeps line tables for profiling; the image ships the binary without them.
ENV CARGO_PROFILE_RELEASE_DEBUG=0 \
    CARGO_PROFILE_RELEASE_STRIP=debuginfo
# The crates and the target folder live in cache mounts: a rebuild after a source change compiles
# Weir alone, not its ~300 dependencies. The binary is copied out of the mount in the same step.
RUN --mount=type=cache,id=weir-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=weir-target,target=/src/target \
    cargo build --release --locked --bin weir \
    && install -m 0755 target/release/weir /usr/local/bin/weir

FROM ${RUNTIME_IMAGE}
# TLS to real systems verifies against the system's roots; a base image without them gets them here.
RUN if [ ! -s /etc/ssl/certs/ca-certificates.crt ]; then \
        apt-get update \
        && apt-get install -y --no-install-recommends ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && useradd --system --uid 10001 --user-group --home-dir /var/lib/weir --shell /usr/sbin/nologin weir \
    && mkdir -p /pipelines /var/lib/weir \
    && chown weir:weir /var/lib/weir
COPY --from=builder /usr/local/bin/weir /usr/local/bin/weir

LABEL org.opencontainers.image.title="weir" \
      org.opencontainers.image.description="Declarative integration engine: YAML pipelines between an ERP and Adobe Commerce" \
      org.opencontainers.image.licenses="Apache-2.0"

# `0.0.0.0` opens the admin API to the network, which `weir serve` allows only with a token: set
# WEIR_ADMIN_TOKEN, or mount a file and add `--admin-token-file PATH` (without either it exits 2).
# The state (checkpoints, dead letters, run history) outlives the container; the client folder is
# mounted read-only at /pipelines, so files that pipelines write (`${env:WEIR_OUT:-out}`) go to the
# volume too.
ENV WEIR_STATE=/var/lib/weir/state.db \
    WEIR_LISTEN=0.0.0.0:8080 \
    WEIR_OUT=/var/lib/weir/out \
    WEIR_LOG=info
VOLUME ["/var/lib/weir"]
WORKDIR /var/lib/weir
USER weir:weir
EXPOSE 8080

# `/readyz`: the state store answers and the pipelines are loaded; the reason is kept in the health
# log when not (`docker inspect`, `podman healthcheck run`). Needs no curl or shell in the image.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["weir", "healthcheck", "--timeout", "4s"]

# SIGTERM (docker stop, podman stop) drains in-flight records and saves checkpoints before exit.
STOPSIGNAL SIGTERM
CMD ["weir", "serve", "/pipelines"]
