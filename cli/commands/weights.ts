import { z } from "zod";
import { loadNetwork } from "../../dnn/network.js";
import { writeSyntheticWeights } from "../../dnn/synthetic.js";
import { type Command, flag, parseFlags } from "../command.js";

const usage = "edgefuse weights --cfg FILE --seed N --out FILE";
const schema = z.object({ cfg: z.string(), seed: flag.int("a non-negative integer seed"), out: z.string() });

export const weightsCommand: Command = {
  usage,
  async run(argv) {
    const o = parseFlags(argv, { cfg: { type: "string" }, seed: { type: "string" }, out: { type: "string" } }, schema, usage);
    const network = loadNetwork(o.cfg);
    const bytes = writeSyntheticWeights(network, o.seed, o.out);
    console.log(`wrote ${o.out}: ${(bytes / 1e6).toFixed(1)} MB, ${network.totalParams} parameters for ${network.layers.length} layers (seed ${o.seed})`);
  },
};
