/**
 * Each service's view of the backends' accounts: loaded with the service's user from the
 * first of its servers that answers, reloaded when a client's user is unknown or its
 * password does not match — at most once per `users_refresh_time`, so that a flood of bad
 * logins cannot turn into a flood of queries against the backends.
 */
import type { Core } from '../core/core.ts';
import { stringList, type ConfigObject } from '../core/objects.ts';
import type { WeirLogger } from '../log/logger.ts';
import { loadAccounts, sortAccounts, type Account } from './accounts.ts';

export class ServiceAccounts {
  private accounts: Account[] | null = null;
  private loadedAt = 0;
  private loading: Promise<Account[]> | null = null;

  constructor(
    private readonly core: Core,
    private readonly service: ConfigObject,
    private readonly logger: WeirLogger,
    /** Least time between reloads, in seconds. */
    private readonly refreshSeconds: () => number,
  ) {}

  /** The accounts, loading them the first time. */
  async get(): Promise<Account[]> {
    return this.accounts ?? this.load();
  }

  /** Reloads unless the last load was less than `users_refresh_time` ago; returns whether it did. */
  async reloadIfAllowed(): Promise<boolean> {
    if (Date.now() - this.loadedAt < this.refreshSeconds() * 1000) return false;
    await this.load();
    return true;
  }

  private load(): Promise<Account[]> {
    this.loading ??= this.fetch().finally(() => (this.loading = null));
    return this.loading;
  }

  private async fetch(): Promise<Account[]> {
    this.loadedAt = Date.now();
    const servers = stringList(this.service.params.servers!)
      .map((n) => this.core.find('server', n))
      .filter((s): s is ConfigObject => !!s);
    // Servers the monitor knows to be up first; then the rest, in order.
    servers.sort(
      (a, b) => Number(b.runtime.facts.flags.includes('running')) - Number(a.runtime.facts.flags.includes('running')),
    );
    const errors: string[] = [];
    for (const server of servers) {
      try {
        const accounts = sortAccounts(
          await loadAccounts({
            host: String(server.params.address),
            port: Number(server.params.port),
            user: String(this.service.params.user),
            password: String(this.service.params.password ?? ''),
          }),
        );
        this.accounts = accounts;
        this.logger.info(
          { service: this.service.name, server: server.name, accounts: accounts.length },
          `loaded ${accounts.length} user accounts for service '${this.service.name}'`,
        );
        return accounts;
      } catch (err) {
        errors.push(`${server.name}: ${(err as Error).message}`);
      }
    }
    this.logger.error(
      { service: this.service.name, errors },
      `service '${this.service.name}' could not load user accounts from any server`,
    );
    return this.accounts ?? [];
  }
}
