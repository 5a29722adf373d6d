// Runs the gateway as a real child process (`node app/main.ts`) for end-to-end tests: wait for its ready line,
// kill it with SIGKILL, start it again on the same data dir and ports.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot } from './kafka.ts';

const READY = '"gateway ready"';

/** The heap and malloc settings the gateway's launch gives it (`gw start`, the same in the Dockerfile): the child runs
 * with them too, unless the caller's env sets NODE_OPTIONS or MALLOC_ARENA_MAX (undefined: glibc's default). */
const LAUNCH = readFileSync(join(repoRoot, 'gw'), 'utf8');
const LAUNCH_NODE_OPTIONS = /^GATEWAY_HEAP_OPTIONS="([^"]+)"$/m.exec(LAUNCH)?.[1] ?? '';
const LAUNCH_MALLOC_ARENA_MAX = /^GATEWAY_MALLOC_ARENA_MAX=(\d+)$/m.exec(LAUNCH)?.[1];

export interface GatewayProcessOptions {
  /** GATEWAY_* variables (and others) for the child; they win over the defaults set here. */
  env?: Record<string, string | undefined>;
  /** YAML config text written to a file and passed with --config. */
  configYaml?: string;
  dataDir?: string;
  /** Fixed ports; free ones are picked when absent. */
  mqttPort?: number;
  httpPort?: number;
  /** The gateway's entry script (default app/main.ts; dist/app/main.js for the JavaScript build). */
  main?: string;
  /** Builds the command that runs `node` with these args (e.g. inside a network namespace). */
  wrap?: (cmd: string, args: string[]) => [string, string[]];
  /** Restart the gateway when it exits by itself (as balena's `restart: always` does), every 2 s until ready. */
  supervise?: boolean;
}

export class GatewayProcess {
  readonly dataDir: string;
  readonly mqttPort: number;
  readonly httpPort: number;
  private readonly opts: GatewayProcessOptions;
  private proc: ChildProcess | undefined;
  private readonly ownsDir: boolean;
  output = '';
  starts = 0;
  /** Exits the gateway chose itself (e.g. 75 on a full disk); restarted when `supervise` is set. */
  selfExits = 0;
  /** Set while the caller stops the gateway: any other exit is the gateway's own. */
  private stopping = false;
  private restartTimer: NodeJS.Timeout | undefined;

  private constructor(
    opts: GatewayProcessOptions,
    dataDir: string,
    ownsDir: boolean,
    mqttPort: number,
    httpPort: number,
  ) {
    this.opts = opts;
    this.dataDir = dataDir;
    this.ownsDir = ownsDir;
    this.mqttPort = mqttPort;
    this.httpPort = httpPort;
  }

  static async create(opts: GatewayProcessOptions = {}): Promise<GatewayProcess> {
    const ownsDir = !opts.dataDir;
    const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'gw-e2e-'));
    return new GatewayProcess(
      opts,
      dataDir,
      ownsDir,
      opts.mqttPort ?? (await freePort()),
      opts.httpPort ?? (await freePort()),
    );
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.mqttPort}`;
  }

  get pid(): number | undefined {
    return this.proc?.pid;
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  /** Starts the gateway and resolves on its "gateway ready" log line. */
  async start(timeoutMs = 60_000): Promise<void> {
    const args = [this.opts.main ?? join(repoRoot, 'app', 'main.ts')];
    if (this.opts.configYaml !== undefined) {
      const file = join(this.dataDir, 'gateway.yaml');
      writeFileSync(file, this.opts.configYaml);
      args.push('--config', file);
    }
    const [cmd, argv] = this.opts.wrap ? this.opts.wrap(process.execPath, args) : [process.execPath, args];
    const proc = spawn(cmd, argv, {
      cwd: this.dataDir,
      env: {
        ...process.env,
        GATEWAY_DATA_DIR: join(this.dataDir, 'data'),
        GATEWAY_MQTT_PORT: String(this.mqttPort),
        GATEWAY_MQTT_HOST: '127.0.0.1',
        GATEWAY_HTTP_PORT: String(this.httpPort),
        GATEWAY_HTTP_HOST: '127.0.0.1',
        GATEWAY_GATEWAY_ID: 'gw-test',
        NODE_OPTIONS: LAUNCH_NODE_OPTIONS,
        MALLOC_ARENA_MAX: LAUNCH_MALLOC_ARENA_MAX,
        ...this.opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.starts += 1;
    this.stopping = false;
    let carry = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`gateway not ready in ${timeoutMs} ms:\n${this.output.slice(-3000)}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        this.output += chunk.toString();
        if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
        // Only this start's output (the previous run's ready line may be the last thing it printed), across chunks.
        const text = carry + chunk.toString();
        carry = text.slice(-READY.length);
        if (text.includes(READY)) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`gateway exited during start (${code ?? sig}):\n${this.output.slice(-3000)}`));
        if (!this.stopping) this.selfExit(code ?? sig);
      });
    });
  }

  private selfExit(how: number | string | null): void {
    this.selfExits += 1;
    // A gateway that dies under a test leaves the test waiting on a closed port: say so where CI shows it.
    if (!this.opts.supervise) console.error(`gateway exited by itself (${how}); its last output:\n${this.tail}`);
    if (!this.opts.supervise || this.restartTimer) return;
    this.output += `\n[supervisor] gateway exited by itself (${how}); restarting in 2 s\n`;
    this.restartTimer = setTimeout(() => {
      this.restartTimer = undefined;
      if (!this.stopping) this.start().catch(() => {}); // a failed start exits again and is retried from there
    }, 2000);
  }

  get tail(): string {
    return this.output.slice(-3000);
  }

  /** Resolves with the exit code (or signal) when the gateway exits by itself. */
  async exited(timeoutMs = 30_000): Promise<number | string> {
    const p = this.proc;
    if (!p) throw new Error('gateway not started');
    if (p.exitCode !== null || p.signalCode !== null) return p.exitCode ?? String(p.signalCode);
    const t = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    const [code, sig] = (await once(p, 'exit')) as [number | null, string | null];
    clearTimeout(t);
    return code ?? String(sig);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    this.stopping = true;
    if (this.restartTimer) clearTimeout(this.restartTimer);
    this.restartTimer = undefined;
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill(signal);
    await exited;
  }

  async stop(): Promise<void> {
    await this.kill('SIGTERM');
  }

  async restart(): Promise<void> {
    await this.kill('SIGKILL');
    await this.start();
  }

  async health(): Promise<Record<string, unknown>> {
    const r = await fetch(`http://127.0.0.1:${this.httpPort}/healthz`);
    return (await r.json()) as Record<string, unknown>;
  }

  async metrics(): Promise<string> {
    return (await fetch(`http://127.0.0.1:${this.httpPort}/metrics`)).text();
  }

  /** One sample of a metric (sum over label sets matching `labels`), or 0. */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = await this.metrics();
    let sum = 0;
    for (const line of text.split('\n')) {
      if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
    }
    return sum;
  }

  async close(): Promise<void> {
    await this.kill('SIGKILL');
    if (this.ownsDir) rmSync(this.dataDir, { recursive: true, force: true });
  }
}

/** Runs `fn` until it returns true or the deadline passes (then throws with `what`). For scripts outside vitest
 * (bench, the fuzz driver, the chaos runner); tests use test/harness/wait.ts (vi.waitFor). */
export async function pollUntil(
  what: string,
  fn: () => boolean | Promise<boolean>,
  timeoutMs = 60_000,
  everyMs = 200,
): Promise<void> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    if (await fn()) return;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
