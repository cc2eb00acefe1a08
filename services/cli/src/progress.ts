import type { Io } from './command.js';

/**
 * Progress on stderr for long work: silent for the first second, then a line at most every second
 * (rewritten in place on a terminal). `done()` prints the final count when progress was shown.
 */
export class Progress {
  private readonly started = Date.now();
  private last = 0;
  private shown = false;
  private readonly tty: boolean;

  constructor(
    private readonly io: Io,
    private readonly what: string,
    private readonly total?: number,
  ) {
    this.tty = Boolean(process.stderr.isTTY);
  }

  tick(count: number): void {
    const now = Date.now();
    if (now - this.started < 1000 || now - this.last < 1000) return;
    this.last = now;
    this.shown = true;
    this.write(count, false);
  }

  done(count: number): void {
    if (this.shown) this.write(count, true);
  }

  private write(count: number, final: boolean): void {
    const secs = (Date.now() - this.started) / 1000;
    const rate = Math.round(count / Math.max(secs, 0.001));
    const of = this.total ? ` / ${this.total.toLocaleString('en-US')}` : '';
    const pct = this.total ? ` (${Math.floor((100 * count) / this.total)}%)` : '';
    const line = `${this.what}: ${count.toLocaleString('en-US')}${of}${pct}, ${rate.toLocaleString('en-US')}/s, ${secs.toFixed(1)} s${final ? ', done' : ''}`;
    if (this.tty) process.stderr.write(`\r${line}${final ? '\n' : ''}`);
    else this.io.err(line);
  }
}
