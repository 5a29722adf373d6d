#!/usr/bin/env node
// `npm run kafka`: a local single-node Kafka on 127.0.0.1:9092 for trying the gateway by hand.
// Data stays in .cache/kafka/local between runs; Ctrl-C stops it.
import { join } from 'node:path';
import { LocalKafka, repoRoot } from './kafka.ts';

const port = Number(process.env.KAFKA_PORT ?? 9092);
const dataDir = process.env.KAFKA_DATA_DIR ?? join(repoRoot, '.cache', 'kafka', 'local');
console.log(`starting Kafka on 127.0.0.1:${port} (data: ${dataDir}) ...`);
const kafka = await LocalKafka.start({ port, dataDir, verbose: Boolean(process.env.KAFKA_VERBOSE) });
console.log(`Kafka ready on ${kafka.brokers.join(',')}; Ctrl-C to stop`);
const stop = async (): Promise<void> => {
  await kafka.stop();
  process.exit(0);
};
process.once('SIGINT', stop);
process.once('SIGTERM', stop);
