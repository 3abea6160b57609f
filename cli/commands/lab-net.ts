/**
 * `edgefuse lab-net`: build a namespace lab, measure every device link both ways,
 * print what each carries against its set rate, and tear the lab down. A check that
 * the emulated network on this machine is what an experiment will assume.
 */
import { z } from "zod";
import { parseRate } from "../../lab/shaping.js";
import { createLab } from "../../lab/netns.js";
import { measureLinkRate, type Direction } from "../../lab/linkrate.js";
import { cleanupStale } from "../../lab/stale.js";
import { flag, parseFlags, type Command } from "../command.js";

const usage = "edgefuse lab-net --devices N --bandwidth 100mbit [--cpu 0.5] [--duration-s 2]";

const Flags = z.object({
  devices: flag.int("a device count"),
  bandwidth: z.string().transform((s, ctx) => {
    try {
      return parseRate(s);
    } catch (err) {
      ctx.addIssue({ code: "custom", message: (err as Error).message });
      return z.NEVER;
    }
  }),
  cpu: flag.number("a fraction of one core").optional(),
  "duration-s": flag.number("seconds").refine((s) => s > 0 && s <= 60, "between 0 and 60 s").default(2),
});

export const labNet: Command = {
  usage,
  async run(argv) {
    const flags = parseFlags(argv, {
      devices: { type: "string" },
      bandwidth: { type: "string" },
      cpu: { type: "string" },
      "duration-s": { type: "string", default: "2" },
    }, Flags, usage);
    const stale = cleanupStale();
    if (stale.length) console.log(`removed ${stale.length} lab(s) left by dead runs: ${stale.join(", ")}`);

    const lab = await createLab({ devices: flags.devices, bandwidthMbit: flags.bandwidth, cpuShare: flags.cpu ?? null });
    try {
      console.log(`lab ${lab.id}: broker ${lab.brokerAddress}, ${flags.devices} device(s) at ${flags.bandwidth} mbit${flags.cpu ? `, ${flags.cpu} core each` : ""}`);
      const head = ["device", "address", "set mbit", "up mbit", "up %", "down mbit", "down %"];
      console.log(head.join("\t"));
      for (const d of lab.devices) {
        // One link at a time: parallel runs would share this machine's CPU and blur the numbers.
        const measure = (dir: Direction) => measureLinkRate(lab, d.index, dir, { durationMs: flags["duration-s"] * 1000 });
        const up = await measure("up");
        const down = await measure("down");
        const pct = (r: number) => (r * 100).toFixed(1);
        console.log([d.index, d.address, d.mbit, up.mbit.toFixed(1), pct(up.ratio), down.mbit.toFixed(1), pct(down.ratio)].join("\t"));
      }
    } finally {
      await lab.destroy();
    }
  },
};
