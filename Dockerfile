# The compose `functions` service (docker-compose.yml), and self-hosting without compose:
# every function as a prebuilt release binary under the project's Lambda emulator
# (local/lambda-emulator), which migrates the database, serves the routes on port 9000, runs
# the schedules and invokes `email` after each commit that queues mail. Nothing compiles
# when a container starts.
#
# The runtime stage holds the binaries and what they need at run time, nothing else: the
# route table and the migrations are compiled into them. Build and runtime share one Debian
# release, so the binaries find the glibc they were linked against. Rust 1.94+ (sqlx 0.9's
# minimum); plain Dockerfile syntax, so the classic builder works too. Built without the
# embedded SQLite (`--no-default-features`): compose gives the functions MariaDB.
ARG RUST_IMAGE=rust:1.95-slim-trixie
ARG RUNTIME_IMAGE=debian:trixie-slim

FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Packed relative relocations, as `make` builds them (the Makefile says why): this image's
# glibc, and the runtime image's, read DT_RELR (2.36+).
ENV CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_RUSTFLAGS="-C link-arg=-Wl,-z,pack-relative-relocs"
COPY . .
# Built as SAM builds them (`make bench`'s RELEASE_BUILD says why): `email` and the emulator
# apart, so that their dependencies' features stay out of the other functions.
RUN cargo build --release --locked --no-default-features --workspace --bins \
        --exclude email --exclude lambda-emulator \
    && cargo build --release --locked --no-default-features -p email \
    && cargo build --release --locked -p lambda-emulator \
    && mkdir /out \
    && for dir in functions/*/; do cp "target/release/$(basename "$dir")" /out/; done \
    && cp target/release/lambda-emulator /out/ \
    && rm /out/floor

FROM ${RUNTIME_IMAGE}
# CA roots for SMTP over TLS and for Amazon SES.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 10001 briefthreat \
    && mkdir -p /app/data && chown briefthreat /app/data
COPY --from=build /out/ /app/bin/
WORKDIR /app
USER briefthreat
ENV DATA_DIR=/app/data
EXPOSE 9000
# The Runtime and Invoke APIs stay on the container's loopback (the emulator's default).
CMD ["/app/bin/lambda-emulator", "--bin-dir", "/app/bin", "--listen", "0.0.0.0:9000"]
