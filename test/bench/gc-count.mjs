// Preloaded into a benchmarked Weir (node --import): counts garbage collections and prints
// the count on SIGUSR2, so a benchmark can read GCs per query (--trace-gc's output is
// block-buffered on a pipe and arrives late).
import { PerformanceObserver } from 'node:perf_hooks';

let count = 0;
new PerformanceObserver((list) => {
  count += list.getEntries().length;
}).observe({ entryTypes: ['gc'] });
process.on('SIGUSR2', () => process.stdout.write(`gc-count ${count}\n`));
