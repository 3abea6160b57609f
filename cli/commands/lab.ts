/**
 * `edgefuse lab`: one experiment setting in a namespace lab — N devices (the source
 * beside the broker in the hub, N−1 workers behind shaped links), a CPU quota each —
 * and the chosen plan variants, each planned, warmed up and timed. Prints a table,
 * or with --json one record per timed request. Progress goes to stderr.
 */
import { z } from "zod";
import { sampleImage } from "../../core/paths.js";
import { runLabExperiment, type RunRecord } from "../../lab/experiment.js";
import { parseRate } from "../../lab/shaping.js";
import { assertRoot, defaultCpuShare, isSchemeName, resolveModel, scheme, STRATEGIES } from "../../lab/setup.js";
import { formatTable } from "../../lab/tables.js";
import { type Command, flag, parseFlags } from "../command.js";

const usage =
  "edgefuse lab [--devices N] [--bandwidth 100mbit] [--cpu SHARE] [--cfg FILE --weights FILE] [--image FILE] [--scheme auto,lop,lip,fuse-all,paper] [--ftp-layers B|auto|auto-comm] [--repeats R] [--json]";

/** The flags `lab` and `experiment` share: CPU per device, the model and the image. */
export const labModelFlags = {
  shape: {
    cpu: flag.number("a fraction of one core").refine((c) => c >= 0.05 && c <= 2, "between 0.05 and 2 cores").optional(),
    cfg: z.string().optional(),
    weights: z.string().optional(),
    image: z.string().default(sampleImage("dog.jpg")),
  },
  options: { cpu: { type: "string" }, cfg: { type: "string" }, weights: { type: "string" }, image: { type: "string" } } as const,
  modelTogether: (o: { cfg?: string | undefined; weights?: string | undefined }): boolean => (o.cfg === undefined) === (o.weights === undefined),
  modelTogetherIssue: { message: "--cfg and --weights go together (neither: YOLOv2 with synthetic weights)", path: ["cfg"] },
};

/** Root first (nothing else matters without it), then the model to run. */
export function prepareLab(command: string, o: { cfg?: string; weights?: string }): { cfg: string; weights: string } {
  assertRoot(command);
  return resolveModel(o.cfg, o.weights);
}

const schema = z
  .object({
    devices: flag.int("a device count").refine((n) => n >= 1 && n <= 16, "between 1 and 16").default(3),
    bandwidth: z
      .string()
      .default("100mbit")
      .transform((s, ctx) => {
        try {
          return parseRate(s);
        } catch (err) {
          ctx.addIssue({ code: "custom", message: (err as Error).message });
          return z.NEVER;
        }
      }),
    ...labModelFlags.shape,
    scheme: z
      .string()
      .default("auto")
      .transform((s) => s.split(","))
      .refine((names) => names.every(isSchemeName), `expected a comma-separated list of ${STRATEGIES.join(", ")}`),
    "ftp-layers": z
      .string()
      .regex(/^(auto|auto-comm|\d+)$/, "expected auto, auto-comm or a layer count B")
      .default("auto")
      .transform((s) => (s === "auto" || s === "auto-comm" ? s : Number(s))),
    repeats: flag.int("a count").refine((n) => n >= 1, "at least 1").default(3),
    json: z.boolean().default(false),
  })
  .refine(labModelFlags.modelTogether, labModelFlags.modelTogetherIssue);

const options = {
  ...labModelFlags.options, devices: { type: "string" }, bandwidth: { type: "string" },
  scheme: { type: "string" }, "ftp-layers": { type: "string" }, repeats: { type: "string" }, json: { type: "boolean" },
} as const;

export const labCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, options, schema, usage);
    const model = prepareLab("lab", o);
    const cpuShare = o.cpu ?? defaultCpuShare(o.devices);
    const schemes = o.scheme.filter(isSchemeName).map((name) => scheme(name, o["ftp-layers"]));
    const log = (line: string): void => void process.stderr.write(`lab: ${line}\n`);
    log(`${o.devices} devices at ${o.bandwidth} mbit, ${cpuShare} core each; ${schemes.map((s) => s.label).join(", ")}; ${o.repeats} timed request(s) after one warm-up`);
    const records: RunRecord[] = await runLabExperiment({
      devices: o.devices, bandwidthMbit: o.bandwidth, cpuShare, ...model, image: o.image, schemes, repeats: o.repeats, log,
      onRecord: (r) => {
        if (o.json) console.log(JSON.stringify(r));
        else log(`${r.scheme} #${r.repeat}: ${r.latencyMs.toFixed(0)} ms (lower bound ${r.lowerBoundMs.toFixed(0)} ms)`);
      },
    });
    if (!o.json) console.log(formatTable(records));
  },
};
