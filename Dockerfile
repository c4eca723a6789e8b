# The compose `functions` and `scheduler` services (docker-compose.yml): every function as a
# prebuilt release binary under cargo-lambda's Lambda emulator (local/serve_functions.py).
# Nothing compiles when a container starts.
#
# Both stages use the same Rust image: the emulator runs `cargo metadata` on the workspace
# at start (offline, nothing fetched), so the runtime stage needs cargo and the manifests.
# Rust 1.94+ (sqlx 0.9's minimum); plain Dockerfile syntax, so the classic builder works too.
ARG RUST_IMAGE=rust:1.95-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --workspace --bins \
    && mkdir /out \
    && for dir in functions/*/; do cp "target/release/$(basename "$dir")" /out/; done

FROM ${RUST_IMAGE}
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv \
    && rm -rf /var/lib/apt/lists/*
# The Makefile's version. --no-deps: ziglang (400 MB) is only for cross-compiling builds.
ARG CARGO_LAMBDA_VERSION=1.9.2
RUN python3 -m venv /opt/cargo-lambda \
    && /opt/cargo-lambda/bin/pip install --no-cache-dir --disable-pip-version-check --no-deps \
       cargo-lambda==${CARGO_LAMBDA_VERSION}
RUN useradd --create-home --uid 10001 briefthreat
WORKDIR /app
# The source tree (manifests, the route table, local/*.py) and the binaries in bin/.
COPY --chown=briefthreat . .
COPY --from=build /out/ /app/bin/
RUN mkdir -p /app/data && chown briefthreat /app/data
USER briefthreat
ENV CARGO_LAMBDA=/opt/cargo-lambda/bin/cargo-lambda \
    CARGO_NET_OFFLINE=true \
    DATA_DIR=/app/data
EXPOSE 9000
CMD ["python3", "local/serve_functions.py", "--bin-dir", "/app/bin", "--address", "0.0.0.0", "--port", "9000"]
