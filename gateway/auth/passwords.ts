// Password hashes: scrypt (node:crypto), bcrypt (bcryptjs) and argon2id (node:crypto, Node 24.7+). The config only
// ever holds hashes; plaintext is refused at load by hashProblem.
import * as crypto from 'node:crypto';
import { promisify } from 'node:util';
import bcrypt from 'bcryptjs';

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

interface Argon2Params {
  message: Buffer;
  nonce: Buffer;
  parallelism: number;
  tagLength: number;
  memory: number;
  passes: number;
}
type Argon2 = (algorithm: 'argon2id', params: Argon2Params, cb: (err: Error | null, key: Buffer) => void) => void;
/** node:crypto's argon2 arrived in Node 24.7; on older runtimes argon2id hashes are refused at load. */
const argon2 = (crypto as unknown as { argon2?: Argon2 }).argon2;

export type HashKind = 'scrypt' | 'bcrypt' | 'argon2id';

const SCRYPT = /^\$scrypt\$n=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/]+=*)\$([A-Za-z0-9+/]+=*)$/;
const BCRYPT = /^\$2[aby]\$\d{2}\$[./A-Za-z0-9]{53}$/;
const ARGON2ID = /^\$argon2id\$v=19\$m=(\d+),t=(\d+),p=(\d+)\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

export function hashKind(hash: string): HashKind | undefined {
  if (SCRYPT.test(hash)) return 'scrypt';
  if (BCRYPT.test(hash)) return 'bcrypt';
  if (ARGON2ID.test(hash)) return 'argon2id';
  return undefined;
}

/** Why a configured password hash cannot be used, or undefined. Never echoes the value. */
export function hashProblem(hash: string): string | undefined {
  const kind = hashKind(hash);
  if (!kind) {
    return 'is not a password hash (plaintext passwords are refused): make one with `./gw auth hash` (scrypt `$scrypt$...`, bcrypt `$2b$...` or argon2id `$argon2id$...`)';
  }
  if (kind === 'argon2id' && !argon2) return 'argon2id needs Node 24.7 or later: use a scrypt or bcrypt hash';
  if (kind === 'scrypt') {
    const [, n] = SCRYPT.exec(hash) ?? [];
    const cost = Number(n);
    if (cost < 2 || (cost & (cost - 1)) !== 0) return 'scrypt n must be a power of two';
  }
  return undefined;
}

export interface HashOptions {
  kind?: HashKind;
}

/** A new hash of `password` in the format hashProblem accepts. */
export async function hashPassword(password: string, opts: HashOptions = {}): Promise<string> {
  const kind = opts.kind ?? 'scrypt';
  if (kind === 'bcrypt') return bcrypt.hash(password, 10);
  const salt = crypto.randomBytes(16);
  if (kind === 'argon2id') {
    if (!argon2) throw new Error('argon2id needs Node 24.7 or later');
    const p = { m: 19456, t: 2, p: 1 }; // OWASP's minimum argon2id setting
    const tag = await runArgon2(Buffer.from(password), salt, p.m, p.t, p.p, 32);
    return `$argon2id$v=19$m=${p.m},t=${p.t},p=${p.p}$${b64(salt)}$${b64(tag)}`;
  }
  const n = 16384;
  const key = await scrypt(password, salt, 32, { N: n, r: 8, p: 1, maxmem: 64 * 1024 * 1024 });
  return `$scrypt$n=${n},r=8,p=1$${salt.toString('base64')}$${key.toString('base64')}`;
}

const b64 = (b: Buffer) => b.toString('base64').replace(/=+$/, '');

function runArgon2(message: Buffer, nonce: Buffer, memory: number, passes: number, parallelism: number, tag: number) {
  return new Promise<Buffer>((resolve, reject) => {
    argon2?.('argon2id', { message, nonce, memory, passes, parallelism, tagLength: tag }, (err, key) =>
      err ? reject(err) : resolve(key),
    );
  });
}

/** Whether `password` matches `hash`, in constant time for the comparison itself. */
export async function verifyPassword(password: Buffer, hash: string): Promise<boolean> {
  const s = SCRYPT.exec(hash);
  if (s) {
    const want = Buffer.from(s[5] ?? '', 'base64');
    const n = Number(s[1]);
    const r = Number(s[2]);
    const got = await scrypt(password, Buffer.from(s[4] ?? '', 'base64'), want.length, {
      N: n,
      r,
      p: Number(s[3]),
      maxmem: 128 * n * r * 2,
    });
    return crypto.timingSafeEqual(got, want);
  }
  if (BCRYPT.test(hash)) return bcrypt.compare(password.toString('utf8'), hash);
  const a = ARGON2ID.exec(hash);
  if (a && argon2) {
    const want = Buffer.from(a[5] ?? '', 'base64');
    const got = await runArgon2(
      password,
      Buffer.from(a[4] ?? '', 'base64'),
      +(a[1] ?? 0),
      +(a[2] ?? 0),
      +(a[3] ?? 0),
      want.length,
    );
    return crypto.timingSafeEqual(got, want);
  }
  return false;
}
