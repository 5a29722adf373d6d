// MQTT topic filter matching (MQTT 3.1.1 section 4.7), compiled once per filter.

export type TopicMatcher = (topic: string) => boolean;

export function compileFilter(filter: string): TopicMatcher {
  const levels = filter.split('/');
  const multi = levels[levels.length - 1] === '#';
  const fixed = multi ? levels.slice(0, -1) : levels;
  const wild = fixed.some((l) => l === '+');
  if (!multi && !wild) return (topic) => topic === filter;
  return (topic) => {
    // [MQTT-4.7.2-1] a filter starting with a wildcard does not match topics starting with '$'.
    if (topic.charCodeAt(0) === 36 && (fixed.length === 0 || fixed[0] === '+')) return false;
    const parts = topic.split('/');
    if (multi ? parts.length < fixed.length : parts.length !== fixed.length) return false;
    for (let i = 0; i < fixed.length; i++) {
      const f = fixed[i];
      if (f !== '+' && f !== parts[i]) return false;
    }
    return true;
  };
}
