/**
 * Which addresses a listener's `address` stands for, so that two spellings of one socket
 * (`localhost` and `127.0.0.1`, `127.1`, `::ffff:127.0.0.1`, `0.0.0.0` and any address)
 * are recognised as the same before they are accepted, not when the second fails to bind
 * at the next start.
 *
 * IP literals are normalised as a URL host is (WHATWG: `127.1` and `0x7f.0.0.1` are
 * 127.0.0.1; IPv6 is compressed; IPv4-mapped IPv6 is its IPv4 address). `localhost` and
 * names under it are the loopback addresses (RFC 6761); other names are looked up in the
 * hosts file, and otherwise compared by name. A wildcard (`0.0.0.0`, `::`, empty) overlaps
 * every address: Node binds `::` dual-stack, and a specific address beside a wildcard on
 * the same port is refused by the operating system or shadowed by it.
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export type Addresses = 'any' | Set<string>;

export function addressesOf(address: string): Addresses {
  const host = address
    .trim()
    .replace(/^\[(.*)\]$/, '$1')
    .toLowerCase();
  if (host === '' || host === '*') return 'any';
  const ip = normaliseIp(host);
  if (ip) return ip === '0.0.0.0' || ip === '::' ? 'any' : new Set([ip]);
  if (host === 'localhost' || host.endsWith('.localhost')) return new Set(['127.0.0.1', '::1']);
  const fromHosts = hostsFile().get(host.replace(/\.$/, ''));
  if (fromHosts?.size) {
    const ips = [...fromHosts];
    return ips.includes('0.0.0.0') || ips.includes('::') ? 'any' : new Set(ips);
  }
  return new Set([`name:${host}`]);
}

export function overlap(a: Addresses, b: Addresses): boolean {
  if (a === 'any' || b === 'any') return true;
  for (const x of a) if (b.has(x)) return true;
  return false;
}

/** An IP literal in canonical form, or null when `host` is not one. */
function normaliseIp(host: string): string | null {
  try {
    if (host.includes(':')) {
      if (isIP(host) !== 6 && !/^[0-9a-f:.]+$/.test(host)) return null;
      const v6 = new URL(`http://[${host}]/`).hostname.slice(1, -1);
      const mapped = /^::ffff:([0-9a-f]{1,4}):([0-9a-f]{1,4})$/.exec(v6);
      if (mapped) {
        const hi = parseInt(mapped[1]!, 16);
        const lo = parseInt(mapped[2]!, 16);
        return `${hi >> 8}.${hi & 255}.${lo >> 8}.${lo & 255}`;
      }
      return v6;
    }
    if (!/^[0-9a-fx.]+$/.test(host)) return null;
    const v4 = new URL(`http://${host}/`).hostname;
    return isIP(v4) === 4 ? v4 : null;
  } catch {
    return null;
  }
}

let hostsCache: { at: number; map: Map<string, Set<string>> } | null = null;

/** /etc/hosts as name → addresses (read again at most every 10 s). */
function hostsFile(): Map<string, Set<string>> {
  if (hostsCache && Date.now() - hostsCache.at < 10_000) return hostsCache.map;
  const map = new Map<string, Set<string>>();
  let text = '';
  try {
    text = readFileSync('/etc/hosts', 'utf8');
  } catch {
    // No hosts file: names are compared by name only.
  }
  for (const line of text.split('\n')) {
    const [ipText, ...names] = line.replace(/#.*/, '').trim().split(/\s+/);
    const ip = ipText ? normaliseIp(ipText.toLowerCase()) : null;
    if (!ip) continue;
    for (const n of names) {
      const key = n.toLowerCase();
      if (!map.has(key)) map.set(key, new Set());
      map.get(key)!.add(ip);
    }
  }
  hostsCache = { at: Date.now(), map };
  return map;
}
