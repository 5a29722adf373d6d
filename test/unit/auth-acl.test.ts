// biome-ignore-all lint/suspicious/noTemplateCurlyInString: ACL topics spell their placeholders as ${name}.
import { describe, expect, it } from 'vitest';
import { type ClientAcl, compileAcl, expand, type Identity } from '../../gateway/auth/acl.ts';
import { clientIdAllowed } from '../../gateway/auth/index.ts';
import type { AuthConfig } from '../../gateway/auth/schema.ts';
import { covers } from '../../gateway/topic.ts';

const split = (f: string) => f.split('/');
const who = (name: string, extra: Partial<Identity> = {}): Identity => ({
  method: 'password',
  name,
  username: name,
  cn: '',
  admin: false,
  ...extra,
});
const authz = (over: Partial<AuthConfig['authorization']> = {}): AuthConfig['authorization'] => ({
  template: 'none',
  rules: [],
  admins: [],
  commandTopics: ['devices/+/command', 'devices/+/command/#'],
  ...over,
});

describe('covers', () => {
  it('matches topics as MQTT filters do', () => {
    expect(covers(split('devices/+/state'), 'devices/lock-1/state')).toBe(true);
    expect(covers(split('devices/#'), 'devices')).toBe(true); // [MQTT-4.7.1-2]
    expect(covers(split('devices/#'), 'devices/a/b/c')).toBe(true);
    expect(covers(split('devices/+'), 'devices/a/b')).toBe(false);
    expect(covers(split('devices/+'), 'devices')).toBe(false);
    expect(covers(split('devices/+'), 'devices/')).toBe(true);
    expect(covers(split('a'), 'a/b')).toBe(false);
    expect(covers(split('a/b'), 'a/bc')).toBe(false);
    expect(covers(split('#'), '$SYS/x')).toBe(false); // [MQTT-4.7.2-1]
    expect(covers(split('+/x'), '$SYS/x')).toBe(false);
    expect(covers(split('$SYS/#'), '$SYS/x')).toBe(true);
  });

  it('covers a subscription filter only with an equal or wider wildcard', () => {
    expect(covers(split('devices/lock-1/#'), 'devices/+/state')).toBe(false);
    expect(covers(split('devices/lock-1/#'), '#')).toBe(false);
    expect(covers(split('devices/+/state'), 'devices/+/state')).toBe(true);
    expect(covers(split('devices/#'), 'devices/+/state')).toBe(true);
    expect(covers(split('devices/+'), 'devices/#')).toBe(false);
    expect(covers(split('#'), '#')).toBe(true);
  });
});

describe('expand', () => {
  it('fills placeholders, and refuses values that would add levels or wildcards', () => {
    const v = { clientid: 'lock-1', username: 'u', cn: '' };
    expect(expand('devices/${clientid}/#', v)).toBe('devices/lock-1/#');
    expect(expand('devices/${cn}/#', v)).toBeUndefined();
    expect(expand('devices/${clientid}/#', { ...v, clientid: '+' })).toBeUndefined();
    expect(expand('devices/${clientid}/#', { ...v, clientid: 'a/b' })).toBeUndefined();
    expect(expand('devices/${clientid}/#', { ...v, clientid: '#' })).toBeUndefined();
  });
});

describe('compileAcl', () => {
  const device = (id: string, over: Partial<AuthConfig['authorization']> = {}): ClientAcl =>
    compileAcl(authz({ template: 'per-device', ...over }), who(id), id);

  it('per-device template: own topics but not the own command topic; subscribe to the own commands only', () => {
    const acl = device('lock-1');
    expect(acl.canPublish('devices/lock-1/state', false)).toBe(true);
    expect(acl.canPublish('devices/lock-1/state', true)).toBe(true);
    expect(acl.canPublish('devices/lock-1/command', false)).toBe(false);
    expect(acl.canPublish('devices/lock-1/command/open', false)).toBe(false);
    expect(acl.canPublish('devices/lock-2/state', false)).toBe(false);
    expect(acl.canPublish('devices/lock-2/command', false)).toBe(false);
    expect(acl.canPublish('other', false)).toBe(false);
    expect(acl.canSubscribe('devices/lock-1/command')).toBe(true);
    expect(acl.canSubscribe('devices/lock-2/command')).toBe(false);
    expect(acl.canSubscribe('devices/+/command')).toBe(false);
    expect(acl.canSubscribe('#')).toBe(false);
    expect(acl.canSubscribe('$SYS/#')).toBe(false);
  });

  it('a client id that is a wildcard gets nothing from a placeholder rule', () => {
    const acl = device('+');
    expect(acl.canPublish('devices/+/state', false)).toBe(false);
    expect(acl.canPublish('devices/lock-2/state', false)).toBe(false);
    expect(acl.canSubscribe('devices/+/command')).toBe(false);
  });

  it('first match wins; rules narrowed by username; deny by default once rules exist', () => {
    const z = authz({
      rules: [
        { permission: 'deny', action: 'all', topics: ['#'], username: 'quarantined' },
        { permission: 'allow', action: 'subscribe', topics: ['site/announcements', 'eq literal/#'] },
        { permission: 'allow', action: 'publish', topics: ['telemetry/${username}/#'] },
        { permission: 'deny', action: 'retain', topics: ['telemetry/#'] },
      ],
    });
    const acl = compileAcl(z, who('pump-1'), 'pump-1');
    expect(acl.canSubscribe('site/announcements')).toBe(true);
    expect(acl.canSubscribe('literal/#')).toBe(true);
    expect(acl.canSubscribe('literal/x')).toBe(false);
    expect(acl.canPublish('telemetry/pump-1/flow', false)).toBe(true);
    expect(acl.canPublish('telemetry/pump-1/flow', true)).toBe(true); // the allow came first
    expect(acl.canPublish('telemetry/pump-2/flow', true)).toBe(false);
    expect(acl.canPublish('anything/else', false)).toBe(false);
    const q = compileAcl(z, who('quarantined'), 'quarantined');
    expect(q.canSubscribe('site/announcements')).toBe(false);
  });

  it('no rules: everything but $SYS and retained commands', () => {
    const acl = compileAcl(authz(), who('x'), 'x');
    expect(acl.canPublish('a/b', true)).toBe(true);
    expect(acl.canSubscribe('#')).toBe(true);
    expect(acl.canSubscribe('$SYS/#')).toBe(false);
    expect(acl.canPublish('devices/lock-2/command', true)).toBe(false);
    expect(acl.canPublish('devices/lock-2/command', false)).toBe(true);
    expect(compileAcl(authz({ commandTopics: [] }), who('x'), 'x').canSubscribe('$SYS/broker')).toBe(false);
  });

  it('admins may do everything, $SYS included, but never retain a command', () => {
    const acl = compileAcl(authz({ template: 'per-device' }), who('cloud', { admin: true }), 'cloud');
    expect(acl.canSubscribe('$SYS/#')).toBe(true);
    expect(acl.canSubscribe('#')).toBe(true);
    expect(acl.canPublish('devices/lock-2/command', false)).toBe(true);
    expect(acl.canPublish('devices/lock-2/command', true)).toBe(false);
  });

  it('token claims limit the client further', () => {
    const acl = compileAcl(
      authz({ template: 'per-device' }),
      who('lock-1', { method: 'jwt', publish: ['devices/${clientid}/state'], subscribe: [] }),
      'lock-1',
    );
    expect(acl.canPublish('devices/lock-1/state', false)).toBe(true);
    expect(acl.canPublish('devices/lock-1/battery', false)).toBe(false);
    expect(acl.canSubscribe('devices/lock-1/command')).toBe(false);
  });

  it('remembers publish answers without mixing retained and not retained', () => {
    const acl = device('lock-1', {
      rules: [{ permission: 'deny', action: 'retain', topics: ['devices/${clientid}/event'] }],
    });
    for (let i = 0; i < 3; i++) {
      expect(acl.canPublish('devices/lock-1/event', false)).toBe(true);
      expect(acl.canPublish('devices/lock-1/event', true)).toBe(false);
    }
    for (let i = 0; i < 200; i++) expect(acl.canPublish(`devices/lock-1/t${i}`, false)).toBe(true);
    expect(acl.canPublish('devices/lock-2/t1', false)).toBe(false);
  });
});

describe('clientIdAllowed', () => {
  it('binds the client id to the identity by pattern', () => {
    expect(clientIdAllowed('${identity}', who('lock-1'), 'lock-1')).toBe(true);
    expect(clientIdAllowed('${identity}', who('lock-1'), 'lock-2')).toBe(false);
    expect(clientIdAllowed('${username}-*', who('lock-1'), 'lock-1-a')).toBe(true);
    expect(clientIdAllowed('${username}-*', who('lock-1'), 'lock-2-a')).toBe(false);
    expect(clientIdAllowed('${username}-*', who('lock-1'), 'lock-1')).toBe(false);
    expect(clientIdAllowed('GID_*@@@${cn}', who('x', { cn: 'd7' }), 'GID_locks@@@d7')).toBe(true);
    expect(clientIdAllowed('GID_*@@@${cn}', who('x', { cn: 'd7' }), 'GID_locks@@@d8')).toBe(false);
    expect(clientIdAllowed('', who('lock-1'), 'anything')).toBe(true);
    expect(clientIdAllowed('*', who('lock-1'), 'anything')).toBe(true);
  });
});
