// MQTT topics (MQTT 3.1.1 section 4.7), in one place: filter matching (compiled once per filter, or one-shot), the
// ACL's coverage of a topic or a filter by a rule filter, and the validation of filters.
// [MQTT-4.7.1-2] `#` is the last level and matches the parent too (`a/#` matches `a`); [MQTT-4.7.1-3] `+` is one
// whole level; [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with `$`.

export type TopicMatcher = (topic: string) => boolean;

const DOLLAR = 36; // '$'
const HASH = 35; // '#'

export function compileFilter(filter: string): TopicMatcher {
  const levels = filter.split('/');
  const multi = levels[levels.length - 1] === '#';
  const fixed = multi ? levels.slice(0, -1) : levels;
  const wild = fixed.some((l) => l === '+');
  if (!multi && !wild) return (topic) => topic === filter;
  return (topic) => {
    if (topic.charCodeAt(0) === DOLLAR && (fixed.length === 0 || fixed[0] === '+')) return false;
    const parts = topic.split('/');
    if (multi ? parts.length < fixed.length : parts.length !== fixed.length) return false;
    for (let i = 0; i < fixed.length; i++) {
      const f = fixed[i];
      if (f !== '+' && f !== parts[i]) return false;
    }
    return true;
  };
}

/** Whether `topic` matches `filter`, for a filter used once (compile a filter used over and over). */
export function topicMatches(filter: string, topic: string): boolean {
  return compileFilter(filter)(topic);
}

/**
 * Whether `subject` (a topic, or a subscription filter) lies within the filter `rule` (split into levels). A
 * wildcard in the subject is only covered by a wildcard of the rule, so `devices/+/state` is not within
 * `devices/lock-1/#`. For a topic it is the same answer as the match. No allocation: the subject is walked with
 * indexOf.
 */
export function covers(rule: readonly string[], subject: string): boolean {
  const dollar = subject.charCodeAt(0) === DOLLAR;
  let start = 0;
  for (let i = 0; i < rule.length; i++) {
    const r = rule[i] as string;
    if (r === '#') return !(i === 0 && dollar);
    if (start > subject.length) return false;
    let end = subject.indexOf('/', start);
    if (end === -1) end = subject.length;
    if (r === '+') {
      if (i === 0 && dollar) return false;
      if (end - start === 1 && subject.charCodeAt(start) === HASH) return false;
    } else if (r.length !== end - start || !subject.startsWith(r, start)) {
      return false;
    }
    start = end + 1;
  }
  return start === subject.length + 1;
}

/** Why an MQTT topic filter is invalid, or undefined. */
export function topicFilterProblem(filter: string): string | undefined {
  if (filter === '') return 'must not be empty [MQTT-4.7.3-1]';
  if (filter.includes('\u0000')) return 'must not contain U+0000 [MQTT-4.7.3-2]';
  if (Buffer.byteLength(filter) > 65535) return 'must be at most 65535 bytes [MQTT-4.7.3-3]';
  const levels = filter.split('/');
  for (let i = 0; i < levels.length; i++) {
    const level = levels[i] as string;
    if (level.includes('#') && (level !== '#' || i !== levels.length - 1)) {
      return `"#" must be the last level and alone in it, in ${JSON.stringify(filter)} [MQTT-4.7.1-2]`;
    }
    if (level.includes('+') && level !== '+') {
      return `"+" must occupy a whole level, in ${JSON.stringify(filter)} [MQTT-4.7.1-3]`;
    }
  }
  return undefined;
}
