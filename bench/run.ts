/**
 * `npm run bench [-- NAME ...]`: runs the benchmarks (all by default) and writes
 * their sections of BENCHMARKS.md. See bench/README.md for what each measures.
 * Flags after one name go to that benchmark: `npm run bench -- throughput --devices 3`.
 */
import { benchCodecs } from "./codecs.js";
import { benchDistributed } from "./distributed.js";
import { benchPlanner } from "./planner.js";
import { benchSingleDevice } from "./single-device.js";
import { benchSoak } from "./soak.js";
import { benchStream } from "./stream.js";
import { benchThroughput } from "./throughput.js";
import { BENCHMARKS_FILE } from "./report.js";

const benchmarks: Record<string, (flags: readonly string[]) => Promise<void>> = {
  "single-device": () => benchSingleDevice({ forwards: 7, processes: 3 }),
  distributed: () => benchDistributed({ requests: 5, devices: [1, 3, 6] }),
  planner: () => benchPlanner({ runs: 5 }),
  codecs: () => benchCodecs({ runs: 20 }),
  soak: () => benchSoak({ requests: 1000, checkpoints: 4 }),
  stream: benchStream,
  throughput: benchThroughput,
};
const TAKE_FLAGS = new Set(["stream", "throughput"]);

const args = process.argv.slice(2);
const firstFlag = args.findIndex((a) => a.startsWith("--"));
const wanted = firstFlag < 0 ? args : args.slice(0, firstFlag);
const flags = firstFlag < 0 ? [] : args.slice(firstFlag);
for (const name of wanted)
  if (!benchmarks[name]) throw new Error(`unknown benchmark '${name}' (known: ${Object.keys(benchmarks).join(", ")})`);
if (flags.length && (wanted.length !== 1 || !TAKE_FLAGS.has(wanted[0]!)))
  throw new Error(
    `flags go after the one benchmark that takes them (${[...TAKE_FLAGS].join(", ")}): ${flags.join(" ")}`,
  );
for (const [name, run] of Object.entries(benchmarks))
  if (wanted.length === 0 || wanted.includes(name)) await run(flags);
console.log(`written to ${BENCHMARKS_FILE}`);
