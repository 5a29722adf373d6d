// biome-ignore-all lint/suspicious/noTemplateCurlyInString: key templates spell their placeholders as ${name}.
import { describe, expect, it } from 'vitest';
import { compileKeyTemplate, keyTemplateProblem } from '../../gateway/config/template.ts';
import { kafkaTopicProblem } from '../../gateway/kafka-topic.ts';
import { topicFilterProblem } from '../../gateway/topic.ts';

const msg = { clientId: 'dev-1', username: 'alice', topic: 'site/7/devices/dev-1/state' };

describe('compileKeyTemplate', () => {
  it('renders each placeholder', () => {
    expect(compileKeyTemplate('${clientid}')(msg)).toBe('dev-1');
    expect(compileKeyTemplate('${username}')(msg)).toBe('alice');
    expect(compileKeyTemplate('${topic}')(msg)).toBe('site/7/devices/dev-1/state');
    expect(compileKeyTemplate('${topic.0}')(msg)).toBe('site');
    expect(compileKeyTemplate('${topic.3}')(msg)).toBe('dev-1');
  });

  it('mixes literals and placeholders', () => {
    expect(compileKeyTemplate('site-${topic.1}/${clientid}:${username}')(msg)).toBe('site-7/dev-1:alice');
    expect(compileKeyTemplate('fixed')(msg)).toBe('fixed');
    expect(compileKeyTemplate('')(msg)).toBe('');
    expect(compileKeyTemplate('cost $5 {x}')(msg)).toBe('cost $5 {x}');
  });

  it('renders a missing username or topic level as empty', () => {
    expect(compileKeyTemplate('${username}')({ clientId: 'c', topic: 't' })).toBe('');
    expect(compileKeyTemplate('a${topic.9}b')(msg)).toBe('ab');
  });

  it('rejects unknown and unterminated placeholders', () => {
    expect(() => compileKeyTemplate('${clientId}')).toThrow(/unknown placeholder "\$\{clientId\}" \(known: /);
    expect(keyTemplateProblem('${topic.x}')).toMatch(/unknown placeholder/);
    expect(keyTemplateProblem('${topic.01}')).toMatch(/unknown placeholder/);
    expect(keyTemplateProblem('key-${clientid')).toBe('unterminated placeholder "${clientid"');
    expect(keyTemplateProblem('${topic.12}-${username}')).toBeUndefined();
  });

  it('is reusable across calls with different messages', () => {
    const key = compileKeyTemplate('${topic.1}-${clientid}');
    expect(key({ clientId: 'a', topic: 'x/1' })).toBe('1-a');
    expect(key({ clientId: 'b', topic: 'x/2/z' })).toBe('2-b');
  });
});

describe('topic filters and Kafka topic names', () => {
  it('accepts valid MQTT filters', () => {
    for (const f of ['#', '+', 'a/b', 'devices/+/state', 'a/#', '+/+/#', '/', 'a//b', '/+']) {
      expect(topicFilterProblem(f), f).toBeUndefined();
    }
  });

  it('rejects misplaced wildcards [MQTT-4.7.1-2/3] and empty filters', () => {
    for (const f of ['a/#/b', 'a#', '#/a', 'a+', 'a/+b/c', '', 'a\u0000b']) {
      expect(topicFilterProblem(f), f).toBeDefined();
    }
  });

  it('applies Kafka topic name rules', () => {
    expect(kafkaTopicProblem('message_state')).toBeUndefined();
    expect(kafkaTopicProblem('edge.uplink-1')).toBeUndefined();
    expect(kafkaTopicProblem('a'.repeat(249))).toBeUndefined();
    expect(kafkaTopicProblem('a'.repeat(250))).toMatch(/at most 249/);
    expect(kafkaTopicProblem('a/b')).toMatch(/not a legal Kafka topic name/);
    expect(kafkaTopicProblem('..')).toBeDefined();
    expect(kafkaTopicProblem('')).toBe('must not be empty');
  });
});
