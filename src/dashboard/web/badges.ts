/**
 * A server's state flags as badges, and the one-word role the topology shows.
 */
import { el } from './dom.ts';

const LABELS: Record<string, string> = {
  master: 'primary',
  slave: 'replica',
  running: 'running',
  down: 'down',
  maintenance: 'maintenance',
  draining: 'draining',
  drained: 'drained',
  synced: 'synced',
  auth_error: 'auth error',
};

export function badges(state: readonly string[]): HTMLElement {
  const box = el('span', { class: 'badges' });
  if (state.length === 0)
    box.append(
      el('span', { class: 'badge state-unknown', title: 'No running monitor watches this server' }, 'unmonitored'),
    );
  for (const flag of state)
    box.append(el('span', { class: `badge state-${flag}`, 'data-flag': flag }, LABELS[flag] ?? flag));
  return box;
}

export function roleOf(state: readonly string[]): { kind: string; label: string } {
  if (state.includes('maintenance')) return { kind: 'maintenance', label: 'maintenance' };
  if (state.includes('down')) return { kind: 'down', label: 'down' };
  if (state.includes('master'))
    return {
      kind: 'primary',
      label: state.includes('draining') || state.includes('drained') ? 'primary, draining' : 'primary',
    };
  if (state.includes('slave'))
    return {
      kind: 'replica',
      label: state.includes('draining') || state.includes('drained') ? 'replica, draining' : 'replica',
    };
  if (state.includes('running')) return { kind: 'running', label: 'running' };
  return { kind: 'unknown', label: state.length ? state.join(', ') : 'unmonitored' };
}
