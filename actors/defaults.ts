/**
 * The actors' defaults that more than one module states (the CLI's flags, the local
 * system behind `up`, compose's documentation): defined here once. Light on purpose:
 * the CLI reads it to print --help without loading onnxruntime.
 */

/** A device's memory for edgefuse (`--memory`) unless told: its process and the weights it is given. */
export const DEFAULT_DEVICE_MEMORY_MB = 1024;
