/** How many requests a source runs at once and lets wait (actors/source/admission.ts): the flags `source` and `up` share. */
import { z } from "zod";
import { MAX_AUTO_IN_FLIGHT, OVERFLOW_POLICIES } from "../actors/source/admission.js";
import type { SourceOptions } from "../actors/source/options.js";
import { sourceDefaults } from "../actors/source/source.js";
import { flag } from "./command.js";
import { defineFlags, type FlagValues } from "./flags.js";

export const admissionFlags = defineFlags({
  "in-flight": {
    value: "auto|K",
    description: `requests run at once; auto = as many as every device of the plan has room for beside its shards (1–${MAX_AUTO_IN_FLIGHT})`,
    schema: z.union([z.literal("auto"), flag.int("requests").refine((n) => n >= 1, "must be ≥ 1")]),
    default: String(sourceDefaults.inFlight),
  },
  queue: {
    value: "N",
    description: "requests that may wait beyond those running; then --overflow says who gives way",
    schema: flag.int("requests").refine((n) => n >= 0, "must be ≥ 0"),
    default: String(sourceDefaults.queue),
  },
  overflow: {
    value: OVERFLOW_POLICIES.join("|"),
    description:
      "a request beyond a full queue: reject = refused with a busy error; drop-oldest = the oldest waiting one gets a dropped error instead (cameras)",
    schema: z.enum(OVERFLOW_POLICIES, {
      error: (i) => `unknown policy '${String(i.input)}': expected ${OVERFLOW_POLICIES.join(" or ")}`,
    }),
    default: sourceDefaults.overflow,
  },
});

/** The source's admission options from the shared flags. */
export const admissionOf = (
  o: FlagValues<typeof admissionFlags>,
): Pick<SourceOptions, "inFlight" | "queue" | "overflow"> => ({
  inFlight: o["in-flight"],
  queue: o.queue,
  overflow: o.overflow,
});
