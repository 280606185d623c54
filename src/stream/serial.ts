/**
 * Runs jobs one after another, each calling `next` when done (at once or later): the explicit
 * state that zlib's asynchronous work needs, so that compressed and plain messages keep their
 * order in both directions.
 */
export type Job = (next: () => void) => void;

export class Serial {
  private jobs: Job[] = [];
  private running = false;

  constructor(private readonly onIdle?: () => void) {}

  get idle(): boolean {
    return !this.running && this.jobs.length === 0;
  }

  /** Jobs waiting (not counting the one running). */
  get waiting(): number {
    return this.jobs.length;
  }

  run(job: Job): void {
    this.jobs.push(job);
    if (!this.running) this.pump();
  }

  private pump(): void {
    while (!this.running && this.jobs.length > 0) {
      const job = this.jobs.shift()!;
      this.running = true;
      let sync = true;
      let finishedSync = false;
      job(() => {
        this.running = false;
        if (sync) finishedSync = true;
        else this.pump();
      });
      sync = false;
      if (!finishedSync) return;
    }
    if (!this.running) this.onIdle?.();
  }
}
