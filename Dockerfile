# tillcast app image: one image, one role per container (see docker-compose.yml).
# Debian-based Node 22: tfjs-node 4.22 does not support Node >= 23, and its
# native binding needs glibc.
FROM node:22-bookworm-slim AS build
RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip make g++ ca-certificates \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
COPY scripts ./scripts
COPY patches ./patches
# `npm install`, as the README says, not `npm ci`: the lock file cannot record every
# platform's optional dependencies (@swc/core, chdb), so `npm ci` refuses it; `npm install`
# installs the locked versions all the same. Dependency install scripts stay off (tfjs-node's
# would download libtensorflow); our own script provisions the native TensorFlow library
# from the tensorflow-cpu wheel.
RUN npm install --ignore-scripts --no-audit --no-fund && npx patch-package \
    && TILLCAST_REQUIRE_NATIVE_TF=1 bash scripts/provision-tensorflow.sh
# .dockerignore keeps .env (the passwords), local data and build output out of this copy.
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
# The forecaster's `models` volume is mounted here (MODELS_DIR=/models). Docker fills an
# empty named volume from the image's directory, owner included, so it must exist and
# belong to `node`; otherwise Docker creates it as root and training cannot write.
RUN mkdir -p /models && chown node:node /models
USER node
ENTRYPOINT ["node", "dist/cli/tillcast.js"]
CMD ["--help"]
