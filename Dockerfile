# A small static image of the binary: docs/ci.md#the-container-image
#
#   docker build -t upmsync .                 # FROM scratch: the binary and CA certificates only
#   docker build --target ci -t upmsync:ci .  # the same binary on Alpine, with a shell for CI jobs
#   docker run --rm -v "$PWD:/work" -w /work -e JIRA_ADMIN_USER -e JIRA_ADMIN_PASSWORD upmsync plan
#
# The binary is linked statically against musl and speaks TLS through rustls (no OpenSSL); it trusts
# the CA certificates at /etc/ssl/certs/ca-certificates.crt (or SSL_CERT_FILE / SSL_CERT_DIR).
# It is built without the simulator (`--no-default-features`), so without its two commands.

# --- build: Alpine's Rust is musl-native, so the binary is static ---
FROM rust:1.89-alpine AS build
RUN apk add --no-cache musl-dev gcc
WORKDIR /src
COPY . .
RUN cargo build --locked --release -p upmsync --bin upmsync --no-default-features \
 && strip target/release/upmsync

# --- ci: a shell, curl and the certificates, for GitLab CI and Jenkins jobs (`--target ci`) ---
FROM alpine:3.20 AS ci
RUN apk add --no-cache ca-certificates curl
COPY --from=build /src/target/release/upmsync /usr/local/bin/upmsync
RUN adduser -D -u 10001 upmsync
USER upmsync
CMD ["upmsync", "--help"]

# --- the default image: nothing but the binary and the certificates ---
FROM scratch
COPY --from=ci /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY --from=build /src/target/release/upmsync /usr/local/bin/upmsync
# An unprivileged user whose home holds the download cache (`--cache-dir` or UPMSYNC_CACHE_DIR to move it).
COPY --from=ci --chown=10001:10001 /home/upmsync /home/upmsync
USER 10001:10001
ENV HOME=/home/upmsync
ENTRYPOINT ["/usr/local/bin/upmsync"]
CMD ["--help"]
