/**
 * mysql_native_password, done as MaxScale does it. The stored hash is
 * `'*' + HEX(SHA1(SHA1(password)))`; the client's token is
 * `SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))`. Knowing the scramble it sent
 * and the stored double SHA1, Weir recovers SHA1(password) from the token, checks it, and
 * answers any backend's scramble with the same formula: the password itself is never known.
 */
import { createHash, randomBytes } from 'node:crypto';

const sha1 = (...parts: Buffer[]) => {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
};

const xor = (a: Buffer, b: Buffer) => Buffer.from(a.map((v, i) => v ^ b[i]!));

/** 20 printable bytes, never NUL, as servers send. */
export function newScramble(): Buffer {
  const bytes = randomBytes(20);
  for (let i = 0; i < bytes.length; i++) bytes[i] = 0x21 + (bytes[i]! % 94);
  return bytes;
}

/** The stored hash's double SHA1, or null for an account with an empty password. */
export function doubleSha1FromHash(hash: string): Buffer | null {
  if (hash === '') return null;
  if (!/^\*[0-9A-Fa-f]{40}$/.test(hash)) throw new Error('not a mysql_native_password hash');
  return Buffer.from(hash.slice(1), 'hex');
}

/**
 * Checks a client's token. Returns SHA1(password) (empty for an empty password) when it
 * matches, null when it does not.
 */
export function verifyToken(token: Buffer, scramble: Buffer, doubleSha1: Buffer | null): Buffer | null {
  if (doubleSha1 === null) return token.length === 0 ? Buffer.alloc(0) : null;
  if (token.length !== 20) return null;
  const candidate = xor(token, sha1(scramble, doubleSha1));
  return sha1(candidate).equals(doubleSha1) ? candidate : null;
}

/** The token for a scramble, from SHA1(password) (empty password: empty token). */
export function tokenFor(passwordSha1: Buffer, scramble: Buffer): Buffer {
  if (passwordSha1.length === 0) return Buffer.alloc(0);
  return xor(passwordSha1, sha1(scramble, sha1(passwordSha1)));
}

export function passwordSha1(password: string): Buffer {
  return password === '' ? Buffer.alloc(0) : sha1(Buffer.from(password, 'utf8'));
}
