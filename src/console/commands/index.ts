/**
 * Every command of the command API, looked up by its first word. `help`, `jobs` and
 * `kill` live here because they are about the commands and jobs themselves.
 */
import { adminCommands, killSession } from './admin.ts';
import { diagnosticCommands } from './diagnostics.ts';
import { UsageError, type Command } from './types.ts';

const help: Command = {
  name: 'help',
  usage: 'help [COMMAND]',
  summary: 'The commands, or one in detail.',
  readOnly: () => true,
  streaming: false,
  async run(ctx, words) {
    const chosen = words[0] ? COMMANDS.filter((c) => c.name === words[0]) : COMMANDS;
    if (chosen.length === 0) throw new UsageError(`'${words[0]}' is not a command; 'help' lists them`);
    ctx.emit({
      type: 'help',
      commands: chosen.map((c) => ({
        name: c.name,
        usage: c.usage,
        summary: c.summary,
        readOnly: c.readOnly([]),
        streaming: c.streaming,
      })),
    });
  },
};

const jobs: Command = {
  name: 'jobs',
  usage: 'jobs',
  summary: "This session's jobs, running and finished.",
  readOnly: () => true,
  streaming: false,
  async run(ctx) {
    ctx.emit({
      type: 'jobs',
      jobs: [...ctx.session.jobs.values()].map((j) => ({
        jobId: j.id,
        command: j.command,
        status: j.status,
        background: j.background,
      })),
    });
  },
};

const kill: Command = {
  name: 'kill',
  usage: 'kill JOBID | kill session ID',
  summary: 'Stop a job of this session, or close a client session (needs admin).',
  readOnly: (words) => words[0] !== 'session',
  streaming: false,
  async run(ctx, words) {
    if (words[0] === 'session') return killSession(ctx, words);
    if (!words[0] || !/^\d+$/.test(words[0]))
      throw new UsageError("usage: kill JOBID (see 'jobs') or kill session ID (see 'list sessions')");
    const job = ctx.session.jobs.get(Number(words[0]));
    if (!job) throw new UsageError(`this session has no job ${words[0]}; 'jobs' lists them`);
    if (job === ctx.job) throw new UsageError('a job cannot kill itself');
    job.interrupt(`killed by job ${ctx.job.id}`);
    await job.done;
    ctx.emit({ type: 'message', message: `job ${job.id} stopped` });
  },
};

export const COMMANDS: Command[] = [help, ...adminCommands, ...diagnosticCommands, jobs, kill];

export function findCommand(name: string): Command | undefined {
  return COMMANDS.find((c) => c.name === name);
}
