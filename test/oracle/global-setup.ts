/**
 * vitest globalSetup: make darknet's reference outputs the suites compare with, once
 * (a second run finds them in .cache/oracle/ and only checks their key).
 */
import { ORACLES } from "../fixtures.js";
import { findDarknet } from "./darknet.js";
import { ensureOracle } from "./generate.js";

export default function setup(): void {
  const darknet = findDarknet();
  for (const name of ORACLES) {
    const started = performance.now();
    const { dir, created } = ensureOracle(name, darknet);
    if (created)
      console.log(
        `darknet reference ${name}: made in ${((performance.now() - started) / 1000).toFixed(1)} s at ${dir}`,
      );
  }
}
