/**
 * Every change the page makes: one API call, asked for with a button, confirmed in a
 * dialog, and answered in the notice bar with the API's own words when it is refused.
 * A user with the `basic` role sees every button disabled (the API would refuse anyway).
 */
import type { Outcome } from './api.ts';
import { byId, el, setText } from './dom.ts';

export const readOnly = document.documentElement.dataset.role !== 'admin';
const READ_ONLY_TITLE = 'Read-only: your account has the basic role';

export interface Action {
  /** What the confirmation asks, e.g. "Put db2 into maintenance?" */
  question: string;
  /** What the notice says when it worked. */
  done: string;
  run: () => Promise<Outcome<unknown>>;
}

/** Called after each action so the page shows its effect without waiting for the next refresh. */
let afterAction: () => void = () => {};
export function onActionDone(f: () => void): void {
  afterAction = f;
}

export function actionButton(label: string, action: string, variant = ''): HTMLButtonElement {
  const b = el('button', { type: 'button', class: `action ${variant}`.trim(), 'data-action': action }, label);
  if (readOnly) {
    b.disabled = true;
    b.title = READ_ONLY_TITLE;
  }
  return b;
}

/** Sets a button's label and action: a toggle's meaning follows the state it shows. */
export function setAction(b: HTMLButtonElement, label: string, action: string): void {
  setText(b, label);
  if (b.dataset.action !== action) b.dataset.action = action;
}

/** Runs `a` from a button's click handler: a failure nobody expected is reported in the notice bar like a refusal. */
export function performFromClick(a: Action, button: HTMLButtonElement): void {
  perform(a, button).catch((err) =>
    notify('error', `${a.question.replace(/\?$/, '')} failed: ${(err as Error).message}`),
  );
}

export async function perform(a: Action, button?: HTMLButtonElement): Promise<void> {
  if (readOnly) return;
  if (!(await confirmed(a.question))) return;
  if (button) button.disabled = true;
  notify('busy', `${a.question.replace(/\?$/, '')}…`);
  try {
    const r = await a.run();
    if (r.ok) notify('ok', a.done);
    else notify('error', r.message);
  } finally {
    if (button) button.disabled = false;
    afterAction();
  }
}

function confirmed(question: string): Promise<boolean> {
  const dialog = byId<HTMLDialogElement>('confirm');
  setText(byId('confirm-text'), question);
  dialog.returnValue = '';
  dialog.showModal();
  byId('confirm-ok').focus();
  return new Promise((resolve) =>
    dialog.addEventListener('close', () => resolve(dialog.returnValue === 'ok'), { once: true }),
  );
}

let hideTimer: number | undefined;
export function notify(kind: 'ok' | 'error' | 'busy', text: string): void {
  const bar = byId('notice');
  bar.className = `notice ${kind}`;
  bar.replaceChildren(el('span', { class: 'notice-text' }, text));
  if (kind === 'error') {
    const close = el('button', { type: 'button', class: 'notice-close', 'aria-label': 'Dismiss' }, '×');
    close.addEventListener('click', () => (bar.className = 'notice'));
    bar.append(close);
  }
  window.clearTimeout(hideTimer);
  if (kind === 'ok') hideTimer = window.setTimeout(() => (bar.className = 'notice'), 6000);
}
