# Images for docker-compose.yml: "ldap" (stock Debian slapd with the aaf-sync
# schema) and "app" (the aaf-sync binary, the sample and the configs).
FROM rust:1-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bin aaf-sync

FROM debian:bookworm-slim AS ldap
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends slapd ldap-utils \
 && rm -rf /var/lib/apt/lists/*
COPY scripts/slapd-test-instance.sh /opt/aaf-sync/scripts/
COPY schema/ /opt/aaf-sync/schema/
ENV LISTEN_HOST=0.0.0.0
EXPOSE 389
# resume: keeps the data of the volume mounted on /var/lib/aaf-ldap
CMD bash /opt/aaf-sync/scripts/slapd-test-instance.sh resume /var/lib/aaf-ldap 389 \
 && exec tail --pid="$(cat /var/lib/aaf-ldap/slapd.pid)" -f /dev/null

FROM debian:bookworm-slim AS app
# libssl3: the SFTP client (ssh2/libssh2) links OpenSSL
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends ca-certificates libssl3 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/target/release/aaf-sync /usr/local/bin/aaf-sync
COPY config/ /etc/aaf-sync/
COPY samples/ /opt/aaf-sync/samples/
ENTRYPOINT ["aaf-sync"]
