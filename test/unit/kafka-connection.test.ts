// The Kafka connection settings become one set of client options for both sinks and the downlink: TLS from PEM text
// or files (errors name the key), mutual TLS needs cert and key, the old `ssl: true` still works, and SASL plain
// without TLS is warned about. Each library maps that one connection in one place, for its sink and its source.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { type ConfigError, loadConfig } from '../../app/config/index.ts';
import {
  type KafkaConnectionConfig,
  kafkaConnection,
  kafkaConnectionWarnings,
} from '../../cloud-sync/kafka-connection.ts';
import { kafkajsConfig } from '../../cloud-sync/sinks/kafkajs-connection.ts';
import { platformaticOptions } from '../../cloud-sync/sinks/platformatic-connection.ts';
import { readPem } from '../../gateway/pem.ts';

const dir = mkdtempSync(join(tmpdir(), 'kafka-conn-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const PEM = '-----BEGIN CERTIFICATE-----\nMIIBdummy\n-----END CERTIFICATE-----';
const KEY = '-----BEGIN PRIVATE KEY-----\nMIIEdummy\n-----END PRIVATE KEY-----';

function cfg(over: Partial<KafkaConnectionConfig> = {}): KafkaConnectionConfig {
  return {
    brokers: ['k1:9093'],
    ssl: false,
    tls: { enabled: false, ca: '', cert: '', key: '' },
    sasl: { mechanism: 'none', username: '', password: '' },
    ...over,
  };
}

it('plaintext by default, no SASL', () => {
  expect(kafkaConnection(cfg())).toEqual({ brokers: ['k1:9093'], tls: undefined, sasl: undefined });
});

it('the old ssl: true and tls.enabled both mean TLS verified against the system CAs', () => {
  expect(kafkaConnection(cfg({ ssl: true })).tls).toEqual({ rejectUnauthorized: true });
  expect(kafkaConnection(cfg({ tls: { enabled: true, ca: '', cert: '', key: '' } })).tls).toEqual({
    rejectUnauthorized: true,
  });
});

it('mutual TLS from PEM text and files; a CA alone turns TLS on', () => {
  const caFile = join(dir, 'ca.pem');
  writeFileSync(caFile, `${PEM}\n`);
  const conn = kafkaConnection(cfg({ tls: { enabled: false, ca: caFile, cert: PEM, key: KEY } }));
  expect(conn.tls).toEqual({ rejectUnauthorized: true, ca: `${PEM}\n`, cert: `${PEM}\n`, key: `${KEY}\n` });
  expect(kafkaConnection(cfg({ tls: { enabled: false, ca: PEM, cert: '', key: '' } })).tls?.ca).toBe(`${PEM}\n`);
});

it('PEM text from a device variable with literal \\n is turned back into lines', () => {
  const oneLine = PEM.replace(/\n/g, '\\n');
  expect(readPem(oneLine, 'mqtt.tls.cert')).toBe(`${PEM}\n`);
});

it('errors name the key: a missing file, a file without PEM, cert without key', () => {
  expect(() => kafkaConnection(cfg({ tls: { enabled: true, ca: join(dir, 'nope.pem'), cert: '', key: '' } }))).toThrow(
    /^kafka\.tls\.ca: cannot read ".*nope\.pem" \(ENOENT\)/,
  );
  const notPem = join(dir, 'not.pem');
  writeFileSync(notPem, 'hello');
  expect(() => readPem(notPem, 'mqtt.tls.ca')).toThrow(/^mqtt\.tls\.ca: ".*not\.pem" holds no PEM block/);
  expect(() => kafkaConnection(cfg({ tls: { enabled: true, ca: '', cert: PEM, key: '' } }))).toThrow(
    'kafka.tls.cert: set, but kafka.tls.key is not (mutual TLS needs both)',
  );
});

it('SASL plain without TLS is warned about; with TLS or SCRAM it is not', () => {
  const plain = { mechanism: 'plain' as const, username: 'gw', password: 'pw' };
  expect(kafkaConnectionWarnings(kafkaConnection(cfg({ sasl: plain })))).toEqual([
    expect.stringContaining('password travels in clear text'),
  ]);
  expect(kafkaConnectionWarnings(kafkaConnection(cfg({ sasl: plain, ssl: true })))).toEqual([]);
  const scram = { ...plain, mechanism: 'scram-sha-512' as const };
  expect(kafkaConnection(cfg({ sasl: scram })).sasl).toEqual(scram);
});

it('from the environment: PEM text in GATEWAY_KAFKA_TLS_*, an empty broker list means not configured', () => {
  const c = loadConfig({
    env: {
      GATEWAY_KAFKA_TLS_CA: PEM,
      GATEWAY_KAFKA_TLS_CERT: PEM,
      GATEWAY_KAFKA_TLS_KEY: KEY,
      GATEWAY_KAFKA_BROKERS: '',
    },
  });
  const conn = kafkaConnection(c.kafka);
  expect(conn.brokers).toEqual([]);
  expect(conn.tls?.key).toBe(`${KEY}\n`);
});

it('--check-config catches a client certificate without its key, naming the key', () => {
  let problems: string[] = [];
  try {
    loadConfig({ env: { GATEWAY_KAFKA_TLS_CERT: PEM } });
  } catch (err) {
    problems = (err as ConfigError).problems;
  }
  expect(problems).toEqual(['kafka.tls: cert and key must be set together (mutual TLS)']);
});

it('each library gets the same brokers, TLS, SASL, client id and timeouts from the one connection', () => {
  const conn = kafkaConnection(
    cfg({
      brokers: ['k1:9093', 'k2:9093'],
      tls: { enabled: false, ca: PEM, cert: PEM, key: KEY },
      sasl: { mechanism: 'scram-sha-256', username: 'gw', password: 'pw' },
    }),
  );
  const o = { ...conn, clientId: 'line-3', requestTimeoutMs: 12_000 };
  const retry = { retries: 5 };
  expect(kafkajsConfig(o, retry)).toMatchObject({
    clientId: 'line-3',
    brokers: ['k1:9093', 'k2:9093'],
    ssl: conn.tls,
    sasl: { mechanism: 'scram-sha-256', username: 'gw', password: 'pw' },
    connectionTimeout: 5000,
    requestTimeout: 12_000,
    retry,
  });
  expect(platformaticOptions(o)).toEqual({
    clientId: 'line-3',
    bootstrapBrokers: ['k1:9093', 'k2:9093'],
    tls: conn.tls,
    sasl: { mechanism: 'SCRAM-SHA-256', username: 'gw', password: 'pw' },
    connectTimeout: 5000,
    timeout: 12_000,
  });
  // Plaintext without SASL: neither library is given TLS or SASL options.
  const plain = { ...kafkaConnection(cfg()), clientId: 'c', requestTimeoutMs: 1000 };
  expect(kafkajsConfig(plain, retry)).toMatchObject({ ssl: false });
  expect(kafkajsConfig(plain, retry)).not.toHaveProperty('sasl');
  expect(platformaticOptions(plain)).not.toHaveProperty('tls');
  expect(platformaticOptions(plain)).not.toHaveProperty('sasl');
});
