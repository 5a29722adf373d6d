// Kafka's own Java producer as a reference: org.apache.kafka.tools.ProducerPerformance from the kafka-tools jar
// (with the client jars beside it in the harness's cache), run with the `java` the harness finds (17 or newer).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { join } from 'node:path';
import { kafkaLibsDir, repoRoot } from '../../test/harness/kafka.ts';

export interface ProducerPerformanceResult {
  records: number;
  /** records/sec as the tool prints it: from its first send to the last acknowledgement. */
  rate: number;
  avgMs: number;
  p50: number;
  p99: number;
}

/** The tool's closing line: "N records sent, R records/sec (M MB/sec), A ms avg latency, ... P ms 50th, ... Q ms 99th, ...". */
export function parseProducerPerformance(out: string): ProducerPerformanceResult {
  const last = out
    .split('\n')
    .filter((l) => / records sent, .* records\/sec .* 50th/.test(l))
    .pop();
  const m =
    last &&
    /(\d+) records sent, ([\d.]+) records\/sec .*?, ([\d.]+) ms avg latency, .*?(\d+) ms 50th, .*?(\d+) ms 99th/.exec(
      last,
    );
  if (!m) throw new Error(`no summary line in ProducerPerformance's output:\n${out.slice(-2000)}`);
  return { records: Number(m[1]), rate: Number(m[2]), avgMs: Number(m[3]), p50: Number(m[4]), p99: Number(m[5]) };
}

function java(main: string, args: string[]): Promise<string> {
  const p = spawn(
    'java',
    [
      '-Xms256m',
      '-Xmx512m',
      '-Djava.awt.headless=true',
      `-Dlog4j2.configurationFile=${join(repoRoot, 'test', 'harness', 'log4j2.properties')}`,
      '-cp',
      `${kafkaLibsDir()}/*`,
      main,
      ...args,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  const add = (d: Buffer): void => {
    out += d.toString();
  };
  p.stdout.on('data', add);
  p.stderr.on('data', add);
  return once(p, 'exit').then(([code]) => {
    if (code !== 0) throw new Error(`java ${main} exited with ${code}:\n${out.slice(-2000)}`);
    return out;
  });
}

/** Creates `topic` beforehand, so the topic's creation is not part of the measurement. */
export async function createTopic(brokers: string[], topic: string, partitions: number): Promise<void> {
  await java('org.apache.kafka.tools.TopicCommand', [
    '--bootstrap-server',
    brokers.join(','),
    '--create',
    '--topic',
    topic,
    '--partitions',
    String(partitions),
    '--replication-factor',
    '1',
  ]);
}

/** `records` records of `size` bytes as fast as the producer goes, acks=all, idempotent (no key, no headers). */
export async function producerPerformance(
  brokers: string[],
  topic: string,
  records: number,
  size: number,
): Promise<ProducerPerformanceResult> {
  const out = await java('org.apache.kafka.tools.ProducerPerformance', [
    '--topic',
    topic,
    '--num-records',
    String(records),
    '--record-size',
    String(size),
    '--throughput',
    '-1',
    '--producer-props',
    `bootstrap.servers=${brokers.join(',')}`,
    'acks=all',
    'enable.idempotence=true',
    'compression.type=none',
  ]);
  return parseProducerPerformance(out);
}
