// `npm run build`: the gateway as bundled, minified JavaScript in dist/, which the image runs (`node app/main.js`).
// Minified, the module sources V8 keeps in the heap are smaller: an idle gateway holds about 9 MB less than with
// tsc's one file per module (bench/README.md, "Memory"). Type checking stays with `tsc --noEmit` (npm test).
//
// Layout: dist/app/ holds main.js and the chunks of the parts loaded only when configured (flows, adapters,
// downlink, each Kafka client), each with a source map beside it (Node reads them with --enable-source-maps). A
// module finds its files relative to its own URL, which in a bundle is its chunk's, so what they read sits beside
// the chunks: the status page's assets/, the gateway's Node-RED nodes/ and the shipped default-flows.json.
// dist/package.json is the version /healthz reports (app/main.js reads ../package.json).
//
// Left out of the bundle and loaded from node_modules: native addons (classic-level, serialport), packages that
// read their own files at run time (node-red, @platformatic/wasm-utils), kafkajs (cloud-sync/kafkajs-timers.ts
// patches a module inside it, which must be the copy the client uses) and pino-pretty (development logs). Modules
// loaded with createRequire (yaml, aedes-persistence-level) are not bundled either.
import { cpSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { build } from 'esbuild';

const root = join(import.meta.dirname, '..');
const out = join(root, 'dist');

const EXTERNAL = [
  'classic-level',
  'serialport',
  '@serialport/*',
  'modbus-serial',
  'node-red',
  '@platformatic/wasm-utils',
  'kafkajs',
  'pino-pretty',
];

rmSync(out, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: ['app/main.ts'],
  outdir: join(out, 'app'),
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node22',
  minify: true,
  // Function and class names stay as written: stack traces and logs name them.
  keepNames: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  external: EXTERNAL,
  // Bundled CommonJS packages require Node's own modules; an ES module has no `require` of its own.
  banner: {
    js: "import { createRequire as __gwCreateRequire } from 'node:module'; const require = __gwCreateRequire(import.meta.url);",
  },
  logLevel: 'warning',
  metafile: true,
});
for (const [from, to] of [
  ['package.json', 'package.json'],
  ['gateway/status/assets', 'app/assets'],
  ['flows/nodes', 'app/nodes'],
  ['flows/default-flows.json', 'app/default-flows.json'],
]) {
  cpSync(join(root, from as string), join(out, to as string), { recursive: true });
}
const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
console.log(`dist/app: ${Object.keys(result.metafile.outputs).length} files, ${(bytes / 1e6).toFixed(1)} MB`);
