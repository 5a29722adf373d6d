// Builds the sink that `kafka.client` names; each implementation is loaded only when chosen.
import type { KafkaSink, KafkaSinkOptions, SinkName } from './types.ts';

export type { KafkaSink, KafkaSinkOptions, SinkName, SinkRecord } from './types.ts';

export async function createSink(name: SinkName, opts: KafkaSinkOptions): Promise<KafkaSink> {
  if (name === 'kafkajs') {
    const { KafkajsSink } = await import('./kafkajs.ts');
    return new KafkajsSink(opts);
  }
  const { PlatformaticSink } = await import('./platformatic.ts');
  return new PlatformaticSink(opts);
}
