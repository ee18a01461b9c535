/**
 * What a command is: its name and usage (for `help`), whether `basic` users may run it,
 * whether it streams, and what it does. Commands emit typed results; a usage mistake is a
 * UsageError (status -10, with the usage), an operation the core refuses is its WeirError
 * (status 1, with its description).
 */
import type { WeirContext } from '../../context.ts';
import type { AdminUser } from '../../core/users.ts';
import type { ConsoleSession, Emitted, Job } from '../engine.ts';

export interface CommandContext {
  weir: WeirContext;
  user: AdminUser;
  session: ConsoleSession;
  job: Job;
  /** Aborted by interrupt_job, kill, an exec timeout or the session closing. */
  signal: AbortSignal;
  emit(result: Emitted): void;
}

export interface Command {
  name: string;
  usage: string;
  summary: string;
  /** Whether a `basic` user may run it with these words (after the command name). */
  readOnly: (words: string[]) => boolean;
  streaming: boolean;
  run(ctx: CommandContext, words: string[]): Promise<void>;
}

export class UsageError extends Error {}

/** Resolves when the job is interrupted. */
export function interrupted(signal: AbortSignal): Promise<void> {
  if (signal.aborted) return Promise.resolve();
  return new Promise((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
}
