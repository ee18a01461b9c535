/**
 * The backends' user accounts, loaded with the service's `user`/`password`, so that Weir
 * authenticates clients itself. Matching follows MariaDB's rule: the most specific host
 * first, then a named user before the anonymous one; `localhost` matches loopback clients.
 */
import mysql from 'mysql2/promise';

export interface Account {
  user: string;
  host: string;
  plugin: string;
  authenticationString: string;
}

export interface AccountSource {
  host: string;
  port: number;
  user: string;
  password: string;
}

export async function loadAccounts(source: AccountSource, timeoutSeconds = 10): Promise<Account[]> {
  const conn = await mysql.createConnection({ ...source, connectTimeout: timeoutSeconds * 1000 });
  try {
    const [rows] = await conn.query({
      // Since 10.4 mysql.user is a view over mysql.global_priv that also lists roles. Roles
      // are dropped here, not in SQL: comparing is_role with a literal fails ("Illegal mix
      // of collations") on servers whose collation-server differs from the connection's,
      // as Debian's packaged configuration does.
      sql: 'SELECT User AS user, Host AS host, plugin, authentication_string, Password AS password, is_role FROM mysql.user',
      timeout: timeoutSeconds * 1000,
    });
    return (rows as Array<Record<string, string>>)
      .filter((r) => r.is_role !== 'Y')
      .map((r) => ({
        user: r.user ?? '',
        host: (r.host ?? '').toLowerCase(),
        plugin: r.plugin || 'mysql_native_password',
        authenticationString: r.authentication_string || r.password || '',
      }));
  } finally {
    conn.destroy();
  }
}

/** Sort key: hosts without wildcards first, then by how much precedes the first wildcard; '%' last. */
function hostRank(host: string): number {
  if (host === '%' || host === '') return 0;
  const wildcard = host.search(/[%_]/);
  return wildcard < 0 ? 10_000 : 1 + wildcard;
}

export function sortAccounts(accounts: Account[]): Account[] {
  return [...accounts].sort(
    (a, b) => hostRank(b.host) - hostRank(a.host) || Number(b.user !== '') - Number(a.user !== ''),
  );
}

const isLoopback = (address: string) => /^127\./.test(address) || address === '::1';

export function normaliseAddress(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}

export function hostMatches(pattern: string, address: string): boolean {
  const addr = normaliseAddress(address);
  if (pattern === 'localhost') return isLoopback(addr);
  const mask = /^(\d+\.\d+\.\d+\.\d+)\/(\d+\.\d+\.\d+\.\d+)$/.exec(pattern);
  if (mask) {
    const toInt = (ip: string) => ip.split('.').reduce((n, o) => (n << 8) + Number(o), 0) >>> 0;
    if (!/^\d+\.\d+\.\d+\.\d+$/.test(addr)) return false;
    return (toInt(addr) & toInt(mask[2]!)) >>> 0 === toInt(mask[1]!);
  }
  const regex = new RegExp(
    `^${pattern
      .replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
      .replace(/%/g, '.*')
      .replace(/_/g, '.')}$`,
    'i',
  );
  return regex.test(addr) || (isLoopback(addr) && regex.test('localhost'));
}

/** The account MariaDB would pick for this user connecting from this address, if any. */
export function findAccount(sorted: Account[], user: string, address: string): Account | undefined {
  return sorted.find((a) => (a.user === '' || a.user === user) && hostMatches(a.host, address));
}
