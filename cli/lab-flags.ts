/** The flags every lab command shares (`lab`, `lab-net`, `experiment`): where things sit, and the rates of its links. */
import { z } from "zod";
import { TOPOLOGIES, type Topology } from "../lab/topology.js";
import { flag, type FlagRule } from "./command.js";

/** A link rate in Mbit/s, as the lab sets it with tc. */
export const mbitSchema = flag
  .number("a rate in Mbit/s")
  .refine((m) => m > 0 && m <= 10_000, "between 0 and 10000 Mbit/s");

/** `--topology`, described for the command that takes it. */
export const topologyFlag = (description: string) =>
  ({
    value: TOPOLOGIES.join("|"),
    description,
    schema: z.enum(TOPOLOGIES, {
      error: (i) => `unknown topology '${String(i.input)}': expected ${TOPOLOGIES.join(", ")}`,
    }),
    default: "paper",
  }) as const;

export const gatewayMbitFlag = {
  value: "MBIT",
  description: "the gateway's link rate both ways, Mbit/s (--topology gateway)",
  schema: mbitSchema,
} as const;

/** `--shard-mbit`: shards travel fast before the timed requests (start-up is not what a lab measures). */
export const shardMbitFlag = (defaults: { default: string } | { defaultText: string }) =>
  ({
    value: "MBIT",
    description:
      "links run at least this fast while a plan's shards travel (start-up, not timed), then at their own rate",
    schema: mbitSchema,
    ...defaults,
  }) as const;

/** --gateway-mbit goes with --topology gateway, and with it alone. */
export const gatewayRule: FlagRule<{ topology: Topology | string; "gateway-mbit"?: number | undefined }> = {
  flag: "gateway-mbit",
  message: "is the gateway's link rate: required with --topology gateway, and for it alone",
  holds: (o) => (o.topology === "gateway") === (o["gateway-mbit"] !== undefined),
};
