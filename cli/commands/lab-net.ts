/**
 * `edgefuse lab-net`: build a namespace lab, measure every device link both ways,
 * print what each carries against its set rate, and tear the lab down. A check that
 * the emulated network on this machine is what an experiment will assume.
 */
import { createLab } from "../../lab/netns.js";
import { measureLinkRate, type Direction } from "../../lab/linkrate.js";
import { cleanupStale } from "../../lab/stale.js";
import { defineCommand, flag } from "../command.js";
import { deviceRoster } from "../devices.js";
import { defineFlags } from "../flags.js";
import { labModelFlags, rateSchema } from "./lab.js";

const flags = defineFlags({
  devices: {
    value: "N",
    description:
      "devices in all, as `edgefuse lab` counts them: the source in the hub and N−1 workers, each behind its own shaped link",
    schema: flag.intIn("a device count", 2, 17),
    required: true,
  },
  bandwidth: {
    value: "RATE",
    description: "each worker link's rate, both ways (tc units: 100mbit, 1gbit)",
    schema: rateSchema,
    required: true,
  },
  cpu: { ...labModelFlags.cpu, defaultText: "no quota" },
  "duration-s": {
    value: "S",
    description: "seconds each direction of each link is measured",
    schema: flag.number("seconds").refine((s) => s > 0 && s <= 60, "between 0 and 60 s"),
    default: "2",
  },
});

export const labNet = defineCommand({
  name: "lab-net",
  flags,
  async run(o) {
    const stale = cleanupStale();
    if (stale.length) console.log(`removed ${stale.length} lab(s) left by dead runs: ${stale.join(", ")}`);

    // As LabSession builds it: the source shares the hub with the broker, so only the workers have links.
    const lab = await createLab({ devices: o.devices - 1, bandwidthMbit: o.bandwidth, cpuShare: o.cpu ?? null });
    try {
      console.log(
        `lab ${lab.id}: broker ${lab.brokerAddress}, ${deviceRoster(o.devices)}, worker links at ${o.bandwidth} mbit${o.cpu ? `, ${o.cpu} core each` : ""}`,
      );
      const head = ["device", "address", "set mbit", "up mbit", "up %", "down mbit", "down %"];
      console.log(head.join("\t"));
      for (const d of lab.devices) {
        // One link at a time: parallel runs would share this machine's CPU and blur the numbers.
        const measure = (dir: Direction) => measureLinkRate(lab, d.index, dir, { durationMs: o["duration-s"] * 1000 });
        const up = await measure("up");
        const down = await measure("down");
        const pct = (r: number) => (r * 100).toFixed(1);
        console.log(
          [d.index, d.address, d.mbit, up.mbit.toFixed(1), pct(up.ratio), down.mbit.toFixed(1), pct(down.ratio)].join(
            "\t",
          ),
        );
      }
    } finally {
      await lab.destroy();
    }
  },
});
