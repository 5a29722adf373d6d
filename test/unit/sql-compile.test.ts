import { describe, expect, it } from 'vitest';
import { compileRule, RuleSqlError } from '../../flows/sql/compile.ts';
import { topicMatches } from '../../gateway/topic.ts';

const row = (payload: unknown, extra: Record<string, unknown> = {}) => ({
  topic: 'devices/lock-1/state',
  clientid: 'Lock-1',
  qos: 1,
  payload,
  deviceSeq: 7,
  timestamp: 1_700_000_000_123,
  ...extra,
});

describe('edge rule SQL', () => {
  it('selects nested fields with aliases when WHERE holds', () => {
    const rule = compileRule(
      `SELECT payload.temp AS t, clientid FROM "devices/+/state" WHERE payload.temp > 100 AND payload.unit = 'C'`,
    );
    expect(rule.from).toEqual(['devices/+/state']);
    expect(rule.run(row({ temp: 120, unit: 'C' }))).toEqual({ t: 120, clientid: 'Lock-1' });
    expect(rule.run(row({ temp: 90, unit: 'C' }))).toBeNull();
    expect(rule.run(row({ temp: 120, unit: 'F' }))).toBeNull();
  });

  it('filters out messages whose topic is not in FROM', () => {
    const rule = compileRule(`SELECT * FROM "devices/+/state"`);
    expect(rule.run(row({}, { topic: 'devices/lock-1/cmd' }))).toBeNull();
    expect(rule.run(row({}, { topic: 'devices/a/b/state' }))).toBeNull();
  });

  it('SELECT * returns every field of the message', () => {
    const rule = compileRule(`SELECT * FROM "devices/#"`);
    expect(rule.run(row({ a: 1 }))).toEqual(row({ a: 1 }));
  });

  it('keeps the path of an unaliased nested field, and deep nesting and 1-based array indexes', () => {
    const rule = compileRule(`SELECT payload.a.b.c, payload.items[1] AS first FROM "devices/#"`);
    expect(rule.run(row({ a: { b: { c: 5 } }, items: ['x', 'y'] }))).toEqual({
      payload: { a: { b: { c: 5 } } },
      first: 'x',
    });
  });

  it('missing fields are NULL: no crash, WHERE is not true, the column is left out', () => {
    const rule = compileRule(
      `SELECT payload.temp AS t, payload.nope.deeper AS d FROM "devices/#" WHERE payload.temp > 1`,
    );
    expect(rule.run(row({ temp: 2 }))).toEqual({ t: 2 });
    expect(rule.run(row({}))).toBeNull();
    expect(rule.run(row(Buffer.from('not json')))).toBeNull();
    expect(rule.run(row(null))).toBeNull();
    // NOT of NULL is NULL, so a NOT over a missing field does not let the message through either.
    expect(compileRule(`SELECT 1 AS x FROM "devices/#" WHERE NOT payload.missing > 3`).run(row({}))).toBeNull();
  });

  it('evaluates OR / NOT / IN / NOT IN / BETWEEN / LIKE / IS NULL', () => {
    const where = (w: string, p: unknown) =>
      compileRule(`SELECT 1 AS ok FROM "devices/#" WHERE ${w}`).run(row(p)) !== null;
    expect(
      where(`payload.battery < 20 OR (payload.event = 'unlock' AND payload.ok = false)`, {
        battery: 50,
        event: 'unlock',
        ok: false,
      }),
    ).toBe(true);
    expect(
      where(`payload.battery < 20 OR (payload.event = 'unlock' AND payload.ok = false)`, {
        battery: 50,
        event: 'unlock',
        ok: true,
      }),
    ).toBe(false);
    expect(where(`NOT (payload.x IN (1, 2, 3))`, { x: 4 })).toBe(true);
    expect(where(`payload.x NOT IN (1, 2, 3)`, { x: 2 })).toBe(false);
    expect(where(`payload.s IN ('a', 'b')`, { s: 'b' })).toBe(true);
    expect(where(`payload.x BETWEEN 1 AND 3`, { x: 3 })).toBe(true);
    expect(where(`payload.code LIKE 'P0%'`, { code: 'P0301' })).toBe(true);
    expect(where(`payload.code LIKE 'P0%'`, { code: 'U0100' })).toBe(false);
    expect(where(`payload.dtc IS NOT NULL`, { dtc: 'P0301' })).toBe(true);
    expect(where(`payload.dtc IS NULL`, {})).toBe(true);
    expect(where(`payload.a != 3 AND payload.a <> 4`, { a: 5 })).toBe(true);
    expect(where(`payload.unit = "C"`, { unit: 'C' })).toBe(true);
    expect(where(`clientid = 'Lock-1' AND qos >= 1`, {})).toBe(true);
  });

  it('computes arithmetic and functions', () => {
    expect(compileRule(`SELECT 1e3 AS k, 2.5 * 2 AS f FROM "a"`).run({ topic: 'a' })).toEqual({ k: 1000, f: 5 });
    const rule = compileRule(
      `SELECT abs(payload.x - 10) AS d, round(payload.v, 1) AS v, payload.kmh / 3.6 AS ms, lower(clientid) AS id,
         upper(payload.s) AS s, now_timestamp() AS sec, now_timestamp('millisecond') AS ms2, -payload.x AS neg,
         concat(clientid, '/', payload.s) AS path, coalesce(payload.none, 'dflt') AS c
       FROM "devices/#"`,
    );
    expect(rule.run(row({ x: 4, v: 1.26, kmh: 36, s: 'ab' }), 1_700_000_000_999)).toEqual({
      d: 6,
      v: 1.3,
      ms: 10,
      id: 'lock-1',
      s: 'AB',
      sec: 1_700_000_000,
      ms2: 1_700_000_000_999,
      neg: -4,
      path: 'Lock-1/ab',
      c: 'dflt',
    });
  });

  it('arithmetic on a missing or non-numeric field is NULL, not NaN', () => {
    const rule = compileRule(`SELECT payload.x * 2 AS y, payload.x / 0 AS z FROM "devices/#"`);
    expect(rule.run(row({ x: 'a' }))).toEqual({});
    expect(rule.run(row({}))).toEqual({});
  });

  it('CASE WHEN picks a level', () => {
    const rule = compileRule(`SELECT CASE WHEN payload.t > 80 THEN 'hot' ELSE 'ok' END AS lvl FROM "devices/#"`);
    expect(rule.run(row({ t: 90 }))).toEqual({ lvl: 'hot' });
    expect(rule.run(row({ t: 20 }))).toEqual({ lvl: 'ok' });
  });

  it('reads several topic filters from FROM', () => {
    const rule = compileRule(`SELECT topic FROM "a/+", "devices/#"`);
    expect(rule.from).toEqual(['a/+', 'devices/#']);
    expect(rule.run(row({}))).toEqual({ topic: 'devices/lock-1/state' });
  });

  it.each([
    ['SELEC x FROM "a"', /syntax/],
    ['', /syntax|SELECT/],
    ['DELETE FROM "a"', /only SELECT/],
    ['SELECT a FROM "x"; SELECT b FROM "y"', /one SELECT/],
    ['SELECT payload.x FROM "a" ORDER BY payload.x', /ORDER/],
    ['SELECT payload.x FROM "a" LIMIT 3', /LIMIT/],
    ['SELECT nosuch(payload.x) AS y FROM "a"', /unknown function nosuch/],
    ['SELECT abs(1, 2) AS y FROM "a"', /abs\(\) takes 1/],
    ['SELECT x FROM "a/#/b"', /topic filter/],
    ['SELECT x FROM "a/b+"', /topic filter/],
    ['SELECT x FROM "a" WHERE x IS 3', /NULL/],
  ])('rejects %j with a rule error', (sql, message) => {
    let caught: unknown;
    try {
      compileRule(sql);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(RuleSqlError);
    expect((caught as RuleSqlError).code).toBe('GW_ERR_RULE_SQL');
    expect((caught as Error).message).toMatch(message);
  });
});

describe('topic filter match', () => {
  it.each([
    ['devices/+/state', 'devices/a/state', true],
    ['devices/+/state', 'devices/a/b/state', false],
    ['devices/#', 'devices', true],
    ['devices/#', 'devices/a/b', true],
    ['#', '$SYS/x', false],
    ['+/x', '/x', true],
    ['a/b', 'a/b/c', false],
  ])('%s vs %s → %s', (filter, topic, expected) => {
    expect(topicMatches(filter, topic)).toBe(expected);
  });
});
