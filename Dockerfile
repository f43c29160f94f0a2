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
# Dependency install scripts stay off (tfjs-node's would download libtensorflow);
# our own script provisions the native TensorFlow library from the tensorflow-cpu wheel.
RUN npm ci --ignore-scripts && npx patch-package && TILLCAST_REQUIRE_NATIVE_TF=1 bash scripts/provision-tensorflow.sh
COPY . .
RUN npm run build && npm prune --omit=dev --ignore-scripts

FROM node:22-bookworm-slim
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app /app
USER node
ENTRYPOINT ["node", "dist/cli/tillcast.js"]
CMD ["--help"]
