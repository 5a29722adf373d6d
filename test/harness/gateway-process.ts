// Runs the gateway as a real child process (`node gateway/main.ts`) for end-to-end tests: wait for its ready line,
// kill it with SIGKILL, start it again on the same data dir and ports.
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort, repoRoot } from './kafka.ts';

export interface GatewayProcessOptions {
  /** GATEWAY_* variables (and others) for the child. */
  env?: Record<string, string>;
  /** YAML config text written to a file and passed with --config. */
  configYaml?: string;
  dataDir?: string;
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
    return new GatewayProcess(opts, dataDir, ownsDir, await freePort(), await freePort());
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
    const args = [join(repoRoot, 'gateway', 'main.ts')];
    if (this.opts.configYaml !== undefined) {
      const file = join(this.dataDir, 'gateway.yaml');
      writeFileSync(file, this.opts.configYaml);
      args.push('--config', file);
    }
    const proc = spawn(process.execPath, args, {
      cwd: this.dataDir,
      env: {
        ...process.env,
        GATEWAY_DATA_DIR: join(this.dataDir, 'data'),
        GATEWAY_MQTT_PORT: String(this.mqttPort),
        GATEWAY_MQTT_HOST: '127.0.0.1',
        GATEWAY_HTTP_PORT: String(this.httpPort),
        GATEWAY_HTTP_HOST: '127.0.0.1',
        GATEWAY_GATEWAY_ID: 'gw-test',
        ...this.opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.starts += 1;
    const mark = this.output.length;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`gateway not ready in ${timeoutMs} ms:\n${this.output.slice(-3000)}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        this.output += chunk.toString();
        if (this.output.length > 2_000_000) this.output = this.output.slice(-1_000_000);
        if (this.output.indexOf('"gateway ready"', Math.max(0, mark - 100)) !== -1) {
          clearTimeout(timer);
          resolve();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        reject(new Error(`gateway exited during start (${code ?? sig}):\n${this.output.slice(-3000)}`));
      });
    });
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

/** Runs `fn` until it returns true or the deadline passes (then throws with `what`). */
export async function waitFor(
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
