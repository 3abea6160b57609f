/**
 * One wording for devices in everything the CLI prints: a device is any machine in
 * the plan, the source included, so N devices are the source and N−1 workers.
 */
import { flag } from "./command.js";
import { idSchema } from "./connection.js";
import { DEFAULT_DEVICE_MEMORY_MB } from "../actors/defaults.js";

/** "1 detection", "3 detections". */
export const plural = (n: number, word: string, many = `${word}s`): string => `${n} ${n === 1 ? word : many}`;

/** "1 device", "3 devices". */
export const devicesText = (n: number): string => plural(n, "device");

/** "1 device (the source)", "3 devices (source + 2 workers)". */
export const deviceRoster = (n: number): string =>
  `${devicesText(n)} (${n === 1 ? "the source" : `source + ${plural(n - 1, "worker")}`})`;

/** `--id`, as every device command takes it; `defaultText` shows a default computed at start-up. */
export const deviceIdFlag = (defaultId: string, defaultText?: string) =>
  ({
    value: "ID",
    description: "this device's id, the last level of its workers/<ID> presence",
    schema: idSchema,
    default: defaultId,
    ...(defaultText === undefined ? {} : { defaultText }),
  }) as const;

/**
 * `--memory MB`, as every device command takes it: the device's whole memory for
 * edgefuse. The process measures what it holds before any weights (node, onnxruntime,
 * MQTT: about 100 MB) and announces it; the planner gives its weights the rest.
 */
export const memoryFlag = {
  value: "MB",
  description:
    "all the memory this device gives edgefuse: its process (~100 MB, measured) plus the weights it is given",
  schema: flag.megabytes(),
  default: String(DEFAULT_DEVICE_MEMORY_MB),
} as const;
