/**
 * `edgefuse lab-net`: build a namespace lab as `edgefuse lab` lays it out for a
 * topology, measure every link both ways, print what each carries against its set
 * rate, and tear the lab down. A check that the emulated network on this machine is
 * what an experiment will assume.
 */
import { createLab } from "../../lab/netns.js";
import { measureLinkRate, type Direction } from "../../lab/linkrate.js";
import { sessionLayout } from "../../lab/session.js";
import { cleanupStale } from "../../lab/stale.js";
import { gatewayMbitFlag, gatewayRule, topologyFlag } from "../lab-flags.js";
import { defineCommand, flag } from "../command.js";
import { deviceRoster } from "../devices.js";
import { defineFlags } from "../flags.js";
import { rateSchema } from "./lab.js";

const flags = defineFlags({
  devices: {
    value: "N",
    description: "devices in all, as `edgefuse lab` counts them: the source and N−1 workers",
    schema: flag.intIn("a device count", 1, 16),
    required: true,
  },
  topology: topologyFlag(
    "the links `edgefuse lab --topology` builds: paper = every device's, hub = the workers', gateway = every device's and the gateway's",
  ),
  "gateway-mbit": gatewayMbitFlag,
  bandwidth: {
    value: "RATE",
    description: "each device link's rate, both ways (tc units: 100mbit, 1gbit)",
    schema: rateSchema,
    required: true,
  },
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
  rules: [gatewayRule],
  async run(o) {
    const stale = cleanupStale();
    if (stale.length) console.log(`removed ${stale.length} lab(s) left by dead runs: ${stale.join(", ")}`);
    const gateway = o["gateway-mbit"];
    // No CPU quota: the probes run outside it anyway, and no device runs here.
    const layout = sessionLayout({
      devices: o.devices,
      topology: o.topology,
      ...(gateway === undefined ? {} : { gatewayMbit: gateway }),
      bandwidthMbit: o.bandwidth,
      cpuShare: 1,
      cfg: "",
      weights: "",
      image: "",
    });
    const lab = await createLab({ ...layout.lab, cpuShare: null, hubCpuShare: null });
    try {
      console.log(
        `lab ${lab.id}: ${o.topology} topology, switch ${lab.hubAddress}, ${deviceRoster(o.devices)}, device links at ${o.bandwidth} mbit${gateway === undefined ? "" : `, gateway at ${gateway} mbit`}`,
      );
      const head = ["link", "address", "set mbit", "up mbit", "up %", "down mbit", "down %"];
      console.log(head.join("\t"));
      for (const link of layout.links) {
        const d = lab.devices[link.labDevice]!;
        // One link at a time: parallel runs would share this machine's CPU and blur the numbers.
        const measure = (dir: Direction) => measureLinkRate(lab, d.index, dir, { durationMs: o["duration-s"] * 1000 });
        const up = await measure("up");
        const down = await measure("down");
        const pct = (r: number) => (r * 100).toFixed(1);
        console.log(
          [link.name, d.address, d.mbit, up.mbit.toFixed(1), pct(up.ratio), down.mbit.toFixed(1), pct(down.ratio)].join(
            "\t",
          ),
        );
      }
    } finally {
      await lab.destroy();
    }
  },
});
