// biome-ignore-all lint/suspicious/noTemplateCurlyInString: key templates spell their placeholders as ${name}.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXAMPLE_YAML, renderDocs } from '../../app/config/docs.ts';
import {
  ConfigError,
  envVarNames,
  type GatewayConfig,
  GatewayConfigSchema,
  loadConfig,
  REDACTED,
  redactConfig,
} from '../../app/config/index.ts';

/** scrypt hash of "s3cret" (`./gw auth hash`). */
const S3CRET_HASH = '$scrypt$n=16384,r=8,p=1$e+xKDrW7WDH54uesToM35g==$VaCUJA8M2tYDXHvq7+ZAwt0v9gMuYCGb23b7VETZ+PY=';
const dir = mkdtempSync(join(tmpdir(), 'gw-config-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(yaml: string): string {
  const path = join(dir, `c${n++}.yaml`);
  writeFileSync(path, yaml);
  return path;
}

/** The problems of a load that must fail. */
function problems(opts: Parameters<typeof loadConfig>[0]): string[] {
  try {
    loadConfig(opts);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).code).toBe('GW_ERR_CONFIG');
    expect((err as ConfigError).message).toContain((err as ConfigError).problems[0]);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError');
}

describe('loadConfig', () => {
  it('gives a working gateway from defaults alone (no file, no env)', () => {
    const cfg = loadConfig({ env: {} });
    expect(cfg.dataDir).toBe('./data');
    expect(cfg.mqtt.port).toBe(1883);
    expect(cfg.mqtt.ws).toEqual({ enabled: true, path: '/mqtt' });
    expect(cfg.kafka.brokers).toEqual(['127.0.0.1:9092']);
    expect(cfg.store).toEqual({
      durability: 'fsync',
      groupCommit: { maxRecords: 1024, windowMs: 0 },
      compactAfterDeletes: 100000,
      maxOpenFiles: 100,
    });
    expect(cfg.classes).toEqual({
      default: { maxBytes: 1073741824, maxAgeSec: 0, policy: 'reject', perDeviceShare: 0.5 },
      events: { maxBytes: 268435456, maxAgeSec: 0, policy: 'drop-oldest', perDeviceShare: 0.5 },
    });
    expect(cfg.events).toEqual({ enabled: true, topic: 'edge.events', topics: {}, class: 'events' });
    expect(cfg.routes).toEqual([
      {
        name: 'uplink',
        filter: '#',
        topic: 'edge.uplink',
        key: '${clientid}',
        format: 'raw',
        class: 'default',
        minQos: 0,
      },
    ]);
    expect(cfg.adapters).toBeTypeOf('object');
    expect(cfg.flows).toBeTypeOf('object');
  });

  it('reads the file named by --config, --config=, or GATEWAY_CONFIG (relative to cwd)', () => {
    const path = file('mqtt:\n  port: 1884\n');
    expect(loadConfig({ argv: ['--config', path], env: {} }).mqtt.port).toBe(1884);
    expect(loadConfig({ argv: [`--config=${path}`], env: {} }).mqtt.port).toBe(1884);
    expect(loadConfig({ env: { GATEWAY_CONFIG: path } }).mqtt.port).toBe(1884);
    const name = path.slice(dir.length + 1);
    expect(loadConfig({ argv: ['--config', name], env: {}, cwd: dir }).mqtt.port).toBe(1884);
    expect(loadConfig({ env: {}, argv: ['--config', file('')] }).mqtt.port).toBe(1883);
  });

  it('lets env vars win over the file, and fills the rest with defaults', () => {
    const path = file(
      [
        'dataDir: /var/lib/gw',
        'mqtt:',
        '  port: 1884',
        '  host: 127.0.0.1',
        'kafka:',
        '  brokers: [k1:9092]',
        '  batch: { maxRecords: 10 }',
      ].join('\n'),
    );
    const cfg = loadConfig({
      argv: ['--config', path],
      env: {
        GATEWAY_MQTT_PORT: '2883',
        GATEWAY_KAFKA_BROKERS: 'k2:9092, k3:9093',
        GATEWAY_STORE_GROUP_COMMIT_MAX_RECORDS: '64',
        GATEWAY_KAFKA_SSL: 'true',
        GATEWAY_LOG_LEVEL: 'debug',
        GATEWAY_DATA_DIR: '/data',
        GATEWAY_MQTT_WS_ENABLED: '0',
        HOME: '/root',
      },
    });
    expect(cfg.mqtt.port).toBe(2883);
    expect(cfg.mqtt.host).toBe('127.0.0.1');
    expect(cfg.kafka.brokers).toEqual(['k2:9092', 'k3:9093']);
    expect(cfg.kafka.batch).toEqual({ maxRecords: 10, maxBytes: 524288, lingerMs: 5 });
    expect(cfg.kafka.ssl).toBe(true);
    expect(cfg.store.groupCommit.maxRecords).toBe(64);
    expect(cfg.log.level).toBe('debug');
    expect(cfg.dataDir).toBe('/data');
    expect(cfg.mqtt.ws.enabled).toBe(false);
  });

  it('takes arrays of objects and records as JSON from env', () => {
    const cfg = loadConfig({
      env: {
        GATEWAY_CLASSES: '{"telemetry":{"maxBytes":1000,"policy":"drop-oldest"}}',
        GATEWAY_ROUTES: JSON.stringify([
          { filter: 'devices/+/state', topic: 'message_state', class: 'telemetry', minQos: 1 },
        ]),
        GATEWAY_SECURITY_AUTHENTICATION_USERS: JSON.stringify([{ username: 'dev', passwordHash: S3CRET_HASH }]),
      },
    });
    expect(cfg.routes).toEqual([
      {
        filter: 'devices/+/state',
        topic: 'message_state',
        key: '${clientid}',
        format: 'raw',
        class: 'telemetry',
        minQos: 1,
      },
    ]);
    expect(cfg.classes.telemetry).toEqual({ maxBytes: 1000, maxAgeSec: 0, policy: 'drop-oldest', perDeviceShare: 0.5 });
    expect(cfg.classes.default).toEqual({ maxBytes: 1073741824, maxAgeSec: 0, policy: 'reject', perDeviceShare: 0.5 });
    expect(cfg.security.authentication.users).toEqual([{ username: 'dev', passwordHash: S3CRET_HASH }]);
  });

  it('gives keys left empty in the file their defaults', () => {
    const cfg = loadConfig({
      env: {},
      argv: ['--config', file('mqtt:\n  port:\nroutes:\n# - { filter: a, topic: b }\n')],
    });
    expect(cfg.mqtt.port).toBe(1883);
    expect(cfg.routes[0]?.topic).toBe('edge.uplink');
  });

  it('adds the default and the events class when the file defines others', () => {
    const cfg = loadConfig({ env: {}, argv: ['--config', file('classes:\n  bulk: { maxAgeSec: 60 }\n')] });
    expect(Object.keys(cfg.classes).sort()).toEqual(['bulk', 'default', 'events']);
    expect(cfg.classes.events?.policy).toBe('drop-oldest');
    expect(cfg.classes.bulk).toEqual({ maxBytes: 1073741824, maxAgeSec: 60, policy: 'reject', perDeviceShare: 0.5 });
  });

  it('reports every problem at once, each naming its key', () => {
    const path = file(
      [
        'mqtt:',
        '  port: 70000',
        '  prot: 1',
        '  tls: { cert: /etc/gw/cert.pem }',
        'kafka:',
        '  brokers: [nohost]',
        '  compression: brotli',
        'classes:',
        '  telemetry: {}',
        'routes:',
        '  - { filter: "devices/#/x", topic: "bad topic", class: bulk, key: "${device}" }',
        '  - { filter: "a+/b", topic: ok, minQos: 3 }',
        '  - { topic: ok }',
        'colour: blue',
      ].join('\n'),
    );
    const got = problems({ argv: ['--config', path], env: { GATEWAY_HTTP_PORT: 'abc' } });
    expect(got).toEqual(
      expect.arrayContaining([
        'GATEWAY_HTTP_PORT: "abc" is not an integer (http.port)',
        'mqtt.port: must be integer <= 65535, got 70000',
        'mqtt.prot: unknown key (did you mean "port"?) (known: host, port, ws, tls)',
        'mqtt.tls: cert and key must be set together',
        'kafka.brokers[0]: "nohost" must be host:port',
        'kafka.compression: must be one of "none", "gzip", "snappy", "lz4", "zstd", got "brotli"',
        'routes[0].filter: "#" must be the last level and alone in it, in "devices/#/x" [MQTT-4.7.1-2]',
        'routes[0].topic: "bad topic" is not a legal Kafka topic name (allowed: a-z A-Z 0-9 . _ -)',
        'routes[0].class: unknown class "bulk" (known: default, events, telemetry)',
        'routes[0].key: unknown placeholder "${device}" (known: ${clientid}, ${username}, ${topic}, ${topic.N})',
        'routes[1].filter: "+" must occupy a whole level, in "a+/b" [MQTT-4.7.1-3]',
        'routes[1].minQos: must be one of 0, 1, 2, got 3',
        'routes[2].filter: is required',
        expect.stringMatching(/^colour: unknown key \(known: gatewayId, dataDir, /),
      ]),
    );
    expect(got).toHaveLength(14);
  });

  it('names the env var when an env value fails validation', () => {
    expect(problems({ env: { GATEWAY_MQTT_PORT: '70000', GATEWAY_KAFKA_COMPRESSION: 'brotli' } })).toEqual([
      'GATEWAY_KAFKA_COMPRESSION: "brotli" is not one of "none", "gzip", "snappy", "lz4", "zstd" (kafka.compression)',
      'mqtt.port: must be integer <= 65535, got 70000 (from GATEWAY_MQTT_PORT)',
    ]);
    // LevelDB would raise a value under 74 silently: the gateway refuses it by name instead.
    expect(problems({ env: { GATEWAY_STORE_MAX_OPEN_FILES: '20' } })).toEqual([
      'store.maxOpenFiles: must be integer >= 74, got 20 (from GATEWAY_STORE_MAX_OPEN_FILES)',
    ]);
    expect(problems({ env: { GATEWAY_ROUTES: '[{"filter":"#","topic":"x","class":"bulk"}]' } })).toEqual([
      'routes[0].class: unknown class "bulk" (known: default, events) (from GATEWAY_ROUTES)',
    ]);
  });

  it('rejects bad JSON, bad booleans and unknown GATEWAY_* vars without echoing secrets', () => {
    const got = problems({
      env: {
        GATEWAY_SECURITY_AUTHENTICATION_USERS: '[{"username":"a","passwordHash":"hunter2"',
        GATEWAY_KAFKA_SSL: 'maybe',
        GATEWAY_MQTT_PROT: '1884',
      },
    });
    expect(got).toHaveLength(3);
    expect(got[0]).toMatch(
      /^GATEWAY_SECURITY_AUTHENTICATION_USERS: value is not valid JSON: .* \(security\.authentication\.users\)$/,
    );
    expect(got.join('\n')).not.toContain('hunter2');
    expect(got[1]).toBe('GATEWAY_KAFKA_SSL: "maybe" is not a boolean (use true or false) (kafka.ssl)');
    expect(got[2]).toBe(
      'GATEWAY_MQTT_PROT: unknown setting (did you mean GATEWAY_MQTT_PORT?); see docs/configuration.md',
    );
  });

  it('reports YAML syntax errors with the file and line', () => {
    const path = file('mqtt:\n  port: 1\n port: 2\n');
    expect(problems({ argv: ['--config', path], env: {} })).toEqual([
      `config file ${path}: line 3: bad indentation (all mapping items must start at the same column) (column 1)`,
    ]);
    const dup = file('dataDir: a\ndataDir: b\n');
    expect(problems({ argv: ['--config', dup], env: {} })[0]).toMatch(/: line 2: duplicate key/);
    expect(problems({ argv: ['--config', file('- 1\n')], env: {} })[0]).toMatch(/top level must be a mapping/);
  });

  it('reports a missing file and a --config without a path', () => {
    expect(problems({ argv: ['--config', join(dir, 'nope.yaml')], env: {} })).toEqual([
      `config file ${join(dir, 'nope.yaml')}: not found`,
    ]);
    expect(problems({ argv: ['--config'], env: {} })).toEqual(['--config: needs a file path']);
  });

  it('checks cross-field rules', () => {
    const got = problems({
      env: {
        GATEWAY_HTTP_PORT: '1883',
        GATEWAY_KAFKA_RETRY_INITIAL_MS: '60000',
        GATEWAY_KAFKA_SASL_MECHANISM: 'plain',
        GATEWAY_MQTT_WS_PATH: 'mqtt',
      },
    });
    expect(got).toEqual([
      'mqtt.ws.path: must start with "/", got "mqtt" (from GATEWAY_MQTT_WS_PATH)',
      'http.port: port 1883 is already used by mqtt.port (from GATEWAY_HTTP_PORT)',
      'kafka.retry: initialMs (60000) must not exceed maxMs (30000)',
      'kafka.sasl.username: must be set when mechanism is "plain"',
    ]);
  });

  it('returns a deeply frozen config', () => {
    const cfg = loadConfig({ env: {} });
    expect(Object.isFrozen(cfg)).toBe(true);
    expect(Object.isFrozen(cfg.kafka.batch)).toBe(true);
    expect(Object.isFrozen(cfg.routes[0])).toBe(true);
    expect(() => {
      (cfg.mqtt as { port: number }).port = 1;
    }).toThrow(TypeError);
    expect(() => (cfg.kafka.brokers as string[]).push('x:1')).toThrow(TypeError);
  });
});

describe('redactConfig', () => {
  it('hides every non-empty secret and leaves the rest and the original alone', () => {
    const cfg = loadConfig({
      env: {
        GATEWAY_KAFKA_SASL_MECHANISM: 'scram-sha-512',
        GATEWAY_KAFKA_SASL_USERNAME: 'gw',
        GATEWAY_KAFKA_SASL_PASSWORD: 'kafka-pw',
        GATEWAY_SECURITY_AUTHENTICATION_USERS: JSON.stringify([{ username: 'dev', passwordHash: S3CRET_HASH }]),
        GATEWAY_FLOWS_CREDENTIAL_SECRET: 'flows-pw',
      },
    });
    const red: GatewayConfig = redactConfig(cfg);
    const text = JSON.stringify(red);
    for (const secret of ['kafka-pw', S3CRET_HASH, 'flows-pw']) expect(text).not.toContain(secret);
    expect(red.kafka.sasl).toEqual({ mechanism: 'scram-sha-512', username: 'gw', password: REDACTED });
    expect(red.security.authentication.users).toEqual([{ username: 'dev', passwordHash: REDACTED }]);
    expect(cfg.kafka.sasl.password).toBe('kafka-pw');
    // An unset secret stays visibly unset.
    expect(redactConfig(loadConfig({ env: {} })).kafka.sasl.password).toBe('');
  });
});

describe('envVarNames', () => {
  it('derives one unique env var per setting from the schema', () => {
    const names = envVarNames();
    const byPath = new Map(names.map((n) => [n.path, n.env]));
    expect(byPath.get('dataDir')).toBe('GATEWAY_DATA_DIR');
    expect(byPath.get('mqtt.port')).toBe('GATEWAY_MQTT_PORT');
    expect(byPath.get('kafka.brokers')).toBe('GATEWAY_KAFKA_BROKERS');
    expect(byPath.get('store.groupCommit.maxRecords')).toBe('GATEWAY_STORE_GROUP_COMMIT_MAX_RECORDS');
    expect(byPath.get('routes')).toBe('GATEWAY_ROUTES');
    expect(byPath.get('classes')).toBe('GATEWAY_CLASSES');
    expect(new Set(names.map((n) => n.env)).size).toBe(names.length);
    expect(names.every((n) => n.description)).toBe(true);
  });

  it('describes every leaf of the schema', () => {
    const missing: string[] = [];
    const visit = (s: { description?: unknown; properties?: object; items?: object }, path: string) => {
      if (s.properties) for (const [k, v] of Object.entries(s.properties)) visit(v, path ? `${path}.${k}` : k);
      else if (!s.description && !path.startsWith('adapters.')) missing.push(path);
    };
    visit(GatewayConfigSchema, '');
    expect(missing).toEqual([]);
  });
});

describe('docs/configuration.md', () => {
  it('is generated from the current schema', () => {
    const docs = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(docs).toBe(renderDocs());
  });

  it('shows an example that loads, with the device state route', () => {
    const cfg = loadConfig({ argv: ['--config', file(EXAMPLE_YAML)], env: { GATEWAY_KAFKA_SASL_PASSWORD: 'pw' } });
    expect(cfg.routes).toEqual([
      {
        name: 'state',
        filter: 'devices/+/state',
        topic: 'message_state',
        key: '${topic.1}',
        format: 'raw',
        class: 'telemetry',
        minQos: 1,
      },
    ]);
    expect(cfg.classes.default?.policy).toBe('reject');
  });
});
