// Kafka topic names, as Kafka's `Topic.validate` accepts them: the routes' and the downlink's topics are checked
// against these rules when the config loads, not at the first produce.

const KAFKA_TOPIC = /^[a-zA-Z0-9._-]{1,249}$/;

/** Why a Kafka topic name is illegal, or undefined. */
export function kafkaTopicProblem(topic: string): string | undefined {
  if (topic === '') return 'must not be empty';
  if (topic === '.' || topic === '..') return `${JSON.stringify(topic)} is not a legal Kafka topic name`;
  if (topic.length > 249) return `must be at most 249 characters (has ${topic.length})`;
  if (!KAFKA_TOPIC.test(topic)) {
    return `${JSON.stringify(topic)} is not a legal Kafka topic name (allowed: a-z A-Z 0-9 . _ -)`;
  }
  return undefined;
}
