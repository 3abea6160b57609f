/**
 * One wording for devices in everything the CLI prints: a device is any machine in
 * the plan, the source included, so N devices are the source and N−1 workers.
 */
import { z } from "zod";
import { parseRate, RATE_SYNTAX, rateText } from "../core/rates.js";
import type { DeviceLinks } from "../actors/runtime/device.js";
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

/** A flag's rate as core/rates.ts reads it (`100mbit`), in bits per second; a bad one is named with what a rate looks like. */
export const rateSchema = z.string().transform((s, ctx) => {
  const bits = parseRate(s);
  if (bits === null) ctx.addIssue({ code: "custom", message: `expected ${RATE_SYNTAX}, got '${s}'` });
  return bits ?? 0;
});

const LINK_UNSET = "none announced: not limited or not known";

/**
 * `--uplink RATE` and `--downlink RATE`, as the worker and source commands take them:
 * the device's own link, announced in its presence for the planner to plan with.
 */
export const linkFlags = {
  uplink: {
    value: "RATE",
    description: `this device's link rate towards the broker, ${RATE_SYNTAX}, announced for the planner`,
    schema: rateSchema,
    defaultText: LINK_UNSET,
  },
  downlink: {
    value: "RATE",
    description: `this device's link rate from the broker, ${RATE_SYNTAX}, announced for the planner`,
    schema: rateSchema,
    defaultText: LINK_UNSET,
  },
} as const;

/** `100mbit` or `10mbit,100mbit,…`: one rate for every device, or one per device. */
const rateListSchema = z.string().transform((s, ctx) => {
  const rates = s.split(",").map((part) => ({ part, bits: parseRate(part) }));
  const bad = rates.find((r) => r.bits === null);
  if (bad) ctx.addIssue({ code: "custom", message: `expected ${RATE_SYNTAX}, got '${bad.part}'` });
  return rates.map((r) => r.bits ?? 0);
});

const perDevice = (direction: string) =>
  `each device's link rate ${direction} the broker, ${RATE_SYNTAX}: one for all, or one per device, the source first (RATE,RATE,…)`;

/** `up`'s `--uplink` and `--downlink`: for the devices it starts, one rate for all or one each in device order. */
export const deviceLinkFlags = {
  uplink: { ...linkFlags.uplink, description: perDevice("towards"), schema: rateListSchema },
  downlink: { ...linkFlags.downlink, description: perDevice("from"), schema: rateListSchema },
} as const;

type LinkLists = { readonly devices: number; readonly uplink?: number[]; readonly downlink?: number[] };

/** A list of rates gives one for every device or one each (`up --devices N`): any other length is refused. */
export const linkListRules = (["uplink", "downlink"] as const).map((name) => ({
  flag: name,
  message: `give one RATE for every device or one per device (the source first), as many as --devices`,
  holds: (o: LinkLists) => {
    const n = o[name]?.length;
    return n === undefined || n === 1 || n === o.devices;
  },
}));

/** Each device's links, the source first, from `up`'s lists (one rate: the same for all). */
export function perDeviceLinks(o: LinkLists): DeviceLinks[] {
  const at = (rates: number[], i: number) => rates[i] ?? rates[0]!;
  return Array.from({ length: o.devices }, (_, i) => ({
    ...(o.uplink ? { uplinkBitsPerSec: at(o.uplink, i) } : {}),
    ...(o.downlink ? { downlinkBitsPerSec: at(o.downlink, i) } : {}),
  }));
}

/**
 * `--gmac-per-sec N`: a speed to announce instead of measuring one. A device measures
 * its own at start-up (actors/runtime/speed.ts: ~0.6 s); devices that share a machine
 * (`up`, tests) are given one measurement rather than each probing the same cores.
 */
export const speedFlag = {
  value: "N",
  description:
    "announce this compute speed, billions of multiply-accumulates per second, instead of measuring it (~0.6 s)",
  schema: flag.number("GMAC/s").refine((n) => n > 0, "must be > 0"),
  defaultText: "measured at start-up",
} as const;

/** The DeviceLinks a worker or source command was given (linkFlags): the rates given, nothing for the rest. */
export const linksGiven = (o: { readonly uplink?: number; readonly downlink?: number }): DeviceLinks => ({
  ...(o.uplink === undefined ? {} : { uplinkBitsPerSec: o.uplink }),
  ...(o.downlink === undefined ? {} : { downlinkBitsPerSec: o.downlink }),
});

/** ", uplink 10 Mbit/s, downlink 100 Mbit/s" for a start-up line; "" for a device given none. */
export const linksText = (links: DeviceLinks): string =>
  [
    links.uplinkBitsPerSec === undefined ? "" : `, uplink ${rateText(links.uplinkBitsPerSec)}`,
    links.downlinkBitsPerSec === undefined ? "" : `, downlink ${rateText(links.downlinkBitsPerSec)}`,
  ].join("");
