# CI stand-in for the official node:24-bookworm-slim (no image registry is reachable in CI): the
# local Debian base plus the Node 24 binary of the `node` npm package and the host's npm, laid out
# as the official image does (/usr/local/bin, a `node` user with uid 1000). It also trusts the
# certificate authorities the host trusts, so `npm ci` in an image build works behind the same
# TLS-inspecting egress as the host's npm.
ARG DEBIAN_IMAGE=debian:bookworm-slim
FROM ${DEBIAN_IMAGE}
COPY node /usr/local/bin/node
COPY npm /usr/local/lib/node_modules/npm
COPY ca-certificates.crt /usr/local/share/ratchet-ci/ca-certificates.crt
ENV NODE_EXTRA_CA_CERTS=/usr/local/share/ratchet-ci/ca-certificates.crt
RUN ln -s ../lib/node_modules/npm/bin/npm-cli.js /usr/local/bin/npm \
 && ln -s ../lib/node_modules/npm/bin/npx-cli.js /usr/local/bin/npx \
 && groupadd --gid 1000 node \
 && useradd --uid 1000 --gid node --shell /bin/bash --create-home node \
 && node --version && npm --version
LABEL org.opencontainers.image.description="Local stand-in for node:24-bookworm-slim, built by docker/ci-setup.sh"
CMD ["node"]
