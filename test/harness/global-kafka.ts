// Starts one Kafka for the integration and end-to-end tests (or uses KAFKA_BROKERS) and hands its address to them.
import type { TestProject } from 'vitest/node';
import { LocalKafka } from './kafka.ts';

declare module 'vitest' {
  export interface ProvidedContext {
    kafkaBrokers: string[];
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  if (process.env.KAFKA_BROKERS) {
    project.provide('kafkaBrokers', process.env.KAFKA_BROKERS.split(','));
    return async () => {};
  }
  const kafka = await LocalKafka.start();
  project.provide('kafkaBrokers', kafka.brokers);
  return async () => {
    await kafka.close();
  };
}
