import { loadNetwork } from "../../dnn/network.js";
import { writeSyntheticWeights } from "../../dnn/synthetic.js";
import { defineCommand, flag } from "../command.js";
import { defineFlags } from "../flags.js";

const flags = defineFlags({
  cfg: { value: "FILE", description: "the darknet cfg to write weights for", required: true },
  seed: {
    value: "N",
    description: "the seed: the same seed gives the same weights",
    schema: flag.int("a non-negative integer seed"),
    required: true,
  },
  out: { value: "FILE", description: "where to write the .weights file", required: true },
});

export const weightsCommand = defineCommand({
  name: "weights",
  flags,
  async run(o) {
    const network = loadNetwork(o.cfg);
    const bytes = writeSyntheticWeights(network, o.seed, o.out);
    console.log(
      `wrote ${o.out}: ${(bytes / 1e6).toFixed(1)} MB, ${network.totalParams} parameters for ${network.layers.length} layers (seed ${o.seed})`,
    );
  },
});
