# The Ratchet server image. `docker compose up` builds or pulls it; see docs/self-hosting.md.
# BASE_IMAGE is any Node 24 image on Debian (CI builds a local stand-in under the same name, as no
# image registry is reachable there: docker/ci-setup.sh).
ARG BASE_IMAGE=node:24-bookworm-slim

# Production dependencies only. Optional dependencies are left out too: they are the embedded
# Postgres binaries and esbuild's, which a server with DATABASE_URL never loads.
FROM ${BASE_IMAGE} AS dependencies
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --omit=optional --ignore-scripts --no-audit --no-fund \
 && npm cache clean --force

FROM ${BASE_IMAGE}
LABEL org.opencontainers.image.title="Ratchet server" \
      org.opencontainers.image.description="Durable background tasks for TypeScript, with Postgres as the only infrastructure" \
      org.opencontainers.image.licenses=MIT
ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=3030
WORKDIR /app
COPY --from=dependencies /app/node_modules node_modules
# Node 24 runs the TypeScript sources as they are (type stripping).
COPY package.json package-lock.json ./
COPY bin bin
COPY server server
COPY sql sql
COPY views views
# `ratchet runner` (Compose's runner service) runs from the same image.
COPY sdk sdk
COPY worker worker
RUN ln -s /app/bin/ratchet.js /usr/local/bin/ratchet
USER node
EXPOSE 3030
# /readyz answers 200 once the database is reachable and migrated.
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.PORT}/readyz`).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
CMD ["node", "server/main.ts"]
