import { once } from 'node:events';
import { connect, createServer, type Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { FaultProxy } from '../../device-sim/chaos/proxy.ts';
import { loadScenario, parseScenario, type Scenario, ScenarioError } from '../../device-sim/chaos/scenario.ts';
import { withDurability } from '../../device-sim/chaos/scenario-load.ts';
import { scenarioProblems } from '../harness/chaos-cli.ts';

describe('chaos scenarios', () => {
  it('parses a scenario with defaults and sorts the steps', () => {
    const sc = parseScenario(`
name: t
fleet: { devices: 5, duration: 30, profiles: [vehicle] }
steps:
  - { at: 20, do: blackhole, for: 2 }
  - { at: 5, do: kafka-stop }
  - { at: 6, do: latency, ms: 100 }
`);
    expect(sc.kafka).toEqual({ local: true });
    expect(sc.fleet).toMatchObject({ devices: 5, duration: 30, profiles: ['vehicle'], qos: 1, inflight: 5 });
    expect(sc.steps.map((s) => s.do)).toEqual(['kafka-stop', 'latency', 'blackhole']);
    expect(sc.steps[1]).toEqual({ at: 6, do: 'latency', ms: 100 });
    expect(sc.verify).toEqual({ topics: ['edge.uplink'], timeout: 60 });
  });

  it('reports every problem at once, with its path', () => {
    try {
      parseScenario(`
kafka: { brokers: [a:1] }
fleet: { devices: 0, duration: 10, profiles: [toaster], speed: 3 }
steps:
  - { at: 1, do: kafka-stop }
  - { at: 20, do: gateway-kill }
  - { do: explode }
verify: { timeout: -1 }
`);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ScenarioError);
      expect((err as ScenarioError).problems).toEqual([
        'fleet.speed: unknown key',
        'fleet.profiles: a list of door-lock|vehicle|factory-sensor|logistics-tracker',
        'fleet.devices: expected a number >= 1',
        'steps[0].do: kafka-stop needs kafka: local',
        'steps[1].at: after the fleet stops (duration 10 s)',
        'steps[2].at: expected a number >= 0 (required)',
        expect.stringMatching(/^steps\[2\]\.do: one of kafka-stop\|.*\|uplink-blackhole\|/),
        'verify.timeout: expected a number >= 1',
      ]);
    }
  });

  it('uplink faults need the namespace network', () => {
    const text = (network: string): string => `
network: ${network}
fleet: { duration: 30 }
steps:
  - { at: 1, do: uplink-blackhole, for: 3 }
  - { at: 5, do: uplink-netem, ms: 50, loss: 2 }
  - { at: 9, do: uplink-bandwidth, kbit: 256 }
`;
    expect(() => parseScenario(text('relay'))).toThrow(/steps\[0\]\.do: uplink-blackhole needs network: namespace/);
    const sc = parseScenario(text('namespace'));
    expect(sc.network).toBe('namespace');
    expect(sc.steps[1]).toEqual({ at: 5, do: 'uplink-netem', ms: 50, loss: 2 });
    expect(sc.steps[2]).toEqual({ at: 9, do: 'uplink-bandwidth', kbit: 256 });
  });

  it('power-cut needs the power-cut disk, disk-full the tmpfs; each kind its own keys', () => {
    const steps = 'steps:\n  - { at: 2, do: power-cut }\n  - { at: 4, do: disk-full, for: 2 }\n';
    const fleet = 'fleet: { duration: 30 }\n';
    expect(scenarioProblems(`${fleet}${steps}`)).toEqual([
      'steps[0].do: power-cut needs disk: { kind: powercut }',
      'steps[1].do: disk-full needs disk: { size_mb: … }',
    ]);
    expect(scenarioProblems(`disk: { kind: powercut }\n${fleet}${steps}`)).toEqual([
      'steps[1].do: disk-full needs disk: { size_mb: … }',
    ]);
    expect(scenarioProblems(`disk: { size_mb: 64 }\n${fleet}${steps}`)).toEqual([
      'steps[0].do: power-cut needs disk: { kind: powercut }',
    ]);
    expect(scenarioProblems('disk: { kind: powercut, size_mb: 64 }\n')).toEqual([
      'disk.size_mb: only with kind: tmpfs',
    ]);
    expect(scenarioProblems('disk: {}\n')).toEqual(['disk.size_mb: expected a number >= 8 (required)']);
    expect(scenarioProblems('disk: { kind: floppy, size: 1 }\n')).toEqual([
      'disk.size: unknown key',
      'disk.kind: tmpfs or powercut',
    ]);
    expect(parseScenario('disk: { kind: powercut }\n').disk).toEqual({ kind: 'powercut' });
    expect(parseScenario('disk: { size_mb: 16 }\n').disk).toEqual({ kind: 'tmpfs', size_mb: 16 });
  });

  it('a step with every repeats: count times, or until the fleet stops', () => {
    const sc = parseScenario(`
disk: { kind: powercut }
fleet: { duration: 20 }
steps:
  - { at: 3, do: power-cut, every: 4, count: 3, for: 1 }
  - { at: 10, do: kafka-stop }
  - { at: 0.5, do: latency, ms: 50, every: 6.5, for: 2 }
`);
    expect(sc.steps.map((s) => [s.at, s.do])).toEqual([
      [0.5, 'latency'],
      [3, 'power-cut'],
      [7, 'power-cut'],
      [7, 'latency'],
      [10, 'kafka-stop'],
      [11, 'power-cut'],
      [13.5, 'latency'],
      [20, 'latency'],
    ]);
    expect(sc.steps[1]).toEqual({ at: 3, do: 'power-cut', for: 1 }); // every and count are gone once expanded
  });

  it('a repeated step: count needs every, each repeat ends before the next, the last one inside the run', () => {
    expect(
      scenarioProblems(`
fleet: { duration: 20 }
steps:
  - { at: 1, do: gateway-kill, count: 3 }
  - { at: 1, do: blackhole, for: 5, every: 5 }
  - { at: 5, do: gateway-kill, every: 4, count: 5 }
  - { at: 5, do: gateway-kill, every: 0.5, count: 1.5 }
`),
    ).toEqual([
      'steps[0].every: expected a number >= 1 (required with count)',
      'steps[1].for: not shorter than every (5 s)',
      'steps[2].count: the last one (at 21 s) is after the fleet stops (duration 20 s)',
      'steps[3].every: expected a number >= 1',
      'steps[3].count: expected a whole number >= 1',
    ]);
  });

  it('the power-cut scenarios: cuts while forwarding and while Kafka is away, fsync unless overridden', async () => {
    const ci = await loadScenario('device-sim/scenarios/powercut-ci.yaml');
    const long = await loadScenario('device-sim/scenarios/powercut-long.yaml');
    const cuts = (sc: Scenario): number => sc.steps.filter((s) => s.do === 'power-cut').length;
    expect(cuts(ci)).toBe(5);
    expect(cuts(long)).toBeGreaterThanOrEqual(20);
    for (const sc of [ci, long]) {
      expect(sc.disk).toEqual({ kind: 'powercut' });
      expect(sc.gateway.env.GATEWAY_STORE_DURABILITY).toBe('fsync');
      const stop = sc.steps.find((s) => s.do === 'kafka-stop')?.at ?? 0;
      const start = sc.steps.find((s) => s.do === 'kafka-start')?.at ?? 0;
      const away = sc.steps.filter((s) => s.do === 'power-cut' && s.at > stop && s.at < start);
      expect(away.length).toBeGreaterThan(0);
      expect(away.length).toBeLessThan(cuts(sc));
    }
    const os = withDurability(ci, 'os');
    expect(os.gateway.env).toEqual({ ...ci.gateway.env, GATEWAY_STORE_DURABILITY: 'os' });
    expect({ ...os, gateway: ci.gateway }).toEqual(ci);
    expect(withDurability(ci, undefined)).toBe(ci);
  });
});

describe('fault relay', () => {
  async function echoServer(): Promise<{ port: number; close: () => void }> {
    const sockets = new Set<Socket>();
    const srv = createServer((s) => {
      sockets.add(s);
      s.pipe(s);
    });
    srv.listen(0, '127.0.0.1');
    await once(srv, 'listening');
    const a = srv.address();
    return {
      port: typeof a === 'object' && a ? a.port : 0,
      close: () => {
        for (const s of sockets) s.destroy();
        srv.close();
      },
    };
  }

  async function roundTrip(sock: Socket, text: string): Promise<number> {
    const t = performance.now();
    sock.write(text);
    let got = '';
    while (got.length < text.length) got += String((await once(sock, 'data'))[0]);
    expect(got).toBe(text);
    return performance.now() - t;
  }

  it('passes bytes, adds latency, holds them silently in a blackhole and delivers after restore', async () => {
    const echo = await echoServer();
    const proxy = new FaultProxy('127.0.0.1', echo.port);
    await proxy.start();
    const sock = connect(proxy.port, '127.0.0.1');
    sock.setEncoding('utf8');
    await once(sock, 'connect');
    try {
      expect(await roundTrip(sock, 'hello')).toBeLessThan(100);
      proxy.latency(80);
      // Both directions are delayed: at least 2 × 80 ms.
      expect(await roundTrip(sock, 'slow')).toBeGreaterThanOrEqual(150);
      proxy.restore();
      proxy.blackhole();
      let early = '';
      const onData = (s: string): void => {
        early += s;
      };
      sock.on('data', onData);
      sock.write('held');
      const quiet = await Promise.race([
        once(sock, 'close').then(() => 'closed'),
        new Promise((r) => setTimeout(r, 300, 'silent')),
      ]);
      expect(quiet).toBe('silent');
      expect(early).toBe('');
      sock.off('data', onData);
      proxy.restore();
      let late = '';
      while (late.length < 4) late += String((await once(sock, 'data'))[0]);
      expect(late).toBe('held');
    } finally {
      sock.destroy();
      await proxy.close();
      echo.close();
    }
  });
});
