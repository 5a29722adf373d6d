// The gateway's architecture, checked by `npm run check:arch` (part of `npm test`). Layers in the order a message
// travels: gateway/ (broker, store, adapters) -> flows/ (Node-RED) -> cloud-sync/ (Kafka) -> app/ (the composition
// root, which wires them together). A layer imports only the layers before it; nothing imports app/ but tests and
// bench. The Kafka client libraries stay behind cloud-sync's sinks and sources.
const KAFKA_CLIENTS = '^node_modules/(kafkajs|@platformatic/kafka)/';

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'An import cycle: the modules in it cannot be understood, tested or loaded one without the other.',
      from: {},
      to: { circular: true },
    },
    {
      name: 'gateway-imports-no-upper-layer',
      severity: 'error',
      comment: 'gateway/ is the bottom layer: it imports neither flows/, cloud-sync/ nor app/.',
      from: { path: '^gateway/' },
      to: { path: '^(flows|cloud-sync|app)/' },
    },
    {
      name: 'flows-imports-no-upper-layer',
      severity: 'error',
      comment: 'flows/ may import gateway/, never cloud-sync/ nor app/.',
      from: { path: '^flows/' },
      to: { path: '^(cloud-sync|app)/' },
    },
    {
      name: 'cloud-sync-imports-no-app',
      severity: 'error',
      comment: 'cloud-sync/ may import gateway/ and flows/, never app/.',
      from: { path: '^cloud-sync/' },
      to: { path: '^app/' },
    },
    {
      name: 'only-tests-and-bench-import-app',
      severity: 'error',
      comment: 'app/ is the composition root: parts get what they need handed in, they do not reach up for it.',
      from: { path: '^(gateway|flows|cloud-sync|device-sim)/' },
      to: { path: '^app/' },
    },
    {
      name: 'kafka-clients-behind-sinks-and-sources',
      severity: 'error',
      comment:
        'Only cloud-sync/sinks/, cloud-sync/sources/ (and kafkajs-timers.ts, which patches kafkajs internals), ' +
        "device-sim's verifier reader, bench/ and test/ import kafkajs or @platformatic/kafka.",
      from: {
        pathNot: [
          '^cloud-sync/sinks/',
          '^cloud-sync/sources/',
          '^cloud-sync/kafkajs-timers[.]ts$',
          '^device-sim/kafka-read[.]ts$',
          '^bench/',
          '^test/',
        ],
      },
      to: { path: KAFKA_CLIENTS },
    },
    {
      name: 'product-imports-no-test',
      severity: 'error',
      comment: 'Product code does not depend on test harnesses, fixtures or tests.',
      from: { path: '^(app|gateway|flows|cloud-sync)/' },
      to: { path: '^test/' },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^([.]cache|[.]tools|data|bench/results|test-results|test/interop)/' },
    // TypeScript 7 ships no JavaScript compiler API yet: swc parses the sources.
    parser: 'swc',
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.js', '.mjs', '.cjs', '.json'],
      mainFields: ['module', 'main', 'types'],
    },
    reporterOptions: { text: { highlightFocused: true } },
  },
};
