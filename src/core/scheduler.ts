/**
 * Weir's repeated background tasks (what `GET /maxscale/tasks` lists). Each task keeps
 * its own timer; `unref` so that tasks never keep a stopping process alive.
 */
export interface Task {
  name: string;
  frequencyMs: number;
  nextDue: Date;
}

export class Scheduler {
  private readonly tasks = new Map<string, { task: Task; timer: NodeJS.Timeout }>();

  repeat(name: string, frequencyMs: number, run: () => void): void {
    this.cancel(name);
    const task: Task = { name, frequencyMs, nextDue: new Date(Date.now() + frequencyMs) };
    const timer = setInterval(() => {
      task.nextDue = new Date(Date.now() + frequencyMs);
      run();
    }, frequencyMs);
    timer.unref();
    this.tasks.set(name, { task, timer });
  }

  cancel(name: string): void {
    const entry = this.tasks.get(name);
    if (entry) clearInterval(entry.timer);
    this.tasks.delete(name);
  }

  list(): Task[] {
    return [...this.tasks.values()].map((e) => ({ ...e.task }));
  }

  stopAll(): void {
    for (const name of [...this.tasks.keys()]) this.cancel(name);
  }
}
