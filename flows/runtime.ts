// The embedded Node-RED runtime and editor: operators shape what leaves the box with flows. Node-RED runs on the
// gateway's own Express 4 app and HTTP server; the gateway nodes (flows/nodes/) reach the broker and the durable
// outbox through the in-process GatewayBus handed over in the settings key `gatewayFlows` (RED.settings).
import { copyFile, mkdir, stat } from 'node:fs/promises';
import type { Server } from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Express, Router } from 'express';
import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, type Registry } from 'prom-client';
import type { GatewayBus } from '../gateway/bus.ts';
import { compileKeyTemplate } from '../gateway/config/template.ts';
import { GatewayError } from '../gateway/errors.ts';
import { SYSTEM_NODE_FILES } from '../gateway/limits/editor.ts';
import { isLoopback } from '../gateway/limits/loopback.ts';
import type { EditorSecurityConfig } from '../gateway/limits/schema.ts';
import type { Part, PartHealth } from '../gateway/part.ts';
import { nodeRedLogHandler } from './node-red-log.ts';
import type { FlowsConfig } from './schema.ts';
import { compileRule } from './sql/compile.ts';
import { CompletionTracker, type FlowResult } from './tracker.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Absolute: Node-RED silently skips a relative nodesDir. */
export const NODES_DIR = path.join(here, 'nodes');
export const DEFAULT_FLOWS_FILE = path.join(here, 'default-flows.json');
const FLOW_FILE = 'flows.json';

export interface FlowRuntimeContext {
  config: FlowsConfig;
  bus: GatewayBus;
  log: Logger;
  metrics: Registry;
  app: Express;
  server: Server;
  dataDir: string;
  /** security.editor: node files allowed back in. Absent: none. */
  security?: EditorSecurityConfig;
}

/** What the gateway nodes find in `RED.settings.gatewayFlows`. */
export interface GatewayFlowsSettings {
  bus: GatewayBus;
  tracker: CompletionTracker;
  compileRule: typeof compileRule;
  compileKeyTemplate: typeof compileKeyTemplate;
}

// The slice of the node-red module this file uses (the package ships no types).
interface NodeRed {
  init(server: Server, settings: Record<string, unknown>): void;
  start(): Promise<void>;
  stop(): Promise<void>;
  events: { once(event: string, fn: () => void): void; off(event: string, fn: () => void): void };
  httpAdmin: Router;
  httpNode: Router;
  hooks: {
    add(name: string, fn: (event: never) => void): void;
    remove(name: string): void;
  };
  runtime: { flows: { getFlows(opts: { req?: unknown }): Promise<{ flows: unknown[]; rev: string }> } };
}
/** The parts of Express' request and response the deploy log reads (req.user is set by Node-RED's adminAuth). */
interface AdminRequest {
  method: string;
  path: string;
  headers: Record<string, string | string[] | undefined>;
  user?: { username?: string };
  socket: { remoteAddress?: string };
}
interface AdminResponse {
  statusCode: number;
  once(event: 'finish', fn: () => void): void;
}
interface SendEvent {
  msg: { _msgid?: string };
  destination: { id: string };
}
interface CompleteEvent {
  msg: { _msgid?: string } | undefined;
  node: { id: string };
  error?: unknown;
}
const HOOK = 'gatewayFlows';
/** Node-RED is a process-wide singleton: it can be initialised once per process. */
let embeddedInProcess = false;

/** Stable error code for a flows runtime that cannot start; `cause` holds Node-RED's error. */
export class FlowsError extends GatewayError {
  override name = 'FlowsError';
  constructor(message: string, options?: { cause?: unknown }) {
    super('GW_ERR_FLOWS', message, options);
  }
}

export class FlowRuntime implements Part {
  /** Part name in the gateway's health report. */
  readonly name = 'flows';
  readonly #ctx: FlowRuntimeContext;
  readonly #log: Logger;
  readonly #tracker: CompletionTracker;
  readonly #results: Counter<'result'>;
  readonly #duration: Histogram;
  readonly #editorRefusals: Counter<'reason'>;
  #red: NodeRed | undefined;
  #started = false;
  /** Whether the editor and admin API are mounted (never without adminAuth off loopback). */
  #editorServed = false;
  #startedAt = 0;
  readonly #counts: Record<FlowResult, number> = { completed: 0, error: 0, timeout: 0 };

  constructor(ctx: FlowRuntimeContext) {
    this.#ctx = ctx;
    this.#log = ctx.log.child({ part: 'flows' });
    this.#results = new Counter({
      name: 'gateway_flow_messages_total',
      help: 'Messages that entered a flow through a gateway in node and left it, by result (completed, error, timeout).',
      labelNames: ['result'],
      registers: [ctx.metrics],
    });
    this.#duration = new Histogram({
      name: 'gateway_flow_message_seconds',
      help: 'Time from a gateway in node emitting a message until every node in the flow completed it.',
      buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30],
      registers: [ctx.metrics],
    });
    this.#editorRefusals = new Counter({
      name: 'gateway_editor_refusals_total',
      help: 'Editor and admin API requests refused: no_login (adminAuth set, no valid token), editor_closed (reachable from the network without adminAuth).',
      labelNames: ['reason'],
      registers: [ctx.metrics],
    });
    for (const reason of ['no_login', 'editor_closed']) this.#editorRefusals.inc({ reason }, 0);
    const tracker = new CompletionTracker({
      timeoutMs: ctx.config.completionTimeoutMs,
      onResult: (result, ms) => this.#onResult(result, ms),
    });
    this.#tracker = tracker;
    new Gauge({
      name: 'gateway_flow_messages_in_flight',
      help: 'Messages inside flows, not yet completed by every node.',
      registers: [ctx.metrics],
      collect() {
        this.set(tracker.inFlight);
      },
    });
    for (const result of ['completed', 'error', 'timeout'] as const) this.#results.inc({ result }, 0);
  }

  async start(): Promise<void> {
    const { config, dataDir, app, server } = this.#ctx;
    if (!config.enabled) {
      this.#log.info('flows disabled');
      return;
    }
    if (embeddedInProcess) throw new FlowsError('Node-RED already runs in this process: one FlowRuntime per process');
    embeddedInProcess = true;
    const userDir = path.resolve(dataDir, 'node-red');
    try {
      await mkdir(userDir, { recursive: true });
      await this.#installDefaultFlows(userDir);
    } catch (cause) {
      throw new FlowsError(`cannot prepare the Node-RED user dir ${userDir}`, { cause });
    }

    const require = createRequire(import.meta.url);
    const red = require('node-red') as NodeRed;
    this.#red = red;
    this.#editorServed = this.#mayServeEditor();
    red.init(server, this.#settings(userDir));
    red.hooks.add(`preDeliver.${HOOK}`, (ev: SendEvent) => this.#tracker.delivered(ev.msg._msgid, ev.destination.id));
    red.hooks.add(`onComplete.${HOOK}`, (ev: CompleteEvent) =>
      this.#tracker.completed(ev.msg?._msgid, ev.node.id, ev.error),
    );
    if (this.#editorServed) app.use(config.editorPath, red.httpAdmin);
    else {
      app.use(config.editorPath, (_req: unknown, res: AdminResponse & { json(body: unknown): void }) => {
        this.#editorRefusals.inc({ reason: 'editor_closed' });
        res.statusCode = 401;
        res.json({
          error: 'the flow editor requires flows.adminAuth when the HTTP server is reachable from the network',
        });
      });
    }
    app.use(config.httpNodePath, red.httpNode);
    this.#tracker.start();
    const flowsStarted = this.#flowsStarted(red);
    try {
      await red.start();
    } catch (cause) {
      throw new FlowsError('Node-RED failed to start', { cause });
    }
    await flowsStarted;
    this.#started = true;
    this.#startedAt = Date.now();
    if (this.#editorServed && !config.adminAuth) {
      this.#log.warn(
        { editorPath: config.editorPath },
        'flow editor is OPEN to every local user of this host (HTTP bound to loopback). Set flows.adminAuth to require a login.',
      );
    }
    this.#log.info({ editorPath: config.editorPath, userDir }, 'flows started');
  }

  async stop(): Promise<void> {
    const red = this.#red;
    if (!red || !this.#started) return;
    this.#started = false;
    // Messages still inside flows are not completed: they stay in the flow journal and replay at the next start.
    this.#tracker.stop();
    await red.stop();
    red.hooks.remove(`*.${HOOK}`);
    this.#log.info('flows stopped');
  }

  /** Resolves when the deployed flows run (their taps are registered); a flow that cannot start is logged. */
  #flowsStarted(red: NodeRed): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        red.events.off('flows:started', started);
        this.#log.warn('flows did not start within 30 s (missing node types?); the editor is up');
        resolve();
      }, 30_000);
      timer.unref();
      const started = () => {
        clearTimeout(timer);
        resolve();
      };
      red.events.once('flows:started', started);
    });
  }

  health(): PartHealth {
    return {
      state: this.#started ? 'up' : 'starting',
      enabled: this.#ctx.config.enabled,
      running: this.#started,
      uptimeMs: this.#started ? Date.now() - this.#startedAt : 0,
      editorPath: this.#ctx.config.editorPath,
      editorServed: this.#editorServed,
      editorOpen: this.#editorServed && !this.#ctx.config.adminAuth,
      messagesInFlight: this.#tracker.inFlight,
      messages: { ...this.#counts },
    };
  }

  #onResult(result: FlowResult, ms: number): void {
    this.#counts[result]++;
    this.#results.inc({ result });
    this.#duration.observe(ms / 1000);
    if (result === 'timeout' && (this.#counts.timeout === 1 || this.#counts.timeout % 1000 === 0)) {
      this.#log.warn(
        { timeouts: this.#counts.timeout, completionTimeoutMs: this.#ctx.config.completionTimeoutMs },
        'a flow did not complete a message in time; released from the flow journal',
      );
    }
  }

  async #installDefaultFlows(userDir: string): Promise<void> {
    if (!this.#ctx.config.installDefaultFlows) return;
    const target = path.join(userDir, FLOW_FILE);
    const exists = await stat(target).then(
      () => true,
      () => false,
    );
    if (exists) return;
    await copyFile(DEFAULT_FLOWS_FILE, target);
    this.#log.info({ file: target }, 'installed the default flows');
  }

  #settings(userDir: string): Record<string, unknown> {
    const { config } = this.#ctx;
    const gatewayFlows: GatewayFlowsSettings = {
      bus: this.#ctx.bus,
      tracker: this.#tracker,
      compileRule,
      compileKeyTemplate,
    };
    const settings: Record<string, unknown> = {
      userDir,
      flowFile: FLOW_FILE,
      flowFilePretty: true,
      nodesDir: [NODES_DIR],
      // false: Node-RED serves neither the editor nor the admin API.
      httpAdminRoot: this.#editorServed ? config.editorPath : false,
      nodesExcludes: SYSTEM_NODE_FILES.filter((f) => !this.#ctx.security?.allowNodes.includes(f)),
      httpAdminMiddleware: this.#deployLog(),
      httpNodeRoot: config.httpNodePath,
      // The box has no internet: no palette installs, no update checks, no telemetry.
      externalModules: { autoInstall: false, palette: { allowInstall: false, allowUpload: false } },
      telemetry: { enabled: false, updateNotification: false },
      // The diagnostics report lists settings, versions and the host: only for a logged-in admin.
      diagnostics: { enabled: config.adminAuth !== undefined, ui: false },
      editorTheme: {
        page: { title: 'Edge gateway flows' },
        header: { title: 'Edge gateway flows' },
        projects: { enabled: false },
        tours: false,
        palette: { catalogues: [] },
        multiplayer: { enabled: false },
      },
      functionExternalModules: false,
      logging: {
        console: { level: 'off' },
        gateway: { level: 'info', metrics: false, audit: false, handler: () => nodeRedLogHandler(this.#log) },
      },
      gatewayFlows,
    };
    if (config.credentialSecret) settings['credentialSecret'] = config.credentialSecret;
    else this.#log.warn('flows.credentialSecret not set: flow credentials use a key generated into the user dir');
    if (config.adminAuth) {
      settings['adminAuth'] = {
        type: 'credentials',
        users: [{ username: config.adminAuth.username, password: config.adminAuth.passwordHash, permissions: '*' }],
      };
    }
    return settings;
  }

  /**
   * The editor and admin API are served with adminAuth, or without it only while the HTTP server listens on loopback
   * (then only local users reach it). Off loopback without adminAuth the flows run and the editor is not served.
   */
  #mayServeEditor(): boolean {
    const { config, server } = this.#ctx;
    if (config.adminAuth) return true;
    const addr = server.address();
    const host = typeof addr === 'object' && addr ? addr.address : '';
    if (isLoopback(host)) return true;
    this.#log.warn(
      { editorPath: config.editorPath, host },
      'flow editor NOT served: the HTTP server is reachable from the network and flows.adminAuth is not set. Set flows.adminAuth (or bind http.host to 127.0.0.1) to use the editor.',
    );
    return false;
  }

  /** Every deploy (POST /flows) is logged with the user who made it, and a refused one at warn. */
  #deployLog(): (req: AdminRequest, res: AdminResponse, next: () => void) => void {
    const log = this.#log.child({ src: 'editor' });
    return (req, res, next) => {
      res.once('finish', () => {
        if (res.statusCode === 401) this.#editorRefusals.inc({ reason: 'no_login' });
      });
      if (req.method === 'POST' && (req.path === '/flows' || req.path.startsWith('/flows/') || req.path === '/flow')) {
        res.once('finish', () => {
          const fields = {
            user: req.user?.username ?? (this.#ctx.config.adminAuth ? undefined : 'anonymous (loopback)'),
            path: req.path,
            status: res.statusCode,
            deploymentType: req.headers['node-red-deployment-type'],
            address: req.socket.remoteAddress,
          };
          if (res.statusCode < 300) log.info(fields, 'flows deployed');
          else log.warn(fields, 'flows deploy refused');
        });
      }
      next();
    };
  }
}
