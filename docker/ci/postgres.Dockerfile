# CI stand-in for the official postgres image (no image registry is reachable in CI): Debian's
# PostgreSQL on the local Debian base, with the same interface compose.yaml relies on:
# POSTGRES_USER / POSTGRES_PASSWORD / POSTGRES_DB, PGDATA=/var/lib/postgresql/data, port 5432,
# pg_isready on PATH. Debian bookworm ships PostgreSQL 15, so the tag's major version is nominal.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
RUN mkdir -p /etc/postgresql-common \
 && echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf \
 && apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends postgresql-15 >/dev/null \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/cache/apt/archives/*.deb \
 && mkdir -p /var/run/postgresql /var/lib/postgresql/data \
 && chown -R postgres:postgres /var/run/postgresql /var/lib/postgresql \
 && chmod 2777 /var/run/postgresql
ENV PATH=/usr/lib/postgresql/15/bin:$PATH \
    PGDATA=/var/lib/postgresql/data
COPY postgres-entrypoint.sh /usr/local/bin/docker-entrypoint.sh
VOLUME /var/lib/postgresql/data
EXPOSE 5432
STOPSIGNAL SIGINT
LABEL org.opencontainers.image.description="Local stand-in for the official postgres image, built by docker/ci-setup.sh"
ENTRYPOINT ["docker-entrypoint.sh"]
CMD ["postgres"]
