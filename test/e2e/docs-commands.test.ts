// The commands README.md and docs/ tell a user to type, run as written through ./gw: every documented ./gw line
// names a real command (and its --help works), the seed config and the error example are what the gateway says, the
// metrics list matches what the code registers, and the by-hand block puts a record in Kafka, in order, on free ports.
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, repoRoot } from '../harness/kafka.ts';

const GW = join(repoRoot, 'gw');
const DOCS = ['README.md', 'bench/README.md', ...readdirSync(join(repoRoot, 'docs')).map((f) => `docs/${f}`)].filter(
  (f) => f.endsWith('.md'),
);
const text = (file: string): string => readFileSync(join(repoRoot, file), 'utf8');

/** Fenced code blocks of a markdown file, with their language tag. */
function blocks(md: string): { lang: string; body: string }[] {
  return [...md.matchAll(/^```(\w*)\n([\s\S]*?)^```$/gm)].map((m) => ({ lang: m[1] ?? '', body: m[2] ?? '' }));
}

/** Every `./gw ...` command line in the docs: lines of code blocks, and inline code spans. */
function gwCommands(): { file: string; line: string }[] {
  const out: { file: string; line: string }[] = [];
  for (const file of DOCS) {
    const md = text(file);
    for (const b of blocks(md)) {
      for (const l of b.body.split('\n')) if (l.trim().startsWith('./gw ')) out.push({ file, line: l.trim() });
    }
    for (const m of md.matchAll(/`(\.\/gw [^`]+)`/g)) out.push({ file, line: m[1] ?? '' });
  }
  return out.map(({ file, line }) => ({ file, line: line.replace(/\s+#.*$/, '').trim() }));
}

function gw(args: string[], env: Record<string, string> = {}, cwd = repoRoot) {
  const r = spawnSync(GW, args, {
    cwd,
    encoding: 'utf8',
    timeout: 120_000,
    env: { ...process.env, GATEWAY_CONFIG: '', ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const COMMANDS = [...gw(['help']).stdout.matchAll(/^ {2}([a-z-]+)/gm)].map((m) => m[1]);

describe('documented ./gw commands', () => {
  const cmds = gwCommands();

  it('are found in README and docs, and each names a command of ./gw help', () => {
    expect(cmds.length).toBeGreaterThan(15);
    expect(COMMANDS).toEqual(expect.arrayContaining(['start', 'test', 'check-config', 'sim', 'kafka', 'tools']));
    for (const { file, line } of cmds) {
      const sub = line.split(/\s+/)[1] ?? '';
      expect(COMMANDS, `${file}: ${line}`).toContain(sub);
    }
  });

  it('name benchmarks, scripts, simulator commands and test files that exist, each answering --help', () => {
    const simCommands = new Set<string>();
    for (const { file, line } of cmds) {
      const [, sub, arg] = line.split(/\s+/);
      if (sub === 'bench' && arg && /^[a-z]/.test(arg)) {
        expect(existsSync(join(repoRoot, 'bench', `${arg}.ts`)), `${file}: ${line}`).toBe(true);
      }
      if (sub === 'node' && arg && /^[a-z]/.test(arg)) expect(existsSync(join(repoRoot, arg)), line).toBe(true);
      if (sub === 'test') {
        for (const f of line.split(/\s+/).filter((w) => w.endsWith('.test.ts'))) {
          expect(existsSync(join(repoRoot, f)), `${file}: ${line}`).toBe(true);
        }
      }
      if (sub === 'sim' && arg && /^[a-z]+$/.test(arg)) simCommands.add(arg);
    }
    expect(simCommands.size).toBeGreaterThanOrEqual(5);
    for (const c of simCommands) {
      const r = gw(['sim', c, '--help']);
      expect(r.status, `./gw sim ${c} --help: ${r.stderr}`).toBe(0);
      expect(r.stdout).toContain(`./gw sim ${c}`);
    }
    for (const args of [['help'], ['kafka', '--help'], ['sim', '--help'], ['start', '--help'], ['tools', '--help']]) {
      const r = gw(args);
      expect(r.status, `./gw ${args.join(' ')}: ${r.stderr}`).toBe(0);
      expect(r.stdout.length).toBeGreaterThan(20);
    }
  });

  it('check-config accepts the README seed config; its error example is what the gateway prints', () => {
    const seed = blocks(text('README.md')).find((b) => b.lang === 'yaml' && b.body.includes('routes:'));
    expect(seed).toBeDefined();
    const dir = mkdtempSync(join(tmpdir(), 'docs-seed-'));
    writeFileSync(join(dir, 'gateway.yaml'), seed?.body ?? '');
    const ok = gw(['check-config', '--config', 'gateway.yaml'], {}, dir);
    expect(ok.stderr).toBe('');
    expect(ok.stdout.trim()).toBe('config ok');
    const printed = JSON.parse(gw(['print-config', '--config', join(dir, 'gateway.yaml')]).stdout);
    expect(printed.gatewayId).toBe('line-3');
    const example = /^config error: GATEWAY_MQTT_PORT: .*$/m.exec(text('README.md'))?.[0];
    expect(example).toBeDefined();
    const bad = gw(['check-config'], { GATEWAY_MQTT_PORT: 'abc' });
    expect(bad.status).toBe(2);
    expect(bad.stderr.split('\n')).toContain(example);
    const typo = gw(['start', '--confg', 'gateway.yaml', '--check-config']);
    expect(typo.status).toBe(2);
    expect(typo.stderr).toContain('did you mean --config?');
    rmSync(dir, { recursive: true, force: true });
  });

  it('the README metrics list is the set of metrics the code registers', () => {
    const md = text('README.md');
    const section = md.slice(md.indexOf('- **Metrics**'), md.indexOf('- **Logs**'));
    const named = new Set([...section.matchAll(/`(gateway_[a-z_]+?)(\*|\{[^}]*\})?`/g)].map((m) => m[1] ?? ''));
    const wildcards = [...section.matchAll(/`(gateway_[a-z]+_)\*`/g)].map((m) => m[1] ?? '');
    // The repository's files (in a working copy, not what someone has not committed yet).
    const files = spawnSync('git', ['ls-files', 'app', 'gateway', 'flows', 'cloud-sync'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    const sources = files.stdout
      .split('\n')
      .filter((p) => p.endsWith('.ts'))
      .map((f) => readFileSync(join(repoRoot, f), 'utf8'));
    // Every 'gateway_...' literal in the product's code is a metric name (registered, or looked up to reuse),
    // except the members of a type union (the disconnect reason gateway_restart) wherever they are used.
    const unionMembers = new Set(
      sources.flatMap((src) => [...src.matchAll(/\|\s*'(gateway_[a-z_]+)'/g)].map((m) => m[1])),
    );
    const registered = new Set<string>();
    for (const src of sources) {
      for (const m of src.matchAll(/'(gateway_[a-z_]+)'/g)) if (!unionMembers.has(m[1])) registered.add(m[1] ?? '');
    }
    expect(registered.size).toBeGreaterThan(15);
    const undocumented = [...registered].filter((n) => !named.has(n) && !wildcards.some((w) => n.startsWith(w)));
    expect(undocumented, 'registered but missing from the README metrics list').toEqual([]);
    const unknown = [...named].filter((n) => !wildcards.includes(n) && !registered.has(n));
    expect(unknown, 'in the README metrics list but registered nowhere').toEqual([]);
  });
});

describe('the README by-hand block', () => {
  let proc: ChildProcess | undefined;
  const dir = mkdtempSync(join(tmpdir(), 'docs-by-hand-'));
  afterAll(() => {
    // The block runs in its own process group: Kafka (java) and the gateway go with it.
    if (proc?.pid) {
      try {
        process.kill(-proc.pid, 'SIGKILL');
      } catch {}
    }
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs in order as written (on free ports) and puts the record in Kafka', async () => {
    const block = blocks(text('README.md')).find((b) => b.lang === 'sh' && b.body.includes('./gw kafka'));
    expect(block).toBeDefined();
    const [kport, mport, hport] = [await freePort(), await freePort(), await freePort()];
    // Only the ports change: the same lines, in the same order, through the same ./gw.
    const script = (block?.body ?? '')
      .replaceAll('./gw ', `${GW} `)
      .replaceAll('127.0.0.1:9092', `127.0.0.1:${kport}`)
      .replaceAll('localhost:1880', `localhost:${hport}`)
      .replaceAll('mosquitto_pub ', `mosquitto_pub -p ${mport} `);
    expect(script).toContain(`${GW} start`);
    proc = spawn('bash', ['-c', `set -e\n${script}\nwait`], {
      cwd: dir,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: {
        ...process.env,
        GATEWAY_CONFIG: '',
        KAFKA_PORT: String(kport),
        KAFKA_DATA_DIR: join(dir, 'kafka'),
        GATEWAY_KAFKA_BROKERS: `127.0.0.1:${kport}`,
        GATEWAY_MQTT_PORT: String(mport),
        GATEWAY_HTTP_PORT: String(hport),
        GATEWAY_DATA_DIR: join(dir, 'data'),
      },
    });
    let stdout = '';
    let stderr = '';
    proc.stdout?.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    proc.stderr?.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const deadline = setTimeout(() => proc?.pid && process.kill(-proc.pid, 'SIGKILL'), 200_000);
    const [code] = (await once(proc, 'exit')) as [number | null];
    clearTimeout(deadline);
    const logs = (f: string): string =>
      existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').slice(-3000) : '';
    const why = `stdout:\n${stdout}\nstderr:\n${stderr.slice(-3000)}\nkafka.log:\n${logs('kafka.log')}\ngateway.log:\n${logs('gateway.log')}`;
    // The kcat line: key, headers, value.
    expect(stdout, why).toMatch(/^lock-1 .*mqtt\.topic=devices\/lock-1\/state.* \{"locked":true,"battery":87\}$/m);
    const health = JSON.parse(stdout.split('\n').find((l) => l.startsWith('{"status"')) ?? '{}');
    expect(health.status, why).toBe('ok');
    expect(health.kafka?.forwarded, why).toBeGreaterThanOrEqual(1);
    expect(code, why).toBe(0);
  });
});
