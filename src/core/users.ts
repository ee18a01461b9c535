/**
 * Admin users of the REST and command APIs, persisted in `<datadir>/users.json` as salted
 * scrypt hashes. Verifying a password with scrypt costs tens of milliseconds, so a
 * successful check is remembered for a short while under an HMAC of the credentials
 * (keyed with a per-process secret), and forgotten when the user changes.
 */
import { createHmac, randomBytes, scryptSync, timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomic } from '../config/atomic.ts';
import { conflict, notFound, unprocessable } from './errors.ts';

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
const SCRYPT = { N: 16384, r: 8, p: 1, keylen: 32 } as const;
const CACHE_MS = 5 * 60_000;

export class AdminUsers {
  private users = new Map<string, StoredUser & { lastLogin: Date | null; lastModified: Date }>();
  private readonly file: string;
  private readonly secret = randomBytes(32);
  private readonly verified = new Map<string, { name: string; until: number }>();
  lastModified = new Date();

  constructor(datadir: string) {
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
    const user = { name, role, salt: salt.toString('base64'), hash: hash(password, salt), created: new Date().toISOString(), lastLogin: null, lastModified: new Date() };
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

  /** Checks credentials; returns the user or null. Records the login time. */
  authenticate(name: string, password: string): AdminUser | null {
    const key = createHmac('sha256', this.secret).update(`${name}\0${password}`).digest('base64');
    const cached = this.verified.get(key);
    let user = cached && cached.until > Date.now() ? this.users.get(cached.name) : undefined;
    if (!user) {
      const candidate = this.users.get(name.toLowerCase());
      // Hash even for an unknown name, so that timing does not tell which names exist.
      const ok = candidate ? this.matches(candidate, password) : (hash(password, Buffer.alloc(16)), false);
      if (!ok || !candidate) return null;
      user = candidate;
      this.verified.set(key, { name: name.toLowerCase(), until: Date.now() + CACHE_MS });
    }
    user.lastLogin = new Date();
    return view(user);
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
    const stored: StoredUser[] = [...next.values()].map(({ name, role, salt, hash, created }) => ({ name, role, salt, hash, created }));
    writeFileAtomic(this.file, JSON.stringify(stored, null, 2) + '\n');
    this.users = next;
    this.lastModified = new Date();
  }
}

function hash(password: string, salt: Buffer): string {
  return scryptSync(password, salt, SCRYPT.keylen, { N: SCRYPT.N, r: SCRYPT.r, p: SCRYPT.p }).toString('base64');
}

function view(u: StoredUser & { lastLogin: Date | null; lastModified: Date }): AdminUser {
  return { name: u.name, role: u.role, created: new Date(u.created), lastLogin: u.lastLogin, lastModified: u.lastModified };
}
