/**
 * `npm run oracle -- --cfg FILE --seed N --image FILE --out DIR`: darknet's reference
 * outputs for any cfg, synthetic-weights seed and image, as the suites' own are made.
 */
import { parseOracleFlags } from "./flags.js";
import { makeOracle } from "./generate.js";

function main(argv: string[]): number {
  try {
    const req = parseOracleFlags(argv);
    const started = performance.now();
    const m = makeOracle(req);
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    console.log(
      `${req.out}: ${m.layers.length} layers of ${m.cfg} on ${m.image}, weights ${m.weights} (seed ${m.weights_seed}), ${seconds} s`,
    );
    console.log(m.reference);
    return 0;
  } catch (err) {
    console.error(`oracle: ${(err as Error).message}`);
    return 1;
  }
}

process.exitCode = main(process.argv.slice(2));
