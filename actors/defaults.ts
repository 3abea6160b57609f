/**
 * The actors' defaults that more than one module states (the CLI's flags, the local
 * system behind `up`, compose's documentation): defined here once. Light on purpose:
 * the CLI reads it to print --help without loading onnxruntime.
 */

/** A device's memory for edgefuse (`--memory`) unless told: its process and the weights it is given. */
export const DEFAULT_DEVICE_MEMORY_MB = 1024;

/** What every device (source and worker) starts with unless told. */
export const DEVICE_DEFAULTS = {
  /** Give up on a weight shard when nothing of it has arrived for this long (fetch-shard.ts). */
  shardTimeoutMs: 30_000,
  log: (line: string) => console.error(line),
} as const;
