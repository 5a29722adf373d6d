// The gateway as a child process inside the chaos namespace (`ip netns exec … node gateway/main.ts`): started,
// SIGKILLed and started again on the same data dir, ready when it logs "gateway ready".
import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/** What the chaos runner needs from a gateway, wherever it runs. */
export interface ChaosGateway {
  readonly mqttPort: number;
  readonly httpPort: number;
  readonly running: boolean;
  readonly starts: number;
  start(): Promise<void>;
  kill(signal?: NodeJS.Signals): Promise<void>;
  close(): Promise<void>;
}

export interface NsGatewayOptions {
  /** Builds the command that runs `node` with these args (e.g. inside a namespace). */
  wrap: (cmd: string, args: string[]) => [string, string[]];
  env: Record<string, string>;
  configYaml?: string;
  mqttPort: number;
  httpPort: number;
  /** Data dir (e.g. on a small disk); default a temp dir removed by close(). */
  dataDir?: string;
}

export class NsGateway implements ChaosGateway {
  readonly mqttPort: number;
  readonly httpPort: number;
  starts = 0;
  private readonly dir: string;
  private readonly ownsDir: boolean;
  private readonly opts: NsGatewayOptions;
  private proc: ChildProcess | undefined;
  private output = '';

  constructor(opts: NsGatewayOptions) {
    this.opts = opts;
    this.mqttPort = opts.mqttPort;
    this.httpPort = opts.httpPort;
    this.ownsDir = opts.dataDir === undefined;
    this.dir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'dsim-gw-'));
  }

  get running(): boolean {
    return this.proc !== undefined && this.proc.exitCode === null && this.proc.signalCode === null;
  }

  async start(timeoutMs = 60_000): Promise<void> {
    const args = [join(repoRoot, 'gateway', 'main.ts')];
    if (this.opts.configYaml !== undefined) {
      const file = join(this.dir, 'gateway.yaml');
      writeFileSync(file, this.opts.configYaml);
      args.push('--config', file);
    }
    const [cmd, argv] = this.opts.wrap(process.execPath, args);
    const proc = spawn(cmd, argv, {
      cwd: this.dir,
      env: {
        ...process.env,
        GATEWAY_DATA_DIR: join(this.dir, 'data'),
        GATEWAY_MQTT_PORT: String(this.mqttPort),
        GATEWAY_MQTT_HOST: '0.0.0.0',
        GATEWAY_HTTP_PORT: String(this.httpPort),
        ...this.opts.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    this.proc = proc;
    this.starts++;
    const mark = this.output.length;
    await new Promise<void>((ok, fail) => {
      const timer = setTimeout(
        () => fail(new Error(`gateway not ready in ${timeoutMs} ms:\n${this.tail()}`)),
        timeoutMs,
      );
      const onData = (chunk: Buffer): void => {
        this.output = (this.output + chunk.toString()).slice(-500_000);
        if (this.output.indexOf('"gateway ready"', Math.max(0, mark - 100)) !== -1) {
          clearTimeout(timer);
          ok();
        }
      };
      proc.stdout?.on('data', onData);
      proc.stderr?.on('data', onData);
      proc.once('exit', (code, sig) => {
        clearTimeout(timer);
        fail(new Error(`gateway exited during start (${code ?? sig}):\n${this.tail()}`));
      });
    });
  }

  tail(): string {
    return this.output.slice(-3000);
  }

  async kill(signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = once(p, 'exit');
    p.kill(signal);
    await exited;
  }

  async close(): Promise<void> {
    await this.kill('SIGKILL');
    if (this.ownsDir) rmSync(this.dir, { recursive: true, force: true });
  }
}
