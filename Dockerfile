# The gateway image for balena (and any container runtime). Node 24 runs the TypeScript sources directly.
FROM node:24-bookworm-slim

WORKDIR /usr/src/app
ENV NODE_ENV=production \
    GATEWAY_DATA_DIR=/data \
    UDEV=on

COPY package.json package-lock.json ./
# classic-level and serialport ship prebuilt binaries for linux arm/arm64/x64: no compiler needed.
RUN npm ci --omit=dev --no-audit --no-fund && npm cache clean --force

COPY gateway ./gateway
COPY cloud-sync ./cloud-sync
COPY flows ./flows

VOLUME /data
# MQTT, MQTT over TLS, HTTP (health, metrics, MQTT over WebSocket at /mqtt, flow editor at /editor)
EXPOSE 1883 8883 1880
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.GATEWAY_HTTP_PORT||1880)+'/healthz').then(r=>process.exit(r.status<500?0:1),()=>process.exit(1))"
CMD ["node", "gateway/main.ts"]
