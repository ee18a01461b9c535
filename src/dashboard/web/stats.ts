/**
 * Statements per second and reply-time percentiles per service, from the command API's
 * `monitor services -c 1` job: one result per second per service, pulled with long polls.
 * While the page is open Weir's sessions publish their statements to this watcher (with
 * nobody watching they do not). The stream restarts itself if its session goes away.
 */
import { api, type ServiceStats } from './api.ts';

const INTERVAL_SECONDS = 1;

export class StatsStream {
  private sessionId: string | null = null;
  private stopped = false;

  constructor(
    private readonly onStats: (stats: ServiceStats) => void,
    private readonly onProblem: (message: string | null) => void,
  ) {}

  async run(): Promise<void> {
    while (!this.stopped) {
      const problem = await this.session();
      if (this.stopped) return;
      this.onProblem(problem);
      await new Promise((resolve) => setTimeout(resolve, 2000));
    }
  }

  /** One console session: start the job, then pull until something goes wrong (returned as text). */
  private async session(): Promise<string> {
    try {
      const init = await api.POST('/api', { body: { action: 'init_session' } });
      if (!init.data || init.data.state !== 'SUCCEEDED' || !init.data.sessionId || !init.data.consumerId) {
        return `Statistics unavailable: ${init.data?.message ?? init.response.statusText}`;
      }
      const { sessionId, consumerId } = init.data;
      this.sessionId = sessionId;
      const exec = await api.POST('/api', {
        body: { action: 'async_exec', sessionId, command: `monitor services -c ${INTERVAL_SECONDS}` },
      });
      if (exec.data?.state !== 'SCHEDULED')
        return `Statistics unavailable: ${exec.data?.message ?? exec.response.statusText}`;
      this.onProblem(null);
      while (!this.stopped) {
        const pulled = await api.POST('/api', { body: { action: 'pull_results', sessionId, consumerId } });
        if (!pulled.data || pulled.data.state !== 'SUCCEEDED')
          return `Statistics stopped: ${pulled.data?.message ?? pulled.response.statusText}; reconnecting.`;
        const body = pulled.data.body;
        if (body && 'results' in body) {
          for (const r of body.results ?? []) if (r.type === 'service_stats') this.onStats(r);
        }
      }
      return '';
    } catch (err) {
      return `Cannot reach Weir for statistics (${(err as Error).message}); retrying.`;
    }
  }

  /** Ends the job and its console session when the page goes away. */
  close(): void {
    this.stopped = true;
    if (this.sessionId)
      void api
        .POST('/api', { body: { action: 'close_session', sessionId: this.sessionId }, keepalive: true })
        .catch(() => {});
  }
}
