/**
 * A progress bar on stderr while a phase runs: redrawn in place on a terminal, one line every few seconds when
 * stderr is a file or a pipe (CI logs), so stdout stays free for the JSON report.
 */

/** What the bar shows at one moment. */
export interface ProgressState {
  done: number;
  total: number;
  inFlight: number;
  failed: number;
  elapsedMs: number;
}

/** The bar's text for a state, `width` characters of bar; pure, so it is tested alone. */
export function renderProgress(label: string, state: ProgressState, width = 30): string {
  const fraction = state.total === 0 ? 1 : Math.min(1, state.done / state.total);
  const filled = Math.round(fraction * width);
  const rate = state.elapsedMs > 0 ? state.done / (state.elapsedMs / 1000) : 0;
  const failed = state.failed > 0 ? `  failed ${state.failed}` : '';
  return (
    `${label.padEnd(10)} [${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ` +
    `${String(state.done).padStart(String(state.total).length)}/${state.total}  ` +
    `${rate.toFixed(1)}/s  in flight ${state.inFlight}  ${(state.elapsedMs / 1000).toFixed(0)}s${failed}`
  );
}

/** Where the bar writes: stderr by default. */
export interface ProgressSink {
  isTTY?: boolean;
  write(text: string): unknown;
}

/** A bar for one phase: `update` as often as wanted; it redraws at most every `everyMs`. */
export class ProgressBar {
  private lastDraw = 0;
  private drawn = false;

  constructor(
    private readonly label: string,
    private readonly sink: ProgressSink = process.stderr,
    private readonly everyMs = sink.isTTY ? 100 : 5_000,
  ) {}

  update(state: ProgressState): void {
    const now = Date.now();
    if (now - this.lastDraw < this.everyMs && state.done < state.total) return;
    this.lastDraw = now;
    this.draw(state);
  }

  /** Draws the final state and ends the line. */
  finish(state: ProgressState): void {
    this.draw(state);
    if (this.sink.isTTY) this.sink.write('\n');
  }

  private draw(state: ProgressState): void {
    const line = renderProgress(this.label, state);
    this.sink.write(this.sink.isTTY ? `\r${line}\x1b[K` : `${line}\n`);
    this.drawn = true;
  }

  /** True once anything was drawn. */
  get started(): boolean {
    return this.drawn;
  }
}
