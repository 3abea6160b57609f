/** The namespace lab: emulated devices with shaped links and CPU quotas, for experiments without Docker. */
export { createLab, type ExecOptions, type Lab, type LabDeps, type Place } from "./netns.js";
export { LabOptions, type DevicePlan, type LabPlan } from "./options.js";
export { measureLinkRate, measureLinks, type Direction, type LinkRate, type MeasureOptions } from "./linkrate.js";
export { cleanupStale } from "./stale.js";
export { parseRate } from "./shaping.js";
