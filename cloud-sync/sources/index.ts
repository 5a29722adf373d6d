// Builds the source that `kafka.client` names (the same library as the sink); each is loaded only when chosen.
import type { KafkaSource, KafkaSourceOptions, SourceName } from './types.ts';

export type { KafkaSource, KafkaSourceOptions, RecordHandler, SourceName, SourceRecord, StartAt } from './types.ts';

export async function createSource(name: SourceName, opts: KafkaSourceOptions): Promise<KafkaSource> {
  if (name === 'kafkajs') {
    const { KafkajsSource } = await import('./kafkajs.ts');
    return new KafkajsSource(opts);
  }
  const { PlatformaticSource } = await import('./platformatic.ts');
  return new PlatformaticSource(opts);
}
