/**
 * A progress bar on stderr for a long run of known length: redrawn in place on a
 * terminal (at most ten times a second), one line per tenth of the run otherwise
 * (a log, CI), so it never floods what it is written to.
 */
const WIDTH = 30;

export interface ProgressLine {
  /** `done` of the total are finished; `note` follows the count. */
  update(done: number, note?: string): void;
  /** Ends the line (a terminal's bar keeps its last state). */
  end(): void;
}

export function progressLine(total: number, out: NodeJS.WriteStream = process.stderr): ProgressLine {
  const started = performance.now();
  let drawn = 0;
  let lastTenth = 0;
  let shown = false;
  const text = (done: number, note: string | undefined) => {
    const filled = total > 0 ? Math.round((WIDTH * done) / total) : WIDTH;
    const rate = done / Math.max(1e-3, (performance.now() - started) / 1000);
    return `[${"#".repeat(filled)}${".".repeat(WIDTH - filled)}] ${done}/${total}${note ? `  ${note}` : ""}  ${rate.toFixed(1)}/s`;
  };
  return {
    update(done, note) {
      if (out.isTTY) {
        const now = performance.now();
        if (done < total && now - drawn < 100) return;
        drawn = now;
        out.write(`\r${text(done, note)}\x1b[K`);
        shown = true;
      } else {
        const tenth = Math.floor((10 * done) / Math.max(1, total));
        if (tenth > lastTenth || done === total) {
          lastTenth = tenth;
          out.write(`${text(done, note)}\n`);
        }
      }
    },
    end() {
      if (shown) out.write("\n");
      shown = false;
    },
  };
}
