/**
 * Keeps one live instance per filter object, following creation, changes (a changed filter
 * applies to new sessions at once; running sessions keep the instance they started with)
 * and deletion, and builds each new session's chain from its service's `filters` list.
 */
import type { Core } from '../../core/core.ts';
import { stringList, type ConfigObject } from '../../core/objects.ts';
import type { Log, WeirLogger } from '../../log/logger.ts';
import { countingFilterSession } from '../../metrics/dataplane.ts';
import { hintfilter } from './hintfilter.ts';
import { namedserverfilter } from './namedserverfilter.ts';
import { qlafilter } from './qlafilter.ts';
import { regexfilter } from './regexfilter.ts';
import { throttlefilter } from './throttlefilter.ts';
import { topfilter } from './topfilter.ts';
import type { FilterInstance, FilterSession, SessionInfo } from './types.ts';

const MODULES: Record<string, (filter: ConfigObject, logger: WeirLogger) => FilterInstance> = {
  qlafilter,
  regexfilter,
  topfilter,
  throttlefilter,
  hintfilter,
  namedserverfilter,
};

export class Filters {
  private readonly instances = new Map<string, FilterInstance>();

  constructor(
    private readonly core: Core,
    private readonly log: Log,
  ) {
    for (const f of core.list('filter')) this.build(f);
    core.on('created', (obj) => obj.kind === 'filter' && this.build(obj));
    core.on('changed', (obj) => obj.kind === 'filter' && this.build(obj));
    core.on('destroyed', (obj) => {
      if (obj.kind !== 'filter') return;
      this.instances.get(obj.name.toLowerCase())?.retire();
      this.instances.delete(obj.name.toLowerCase());
    });
    log.onFlush(() => {
      for (const [name, f] of this.instances) {
        // One filter's file that cannot be reopened must not keep the others from it.
        try {
          f.reopen?.();
        } catch (err) {
          this.log.logger.error(
            { filter: name, err: (err as Error).message },
            `filter '${name}' could not reopen its log: ${(err as Error).message}`,
          );
        }
      }
    });
  }

  /** A new session's filter sessions, in the service's order (empty: no filters, no chain). */
  chainFor(service: ConfigObject, info: SessionInfo): FilterSession[] {
    const chain: FilterSession[] = [];
    for (const name of stringList(service.params.filters!)) {
      const session = this.instances.get(name.toLowerCase())?.newSession(info);
      const filter = session && this.core.find('filter', name);
      if (session) chain.push(filter ? countingFilterSession(session, filter.runtime) : session);
    }
    return chain;
  }

  closeAll(): void {
    for (const f of this.instances.values()) f.retire();
    this.instances.clear();
  }

  private build(obj: ConfigObject): void {
    const factory = MODULES[String(obj.params.module).toLowerCase()];
    if (!factory) return;
    const old = this.instances.get(obj.name.toLowerCase());
    try {
      this.instances.set(obj.name.toLowerCase(), factory(obj, this.log.logger));
      old?.retire();
    } catch (err) {
      // Checked parameters should not fail here; if a file cannot be opened, say so and keep the old instance.
      this.log.logger.error(
        { filter: obj.name, err: (err as Error).message },
        `filter '${obj.name}' could not be started: ${(err as Error).message}`,
      );
    }
  }
}
