/**
 * Event-loop load, the Node.js counterpart of MaxScale's worker load: the share of time
 * the loop was busy (event-loop utilisation), in percent, over the last second and as
 * exponentially-weighted 1, 5 and 15 minute averages, like a system load average.
 */
import { performance, type EventLoopUtilization } from 'node:perf_hooks';

export class LoadSampler {
  private readonly start = performance.eventLoopUtilization();
  private last: EventLoopUtilization = this.start;
  current = 0;
  averages = { '1min': 0, '5min': 0, '15min': 0 };

  /** Called every second by the scheduler. */
  sample(): void {
    const now = performance.eventLoopUtilization();
    this.current = performance.eventLoopUtilization(now, this.last).utilization * 100;
    this.last = now;
    for (const [key, seconds] of [
      ['1min', 60],
      ['5min', 300],
      ['15min', 900],
    ] as const) {
      const decay = Math.exp(-1 / seconds);
      this.averages[key] = this.averages[key] * decay + this.current * (1 - decay);
    }
  }

  historic(): number {
    return performance.eventLoopUtilization(performance.eventLoopUtilization(), this.start).utilization * 100;
  }
}
