/**
 * `npm run bench [-- NAME ...]`: runs the benchmarks (all by default) and writes
 * their sections of BENCHMARKS.md. See bench/README.md for what each measures.
 */
import { benchCodecs } from "./codecs.js";
import { benchDistributed } from "./distributed.js";
import { benchPlanner } from "./planner.js";
import { benchSingleDevice } from "./single-device.js";
import { benchSoak } from "./soak.js";
import { BENCHMARKS_FILE } from "./report.js";

const benchmarks: Record<string, () => Promise<void>> = {
  "single-device": () => benchSingleDevice({ forwards: 7, processes: 3 }),
  distributed: () => benchDistributed({ requests: 5, devices: [1, 3, 6] }),
  planner: () => benchPlanner({ runs: 5 }),
  codecs: () => benchCodecs({ runs: 20 }),
  soak: () => benchSoak({ requests: 1000, checkpoints: 4 }),
};

const wanted = process.argv.slice(2);
for (const name of wanted)
  if (!benchmarks[name]) throw new Error(`unknown benchmark '${name}' (known: ${Object.keys(benchmarks).join(", ")})`);
for (const [name, run] of Object.entries(benchmarks)) if (wanted.length === 0 || wanted.includes(name)) await run();
console.log(`written to ${BENCHMARKS_FILE}`);
