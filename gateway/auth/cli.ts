#!/usr/bin/env node
// `./gw auth`: password hashes for security.authentication.users, device tokens (JWT) and HMAC signature passwords.
import { createHmac, createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import { parseArgs } from 'node:util';
import { SignJWT } from 'jose';
import { type HashKind, hashPassword } from './passwords.ts';

const HELP = `usage: ./gw auth hash [--kind scrypt|bcrypt|argon2id]
         prompts for a password (or reads it from stdin) and prints its hash for security.authentication.users
       ./gw auth token --client-id ID (--secret S | --key private.pem) [--alg HS256|RS256|ES256] [--ttl 1h]
                       [--claim clientid] [--sub NAME] [--kid KID] [--issuer ISS] [--audience AUD]
                       [--publish filter,...] [--subscribe filter,...]
         prints a JWT for the device (the MQTT password); --secret may also come from GW_AUTH_SECRET
       ./gw auth sign --client-id ID --secret S [--alg sha1|sha256]
         prints the HMAC signature password of the client id (username Signature|<accessKey>|<instanceId>)`;

function fail(message: string): never {
  console.error(`gw auth: ${message}\nrun ./gw auth --help for the options`);
  process.exit(2);
}

/** "90s", "15m", "1h", "7d" → seconds. */
export function parseTtl(text: string): number {
  const m = /^(\d+)([smhd]?)$/.exec(text);
  if (!m) fail(`--ttl: ${JSON.stringify(text)} is not a duration like 90s, 15m, 1h or 7d`);
  const unit = { '': 1, s: 1, m: 60, h: 3600, d: 86400 }[m[2] as '' | 's' | 'm' | 'h' | 'd'];
  return Number(m[1]) * unit;
}

async function readSecretInput(): Promise<string> {
  if (!process.stdin.isTTY) {
    const chunks: Buffer[] = [];
    for await (const c of process.stdin) chunks.push(c as Buffer);
    return Buffer.concat(chunks)
      .toString('utf8')
      .replace(/\r?\n$/, '');
  }
  const ask = (q: string) =>
    new Promise<string>((resolve) => {
      const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
      // Do not echo what is typed.
      (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => {
        if (s.startsWith(q)) process.stderr.write(q);
      };
      rl.question(q, (a) => {
        rl.close();
        process.stderr.write('\n');
        resolve(a);
      });
    });
  const first = await ask('password: ');
  if ((await ask('again: ')) !== first) fail('the passwords differ');
  return first;
}

async function hash(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { kind: { type: 'string', default: 'scrypt' } }, strict: true });
  const kind = values.kind as HashKind;
  if (!['scrypt', 'bcrypt', 'argon2id'].includes(kind)) fail('--kind must be scrypt, bcrypt or argon2id');
  const password = await readSecretInput();
  if (password === '') fail('empty password');
  console.log(await hashPassword(password, { kind }));
}

const list = (v: string | undefined) => (v === undefined ? undefined : v.split(',').filter((s) => s !== ''));

async function token(args: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: {
      'client-id': { type: 'string' },
      secret: { type: 'string' },
      key: { type: 'string' },
      alg: { type: 'string' },
      ttl: { type: 'string', default: '1h' },
      claim: { type: 'string', default: 'clientid' },
      sub: { type: 'string' },
      kid: { type: 'string' },
      issuer: { type: 'string' },
      audience: { type: 'string' },
      publish: { type: 'string' },
      subscribe: { type: 'string' },
    },
  });
  const clientId = v['client-id'];
  if (!clientId) fail('--client-id is required');
  const secret = v.secret ?? process.env.GW_AUTH_SECRET;
  if (!secret && !v.key) fail('give --secret (HS256) or --key <private key PEM> (RS256, ES256)');
  const key = v.key ? createPrivateKey(readFileSync(v.key)) : new TextEncoder().encode(secret);
  const alg =
    v.alg ?? (v.key ? (createPrivateKey(readFileSync(v.key)).asymmetricKeyType === 'ec' ? 'ES256' : 'RS256') : 'HS256');
  const claims: Record<string, unknown> = { [v.claim]: clientId };
  const publish = list(v.publish);
  const subscribe = list(v.subscribe);
  if (publish) claims.publish = publish;
  if (subscribe) claims.subscribe = subscribe;
  let jwt = new SignJWT(claims)
    .setProtectedHeader({ alg, ...(v.kid ? { kid: v.kid } : {}) })
    .setIssuedAt()
    .setExpirationTime(Math.floor(Date.now() / 1000) + parseTtl(v.ttl));
  if (v.sub) jwt = jwt.setSubject(v.sub);
  if (v.issuer) jwt = jwt.setIssuer(v.issuer);
  if (v.audience) jwt = jwt.setAudience(v.audience);
  console.log(await jwt.sign(key));
}

function sign(args: string[]): void {
  const { values: v } = parseArgs({
    args,
    strict: true,
    options: { 'client-id': { type: 'string' }, secret: { type: 'string' }, alg: { type: 'string', default: 'sha1' } },
  });
  const secret = v.secret ?? process.env.GW_AUTH_SECRET;
  if (!v['client-id'] || !secret) fail('--client-id and --secret are required');
  if (v.alg !== 'sha1' && v.alg !== 'sha256') fail('--alg must be sha1 or sha256');
  console.log(createHmac(v.alg, secret).update(v['client-id']).digest('base64'));
}

async function main(argv: string[]): Promise<void> {
  const [cmd, ...rest] = argv;
  try {
    if (cmd === 'hash') await hash(rest);
    else if (cmd === 'token') await token(rest);
    else if (cmd === 'sign') sign(rest);
    else if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') console.log(HELP);
    else fail(`unknown command ${JSON.stringify(cmd)}`);
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code?.startsWith('ERR_PARSE_ARGS')) fail((err as Error).message);
    throw err;
  }
}

if (import.meta.main) await main(process.argv.slice(2));
