/**
 * Admin users of the REST and command APIs, persisted in `<datadir>/users.json` as salted
 * scrypt hashes. Verifying a password with scrypt costs tens of milliseconds, so it runs
 * off the event loop through a bounded PasswordHasher, and a successful check is
 * remembered for a short while under an HMAC of the credentials (keyed with a
 * per-process secret, so the plain password is never kept), and forgotten when the user
 * changes or is deleted.
 */
import { createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../config/atomic.ts';
import { conflict, notFound, unprocessable } from './errors.ts';
import { PasswordHasher, SCRYPT } from './password-hasher.ts';

export type Role = 'admin' | 'basic';

export interface AdminUser {
  name: string;
  role: Role;
  created: Date;
  lastLogin: Date | null;
  lastModified: Date;
}

interface StoredUser {
  name: string;
  role: Role;
  salt: string;
  hash: string;
  created: string;
}

export const DEFAULT_ADMIN = { name: 'admin', password: 'mariadb' } as const;
/** How long a verified credential is trusted without hashing again. */
export const VERIFIED_CACHE_MS = 60_000;
/** At most this many credentials are remembered (the oldest go first). */
const VERIFIED_CACHE_SIZE = 1000;
const NO_SALT = Buffer.alloc(16);

export class AdminUsers {
  private users = new Map<string, StoredUser & { lastLogin: Date | null; lastModified: Date }>();
  private readonly file: string;
  private readonly secret = randomBytes(32);
  private readonly verified = new Map<string, { name: string; until: number }>();
  lastModified = new Date();

  constructor(
    datadir: string,
    readonly hasher = new PasswordHasher(),
  ) {
    this.file = join(datadir, 'users.json');
    if (existsSync(this.file)) {
      const stored = JSON.parse(readFileSync(this.file, 'utf8')) as StoredUser[];
      for (const u of stored) this.users.set(u.name.toLowerCase(), { ...u, lastLogin: null, lastModified: new Date() });
    }
  }

  /** Creates admin/mariadb when there is no user at all (first start). Returns whether it did. */
  ensureDefault(): boolean {
    if (this.users.size > 0) return false;
    this.create(DEFAULT_ADMIN.name, DEFAULT_ADMIN.password, 'admin');
    return true;
  }

  /** Whether the default account still has its default password. */
  defaultPasswordInUse(): boolean {
    const u = this.users.get(DEFAULT_ADMIN.name);
    return !!u && this.matches(u, DEFAULT_ADMIN.password);
  }

  list(): AdminUser[] {
    return [...this.users.values()].map(view);
  }

  get(name: string): AdminUser {
    const u = this.users.get(name.toLowerCase());
    if (!u) throw notFound(`There is no admin user named '${name}'.`);
    return view(u);
  }

  create(name: string, password: string, role: Role): AdminUser {
    if (!/^[A-Za-z0-9]+$/.test(name)) throw unprocessable(`User names are letters and digits only; '${name}' is not.`);
    if (password === '') throw unprocessable('The password must not be empty.');
    if (this.users.has(name.toLowerCase())) throw conflict(`The admin user '${name}' already exists.`);
    const salt = randomBytes(16);
    const user = {
      name,
      role,
      salt: salt.toString('base64'),
      hash: hash(password, salt),
      created: new Date().toISOString(),
      lastLogin: null,
      lastModified: new Date(),
    };
    this.save(new Map(this.users).set(name.toLowerCase(), user));
    return view(user);
  }

  /** Changes a user's password and/or role. Demoting the last admin is refused. */
  update(name: string, change: { password?: string; role?: Role }): AdminUser {
    const current = this.users.get(name.toLowerCase());
    if (!current) throw notFound(`There is no admin user named '${name}'.`);
    if (change.password === '') throw unprocessable('The password must not be empty.');
    if (change.role === 'basic' && current.role === 'admin' && this.adminCount() === 1) {
      throw conflict(`'${current.name}' is the last admin user; make another admin first.`);
    }
    const next = { ...current, lastModified: new Date() };
    if (change.role) next.role = change.role;
    if (change.password !== undefined) {
      const salt = randomBytes(16);
      next.salt = salt.toString('base64');
      next.hash = hash(change.password, salt);
    }
    this.save(new Map(this.users).set(name.toLowerCase(), next));
    this.forget(current.name);
    return view(next);
  }

  delete(name: string): void {
    const current = this.users.get(name.toLowerCase());
    if (!current) throw notFound(`There is no admin user named '${name}'.`);
    if (current.role === 'admin' && this.adminCount() === 1) {
      throw conflict(`'${current.name}' is the last admin user and cannot be deleted.`);
    }
    const next = new Map(this.users);
    next.delete(name.toLowerCase());
    this.save(next);
    this.forget(current.name);
  }

  /**
   * The user, when exactly these credentials were verified within VERIFIED_CACHE_MS and the
   * user has not changed since; null otherwise. Costs one HMAC, no scrypt. Records the login.
   */
  recentlyVerified(name: string, password: string): AdminUser | null {
    const key = this.credentialKey(name, password);
    const cached = this.verified.get(key);
    if (!cached) return null;
    const user = this.users.get(cached.name);
    if (cached.until <= Date.now() || !user) {
      this.verified.delete(key);
      return null;
    }
    user.lastLogin = new Date();
    return view(user);
  }

  /**
   * Checks credentials with scrypt off the event loop; returns the user or null and records
   * the login time. Rejects with HasherBusy when too many verifications are in progress.
   */
  async verify(name: string, password: string): Promise<AdminUser | null> {
    const candidate = this.users.get(name.toLowerCase());
    // Hash even for an unknown name, so that timing does not tell which names exist.
    const actual = await this.hasher.hash(password, candidate ? Buffer.from(candidate.salt, 'base64') : NO_SALT);
    if (!candidate) return null;
    const expected = Buffer.from(candidate.hash, 'base64');
    if (expected.length !== actual.length || !timingSafeEqual(expected, actual)) return null;
    // Changed or deleted while the hash ran: the old password must not let anyone in.
    if (this.users.get(name.toLowerCase()) !== candidate) return null;
    const key = this.credentialKey(name, password);
    this.verified.delete(key);
    this.verified.set(key, { name: name.toLowerCase(), until: Date.now() + VERIFIED_CACHE_MS });
    if (this.verified.size > VERIFIED_CACHE_SIZE) this.verified.delete(this.verified.keys().next().value!);
    candidate.lastLogin = new Date();
    return view(candidate);
  }

  /** Checks credentials: the cache first, then scrypt. */
  async authenticate(name: string, password: string): Promise<AdminUser | null> {
    return this.recentlyVerified(name, password) ?? this.verify(name, password);
  }

  private credentialKey(name: string, password: string): string {
    return createHmac('sha256', this.secret).update(`${name}\0${password}`).digest('base64');
  }

  private matches(u: StoredUser, password: string): boolean {
    const expected = Buffer.from(u.hash, 'base64');
    const actual = Buffer.from(hash(password, Buffer.from(u.salt, 'base64')), 'base64');
    return expected.length === actual.length && timingSafeEqual(expected, actual);
  }

  private adminCount(): number {
    return [...this.users.values()].filter((u) => u.role === 'admin').length;
  }

  private forget(name: string): void {
    for (const [key, v] of this.verified) if (v.name === name.toLowerCase()) this.verified.delete(key);
  }

  /** Persists first; only a successful write replaces the in-memory users. */
  private save(next: typeof this.users): void {
    const stored: StoredUser[] = [...next.values()].map(({ name, role, salt, hash, created }) => ({
      name,
      role,
      salt,
      hash,
      created,
    }));
    writeFileAtomic(this.file, JSON.stringify(stored, null, 2) + '\n');
    this.users = next;
    this.lastModified = new Date();
  }
}

function hash(password: string, salt: Buffer): string {
  return scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }).toString('base64');
}

function view(u: StoredUser & { lastLogin: Date | null; lastModified: Date }): AdminUser {
  return {
    name: u.name,
    role: u.role,
    created: new Date(u.created),
    lastLogin: u.lastLogin,
    lastModified: u.lastModified,
  };
}
