# The gateway image for balena (and any container runtime). A build stage bundles the TypeScript sources into
# minified JavaScript (`npm run build`, app/build.ts, into dist/app/); the image runs that build. An idle gateway holds
# about 30 MB less than with Node's type stripping, which `./gw start` uses (bench/README.md, "Memory").
# The official node image has no udev and balena's UDEV switch only works on balenalib images in privileged
# containers: stable serial names come from the host instead (docker-compose.yml maps /dev/serial/by-id/... paths).
FROM node:24-bookworm-slim AS build
WORKDIR /usr/src/app
COPY package.json package-lock.json tsconfig.json ./
RUN npm ci --no-audit --no-fund
COPY app ./app
COPY gateway ./gateway
COPY cloud-sync ./cloud-sync
COPY flows ./flows
RUN npm run -s build

FROM node:24-bookworm-slim

WORKDIR /usr/src/app
# GATEWAY_KAFKA_BROKERS empty: a new device buffers and health says "not configured" until the fleet variable is set.
# The V8 heap is sized by the gateway, not by the box: V8 scales its young generation and heap limit with the host's
# memory, and through a long Kafka outage and its drain the heap grew to 410-490 MB committed around a live set of
# about 80 MB (bench/README.md, "Memory through a Kafka outage"). glibc's malloc keeps up to 8 arenas per core, one
# for each of the store's threads, each holding what it freed: 2 kept the RSS 8-11 % lower at the peak of an outage's
# drain. Device variables NODE_OPTIONS and MALLOC_ARENA_MAX replace these.
ENV NODE_ENV=production \
    NODE_OPTIONS="--max-semi-space-size=16 --max-old-space-size=384" \
    MALLOC_ARENA_MAX=2 \
    GATEWAY_DATA_DIR=/data \
    GATEWAY_KAFKA_BROKERS=

COPY package.json package-lock.json ./
# Production dependencies only. classic-level and serialport ship prebuilt binaries for linux arm/arm64/x64 in their
# tarballs (test/unit/deployment.test.ts checks arm64): no compiler needed. `npm prune` drops a dev package npm ci
# keeps because it satisfies an optional peer (typescript for i18next); node-sql-parser keeps only the PostgreSQL
# build the rule SQL imports (flows/sql/compile.ts), 89 MB -> 3 MB.
RUN npm ci --omit=dev --no-audit --no-fund \
 && npm prune --omit=dev --no-audit --no-fund \
 && cd node_modules/node-sql-parser \
 && find build -type f ! -name 'postgresql.*' -delete && rm -rf umd ast index.js.map \
 && cd ../.. && npm cache clean --force

# The build: main.js and its chunks, with the status page's assets, the shipped flows and the gateway's Node-RED
# nodes beside them. The packages the bundle leaves out load from node_modules.
COPY --from=build /usr/src/app/dist/app ./app

# Not root: the serial lines mapped in are group dialout (as on the host), the data volume belongs to node.
RUN usermod -a -G dialout node && mkdir -p /data && chown node:node /data
USER node
VOLUME /data
# MQTT, MQTT over TLS, HTTP (health, metrics, MQTT over WebSocket at /mqtt, flow editor at /editor)
EXPOSE 1883 8883 1880
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.GATEWAY_HTTP_PORT||1880)+'/healthz').then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))"
CMD ["node", "app/main.js"]
