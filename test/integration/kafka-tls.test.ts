// Kafka over mutual TLS with a plant's own CA: a real Kafka with an SSL listener that requires client certificates
// (certificates made with openssl here). Both sinks connect with the options kafkaConnection() builds — CA and key
// as PEM text, the certificate as a file — and deliver, and each library's source reads the record back over TLS; a
// client without a certificate, or one that trusts another CA, is refused. The gateway process itself forwards over
// mutual TLS with the material in environment variables (PEM text, as balena device variables carry it). Records are
// also read back over the plaintext listener with kcat.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import mqtt from 'mqtt';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KafkaConnectionConfig, kafkaConnection } from '../../cloud-sync/kafka-connection.ts';
import { createSink, type SinkName } from '../../cloud-sync/sinks/index.ts';
import { createSource, type SourceRecord } from '../../cloud-sync/sources/index.ts';
import { GatewayProcess } from '../harness/gateway-process.ts';
import { freePort, LocalKafka } from '../harness/kafka.ts';
import { kcatRead } from '../harness/kcat.ts';
import { waitFor } from '../harness/wait.ts';

const log = pino({ level: 'silent' });
const dir = mkdtempSync(join(tmpdir(), 'kafka-tls-'));
let kafka: LocalKafka;
let sslPort = 0;

function openssl(...args: string[]): void {
  const r = spawnSync('openssl', args, { cwd: dir, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

/** A plant CA, a broker certificate for 127.0.0.1 and a gateway client certificate signed by it, and another CA. */
function certificates(): void {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  for (const ca of ['ca', 'other-ca'])
    openssl('req', '-x509', ...ec, '-days', '1', '-subj', `/CN=${ca}`, '-keyout', `${ca}.key`, '-out', `${ca}.pem`);
  writeFileSync(join(dir, 'broker.ext'), 'subjectAltName=IP:127.0.0.1\n');
  for (const [name, cn, ext] of [
    ['broker', '127.0.0.1', 'broker.ext'],
    ['gateway', 'gateway-line-3', ''],
  ] as const) {
    openssl('req', ...ec, '-subj', `/CN=${cn}`, '-keyout', `${name}.key`, '-out', `${name}.csr`);
    const sign = ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.pem', '-CAkey', 'ca.key', '-CAcreateserial'];
    openssl(...sign, '-days', '1', '-out', `${name}.pem`, ...(ext ? ['-extfile', ext] : []));
  }
  // Kafka's PEM keystore: the PKCS#8 key followed by the certificate chain, in one file.
  writeFileSync(
    join(dir, 'broker-keystore.pem'),
    readFileSync(join(dir, 'broker.key'), 'utf8') + readFileSync(join(dir, 'broker.pem'), 'utf8'),
  );
}

const text = (f: string): string => readFileSync(join(dir, f), 'utf8');

beforeAll(async () => {
  certificates();
  sslPort = await freePort();
  kafka = await LocalKafka.start({
    extraListeners: [{ name: 'SSL', protocol: 'SSL', port: sslPort }],
    brokerProps: {
      'ssl.keystore.type': 'PEM',
      'ssl.keystore.location': join(dir, 'broker-keystore.pem'),
      'ssl.truststore.type': 'PEM',
      'ssl.truststore.location': join(dir, 'ca.pem'),
      'ssl.client.auth': 'required',
    },
  });
});

afterAll(async () => {
  await kafka?.close();
  rmSync(dir, { recursive: true, force: true });
});

function connection(tls: Partial<KafkaConnectionConfig['tls']>): KafkaConnectionConfig {
  return {
    brokers: [`127.0.0.1:${sslPort}`],
    ssl: false,
    tls: { enabled: true, ca: '', cert: '', key: '', ...tls },
    sasl: { mechanism: 'none', username: '', password: '' },
  };
}

async function sendOne(name: SinkName, cfg: KafkaConnectionConfig, topic: string): Promise<void> {
  const conn = kafkaConnection(cfg);
  const sink = await createSink(name, {
    brokers: conn.brokers,
    clientId: 'tls-test',
    compression: 'none',
    requestTimeoutMs: 10_000,
    tls: conn.tls,
    sasl: conn.sasl,
    log,
  });
  try {
    await sink.connect();
    await sink.send([{ topic, key: Buffer.from('lock-1'), value: Buffer.from(`over tls: ${name}`), headers: {} }]);
  } finally {
    await sink.close().catch(() => {});
  }
}

/** Reads the topic back over TLS with the library's source (the downlink's consumer), from a fresh group. */
async function readOne(name: SinkName, cfg: KafkaConnectionConfig, topic: string): Promise<string[]> {
  const conn = kafkaConnection(cfg);
  const got: SourceRecord[] = [];
  const source = await createSource(name, {
    ...conn,
    clientId: 'tls-test',
    requestTimeoutMs: 10_000,
    groupId: `g-${topic}`,
    topics: [topic],
    startAt: 'earliest',
    sessionTimeoutMs: 6000,
    heartbeatIntervalMs: 1000,
    rebalanceTimeoutMs: 10_000,
    log,
  });
  try {
    await source.start(async (r) => {
      got.push(r);
    });
    await expect.poll(() => got.length, { timeout: 60_000 }).toBeGreaterThan(0);
  } finally {
    await source.stop();
  }
  return got.map((r) => r.value?.toString() ?? '');
}

describe.each<SinkName>(['platformatic', 'kafkajs'])('Kafka mutual TLS: %s', (name) => {
  it('delivers with the plant CA and a client certificate (PEM text and file)', async () => {
    const topic = `tls.${name}.${randomBytes(4).toString('hex')}`;
    await sendOne(
      name,
      connection({ ca: text('ca.pem'), cert: join(dir, 'gateway.pem'), key: text('gateway.key') }),
      topic,
    );
    expect(kcatRead(kafka.brokers, topic).map((r) => r.payload)).toEqual([`over tls: ${name}`]);
    // The consumer connects with the same mapping of the same connection.
    const mtls = connection({ ca: text('ca.pem'), cert: text('gateway.pem'), key: text('gateway.key') });
    expect(await readOne(name, mtls, topic)).toEqual([`over tls: ${name}`]);
  });

  it('is refused without a client certificate, and when it trusts another CA', async () => {
    const topic = `tls.refused.${name}.${randomBytes(4).toString('hex')}`;
    await expect(sendOne(name, connection({ ca: text('ca.pem') }), topic)).rejects.toThrow();
    await expect(
      sendOne(
        name,
        connection({ ca: text('other-ca.pem'), cert: text('gateway.pem'), key: text('gateway.key') }),
        topic,
      ),
    ).rejects.toThrow();
  });
});

it('the gateway process forwards over mutual TLS with the PEM text in GATEWAY_KAFKA_TLS_* variables', async () => {
  const topic = `tls.gateway.${randomBytes(4).toString('hex')}`;
  const gw = await GatewayProcess.create({
    env: {
      GATEWAY_KAFKA_BROKERS: `127.0.0.1:${sslPort}`,
      GATEWAY_KAFKA_TLS_CA: text('ca.pem'),
      // One line with a literal backslash-n per line break, as a device variable often holds it.
      GATEWAY_KAFKA_TLS_CERT: text('gateway.pem').trim().replace(/\n/g, '\\n'),
      GATEWAY_KAFKA_TLS_KEY: text('gateway.key'),
      GATEWAY_FLOWS_ENABLED: 'false',
      GATEWAY_ROUTES: JSON.stringify([{ filter: '#', topic }]),
    },
  });
  try {
    await gw.start();
    const c = await mqtt.connectAsync(gw.url, { clientId: 'lock-7', clean: true });
    await c.publishAsync('devices/lock-7/state', '{"locked":false}', { qos: 1 });
    await c.endAsync();
    await waitFor('forwarded over TLS', async () => (await gw.metric('gateway_forwarded_records_total')) >= 1, 60_000);
    expect(kcatRead(kafka.brokers, topic).map((r) => r.payload)).toEqual(['{"locked":false}']);
    expect(((await gw.health()).kafka as { tls: boolean }).tls).toBe(true);
    expect(gw.output).not.toContain('PRIVATE KEY');
  } finally {
    await gw.close();
  }
});
