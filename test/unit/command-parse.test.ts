// A command record's id and expiry: the `command.id` header or the record's coordinates, and the TTL from
// `command.ttl_ms`, `command.expires_at` or `downlink.ttlSec`; an unreadable header is refused, never guessed.
import { expect, it } from 'vitest';
import { commandId, parseCommand } from '../../cloud-sync/commands/command.ts';
import type { SourceRecord } from '../../cloud-sync/sources/index.ts';

const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);

function rec(headers: Record<string, string> = {}): SourceRecord {
  const h: Record<string, Buffer> = {};
  for (const [k, v] of Object.entries(headers)) h[k] = Buffer.from(v);
  return {
    topic: 'edge.commands',
    partition: 2,
    offset: '41',
    key: Buffer.from('lock-7'),
    value: undefined,
    headers: h,
  };
}

const parse = (headers: Record<string, string>, ttlSec = 0) => parseCommand(rec(headers), { ttlSec, now: NOW });

it('the id is the command.id header, else the record coordinates', () => {
  expect(commandId(rec({ 'command.id': 'c-17' }))).toBe('c-17');
  expect(commandId(rec())).toBe('edge.commands/2/41');
  expect(commandId(rec({ 'command.id': '' }))).toBe('edge.commands/2/41');
  expect(parse({})).toEqual({ ok: true, command: { id: 'edge.commands/2/41', arrivedAt: NOW, expiresAt: undefined } });
});

it('without a header the config TTL applies from the arrival; 0 means none', () => {
  expect(parse({}, 30)).toMatchObject({ ok: true, command: { expiresAt: NOW + 30_000 } });
  expect(parse({}, 0)).toMatchObject({ ok: true, command: { expiresAt: undefined } });
});

it('command.ttl_ms counts from the arrival and wins over the config; 0 is no expiry', () => {
  expect(parse({ 'command.ttl_ms': '2500' }, 30)).toMatchObject({ ok: true, command: { expiresAt: NOW + 2500 } });
  expect(parse({ 'command.ttl_ms': '0' }, 30)).toMatchObject({ ok: true, command: { expiresAt: undefined } });
});

it('command.expires_at takes ms since the epoch or an ISO date with its zone', () => {
  expect(parse({ 'command.expires_at': String(NOW + 5) })).toMatchObject({ command: { expiresAt: NOW + 5 } });
  expect(parse({ 'command.expires_at': '2026-01-02T03:05:05Z' })).toMatchObject({
    command: { expiresAt: NOW + 60_000 },
  });
  expect(parse({ 'command.expires_at': '2026-01-02T04:05:05+01:00' })).toMatchObject({
    command: { expiresAt: NOW + 60_000 },
  });
  // A past expiry is kept as it is: the downlink drops such a command instead of delivering it.
  expect(parse({ 'command.expires_at': String(NOW - 1) })).toMatchObject({ command: { expiresAt: NOW - 1 } });
});

it('with both headers the earlier expiry holds', () => {
  const both = { 'command.ttl_ms': '1000', 'command.expires_at': String(NOW + 500) };
  expect(parse(both)).toMatchObject({ command: { expiresAt: NOW + 500 } });
  expect(parse({ ...both, 'command.expires_at': String(NOW + 5000) })).toMatchObject({
    command: { expiresAt: NOW + 1000 },
  });
});

it('an unreadable TTL or expiry header is refused, naming the header', () => {
  expect(parse({ 'command.ttl_ms': '-5' })).toEqual({ ok: false, header: 'command.ttl_ms', value: '-5' });
  expect(parse({ 'command.ttl_ms': '1.5' })).toMatchObject({ ok: false, header: 'command.ttl_ms' });
  expect(parse({ 'command.ttl_ms': '99999999999999999999' })).toMatchObject({ ok: false, header: 'command.ttl_ms' });
  expect(parse({ 'command.expires_at': 'tomorrow' })).toMatchObject({ ok: false, header: 'command.expires_at' });
  // Without a zone a date means a different instant on every box: refused.
  expect(parse({ 'command.expires_at': '2026-01-02T03:05:05' })).toMatchObject({
    ok: false,
    header: 'command.expires_at',
  });
  expect(parse({ 'command.expires_at': '2026-13-45T03:05:05Z' })).toMatchObject({ ok: false });
});
