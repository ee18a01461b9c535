/**
 * What a command is: its name and usage (for `help`), whether `basic` users may run it,
 * whether it streams, and what it does. Commands emit typed results; a usage mistake is a
 * UsageError (status -10, with the usage), an operation the core refuses is its WeirError
 * (status 1, with its description).
 */
import type { WeirContext } from '../../context.ts';
import { WeirError } from '../../core/errors.ts';
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
  /**
   * Whether a `basic` user may run it with these words (after the command name), decided
   * from the words as `run` parses them (the same parser, never a look at raw spellings);
   * a UsageError thrown here is the command's usage mistake.
   */
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

/**
 * Refuses a basic user at the point where a command would change something: the second
 * line behind `readOnly`, so a command that misjudges its words still changes nothing.
 */
export function requireAdmin(ctx: CommandContext): void {
  if (ctx.user.role !== 'admin')
    throw new WeirError(
      403,
      `Administrative access required: '${ctx.user.name}' has the basic role, which may only read.`,
    );
}
