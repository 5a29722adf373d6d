// The one MQTT topic module against a plain reference matcher, on random filters and topics (fast-check).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compileFilter, covers, topicFilterProblem, topicMatches } from '../../gateway/topic.ts';

/** The MQTT 3.1.1 rules read literally, level by level, recursively. */
function reference(filter: string, topic: string): boolean {
  const f = filter.split('/');
  const t = topic.split('/');
  // [MQTT-4.7.2-1] a filter starting with a wildcard does not match a topic starting with '$'.
  if (topic.startsWith('$') && (f[0] === '+' || f[0] === '#')) return false;
  const walk = (i: number): boolean => {
    if (i === f.length) return i === t.length;
    if (f[i] === '#') return true; // [MQTT-4.7.1-2] the rest, parent level included
    if (i === t.length) return false;
    return (f[i] === '+' || f[i] === t[i]) && walk(i + 1);
  };
  return walk(0);
}

// Few distinct level texts so that random filters and topics often share levels; '' and '$' topics included.
const level = fc.constantFrom('', 'a', 'b', 'dev', '$SYS', '$x');
const topicArb = fc.array(level, { minLength: 1, maxLength: 5 }).map((l) => l.join('/'));
const filterArb = fc
  .tuple(fc.array(fc.oneof(level, fc.constant('+')), { minLength: 0, maxLength: 5 }), fc.boolean())
  .filter(([levels, hash]) => levels.length > 0 || hash)
  .map(([levels, hash]) => (hash ? [...levels, '#'] : levels).join('/'))
  .filter((f) => f !== ''); // [MQTT-4.7.3-1]

/** A topic the filter matches: each `+` becomes one level, `#` zero or more. */
const matchingTopic = (filter: string) =>
  fc.tuple(fc.array(fc.constantFrom('a', 'b', 'dev', ''), { maxLength: 6 }), fc.nat({ max: 3 })).map(([fill, tail]) => {
    let k = 0;
    const next = () => fill[k++ % Math.max(fill.length, 1)] ?? 'a';
    const out: string[] = [];
    for (const l of filter.split('/')) {
      if (l === '+') out.push(next());
      else if (l === '#') for (let i = 0; i < tail; i++) out.push(next());
      else out.push(l);
    }
    return out.join('/');
  });

const RUNS = { numRuns: 2000 };

describe('topic matching against the reference', () => {
  it('random filters are valid filters', () => {
    fc.assert(fc.property(filterArb, (f) => topicFilterProblem(f) === undefined));
  });

  it('compileFilter, topicMatches and covers agree with the reference on random topics', () => {
    fc.assert(
      fc.property(filterArb, topicArb, (filter, topic) => {
        const want = reference(filter, topic);
        expect(compileFilter(filter)(topic)).toBe(want);
        expect(topicMatches(filter, topic)).toBe(want);
        expect(covers(filter.split('/'), topic)).toBe(want);
      }),
      RUNS,
    );
  });

  it('a topic built from the filter matches it, unless it starts with $ under a leading wildcard', () => {
    fc.assert(
      fc.property(
        filterArb.chain((f) => fc.tuple(fc.constant(f), matchingTopic(f))),
        ([filter, topic]) => {
          const dollarBlocked = topic.startsWith('$') && (filter.startsWith('+') || filter.startsWith('#'));
          expect(reference(filter, topic)).toBe(!dollarBlocked);
          expect(compileFilter(filter)(topic)).toBe(!dollarBlocked);
          expect(covers(filter.split('/'), topic)).toBe(!dollarBlocked);
        },
      ),
      RUNS,
    );
  });

  it('a filter covered by a rule filter matches only topics the rule matches', () => {
    fc.assert(
      fc.property(
        filterArb,
        filterArb.chain((f) => fc.tuple(fc.constant(f), matchingTopic(f))),
        (rule, [subject, topic]) => {
          if (!covers(rule.split('/'), subject)) return;
          if (!reference(subject, topic)) return;
          expect(reference(rule, topic)).toBe(true);
        },
      ),
      RUNS,
    );
  });

  it('a filter covers itself', () => {
    fc.assert(
      fc.property(filterArb, (f) => {
        expect(covers(f.split('/'), f)).toBe(true);
      }),
      RUNS,
    );
  });
});

describe('the MQTT rules, spelled out', () => {
  it.each([
    ['devices/+/state', 'devices/a/state', true],
    ['devices/+/state', 'devices/a/b/state', false],
    ['devices/#', 'devices', true], // [MQTT-4.7.1-2]
    ['devices/#', 'devices/a/b', true],
    ['#', '$SYS/x', false], // [MQTT-4.7.2-1]
    ['+/x', '$SYS/x', false],
    ['$SYS/#', '$SYS/x', true],
    ['+/x', '/x', true],
    ['+', '', true],
    ['a/b', 'a/b/c', false],
    ['a/b', 'a/bc', false],
  ])('%s vs %s → %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
    expect(covers(filter.split('/'), topic)).toBe(expected);
  });

  it('a wildcard in the subject is covered only by a wildcard of the rule', () => {
    expect(covers('devices/lock-1/#'.split('/'), 'devices/+/state')).toBe(false);
    expect(covers('devices/#'.split('/'), 'devices/+/state')).toBe(true);
    expect(covers('devices/+'.split('/'), 'devices/#')).toBe(false);
  });

  it.each([
    ['empty', '', /must not be empty/],
    ['a/#/b', 'a/#/b', /"#" must be the last level/],
    ['a#', 'a#', /"#" must be the last level/],
    ['a+/b', 'a+/b', /"\+" must occupy a whole level/],
    ['with U+0000', 'a\u0000b', /U\+0000/],
    ['of 65536 bytes', 'a'.repeat(65536), /65535 bytes/],
  ])('rejects the filter %s', (_name, filter, problem) => {
    expect(topicFilterProblem(filter)).toMatch(problem);
  });
});
