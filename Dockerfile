# syntax=docker/dockerfile:1
# Waygate Slack bot. Build: docker build -t waygate .
# Run:   docker run -p 3000:3000 -v waygate-data:/data -e SLACK_BOT_TOKEN=… -e SLACK_SIGNING_SECRET=… waygate

# ---- build: compile TypeScript and native modules, then drop dev dependencies ----
FROM node:20-bookworm-slim AS build
WORKDIR /app

# better-sqlite3 falls back to building from source (node-gyp) when no prebuilt binary fits.
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*

# Dependencies first so the layer is cached until the lockfile changes.
COPY package.json package-lock.json ./
RUN npm ci

# Only what `npm run build` compiles (tsconfig.build.json) and the runtime stage takes: stand-ins, tests and
# benchmarks stay out even where .dockerignore is not applied.
COPY tsconfig.json tsconfig.build.json manifest.yml ./
COPY src ./src
COPY commands ./commands
COPY jobs ./jobs
RUN npm run build \
 && npm prune --omit=dev

# ---- runtime: only what `node dist/src/main.js` needs ----
FROM node:20-bookworm-slim AS runtime
WORKDIR /app

ENV NODE_ENV=production \
    WAYGATE_DB=/data/waygate.db \
    PORT=3000

# Application files stay root-owned (read-only to the app); only /data is writable by `node`.
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY --from=build /app/package.json ./package.json
COPY --from=build /app/manifest.yml ./manifest.yml
# Procedure definitions (data, read at start-up).
COPY sops ./sops

# tini as PID 1 reaps the processes maintenance commands leave behind and forwards SIGTERM to node.
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/*

# Create /data owned by node before declaring the volume, so a fresh named volume inherits the ownership.
RUN mkdir -p /data && chown node:node /data
VOLUME /data

USER node
EXPOSE 3000

# No curl in the slim image: Node 20's global fetch does the probe.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.PORT||3000)+'/health').then(r=>process.exit(r.ok?0:1)).catch(()=>process.exit(1))"

ENTRYPOINT ["/usr/bin/tini", "--"]
CMD ["node", "dist/src/main.js"]
