// Toxiproxy (github.com/Shopify/toxiproxy) as a child process, driven through its REST API: TCP proxies between two
// real components whose link gets "toxics" — latency with jitter, a bandwidth cap, a silent blackhole (`timeout`),
// connection resets (`reset_peer`), TCP segments sliced small (`slicer`). Toxics apply to the open connections too.
// The binary is built by `./gw tools --test` (and `./gw test`) into .cache/toxiproxy/toxiproxy-server.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil } from './gateway-process.ts';
import { freePort, repoRoot } from './kafka.ts';

const toxiproxyBin = join(repoRoot, '.cache', 'toxiproxy', 'toxiproxy-server');

/** Which direction a toxic acts on: `upstream` is client → server, `downstream` server → client. */
export type Stream = 'upstream' | 'downstream';

/** The toxics the tests use, with Toxiproxy's attribute names (times in ms, `rate` in KB/s, `delay` in µs). */
export type Toxic =
  | { type: 'latency'; attributes: { latency: number; jitter?: number } }
  | { type: 'bandwidth'; attributes: { rate: number } }
  | { type: 'timeout'; attributes: { timeout: number } }
  | { type: 'reset_peer'; attributes: { timeout: number } }
  | { type: 'slicer'; attributes: { average_size: number; size_variation?: number; delay?: number } };

export class Toxiproxy {
  private proc: ChildProcess | undefined;
  readonly apiPort: number;
  output = '';

  private constructor(apiPort: number) {
    this.apiPort = apiPort;
  }

  /** Starts toxiproxy-server on a free API port of 127.0.0.1 and waits until its API answers. */
  static async start(): Promise<Toxiproxy> {
    if (!existsSync(toxiproxyBin)) {
      throw new Error(`${toxiproxyBin} is missing: build it with ./gw tools --test`);
    }
    const t = new Toxiproxy(await freePort());
    const p = spawn(toxiproxyBin, ['-host', '127.0.0.1', '-port', String(t.apiPort)], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    t.proc = p;
    const keep = (b: Buffer) => {
      t.output = (t.output + b.toString()).slice(-20_000);
    };
    p.stdout?.on('data', keep);
    p.stderr?.on('data', keep);
    await pollUntil(
      'the toxiproxy API',
      async () => (await t.api('GET', '/version').catch(() => undefined)) !== undefined,
      30_000,
    );
    return t;
  }

  private async api(method: string, path: string, body?: unknown): Promise<unknown> {
    const r = await fetch(`http://127.0.0.1:${this.apiPort}${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    if (!r.ok) throw new Error(`toxiproxy ${method} ${path}: ${r.status} ${text}`);
    return text && r.headers.get('content-type')?.includes('json') ? JSON.parse(text) : text;
  }

  /** A proxy from 127.0.0.1:`listenPort` (0: a free one) to 127.0.0.1:`upstreamPort`; resolves to its port. */
  async proxy(name: string, upstreamPort: number, listenPort = 0): Promise<number> {
    const port = listenPort || (await freePort());
    await this.api('POST', '/proxies', {
      name,
      listen: `127.0.0.1:${port}`,
      upstream: `127.0.0.1:${upstreamPort}`,
      enabled: true,
    });
    return port;
  }

  /** Adds a toxic named `name` on one direction of `proxy`'s link. */
  async addToxic(proxy: string, name: string, stream: Stream, toxic: Toxic): Promise<void> {
    await this.api('POST', `/proxies/${proxy}/toxics`, { name, stream, toxicity: 1, ...toxic });
  }

  async removeToxic(proxy: string, name: string): Promise<void> {
    await this.api('DELETE', `/proxies/${proxy}/toxics/${name}`);
  }

  /** The names of the toxics on `proxy`. */
  async toxics(proxy: string): Promise<string[]> {
    const list = (await this.api('GET', `/proxies/${proxy}/toxics`)) as { name: string }[];
    return list.map((t) => t.name);
  }

  async close(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
}
