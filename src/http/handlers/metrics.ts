/** `GET /metrics`: the Prometheus exposition of src/metrics. */
import { CONTENT_TYPE } from '../../metrics/metrics.ts';
import type { HandlerGroup } from '../types.ts';

export const metricsHandlers: HandlerGroup<'getMetrics'> = {
  getMetrics: async ({ weir }) => ({ status: 200, body: await weir.metrics.text(), contentType: CONTENT_TYPE }),
};
