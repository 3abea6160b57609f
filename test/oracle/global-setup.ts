/**
 * vitest globalSetup: make darknet's reference outputs the suites compare with, once
 * (a second run finds them in .cache/oracle/ and only checks their key).
 */
import { ORACLES } from "../fixtures.js";
import { CLASSIFIER_ORACLES, type ClassifierOracleName, ensureClassifierOracle } from "./classifier.js";
import { findDarknet } from "./darknet.js";
import { ensureOracle } from "./generate.js";

/** Makes one reference unless it is cached, saying so when it made it. */
function ensure(name: string, make: () => { dir: string; created: boolean }): void {
  const started = performance.now();
  const { dir, created } = make();
  if (created)
    console.log(`darknet reference ${name}: made in ${((performance.now() - started) / 1000).toFixed(1)} s at ${dir}`);
}

export default function setup(): void {
  const darknet = findDarknet();
  for (const name of ORACLES) ensure(name, () => ensureOracle(name, darknet));
  for (const name of Object.keys(CLASSIFIER_ORACLES) as ClassifierOracleName[])
    ensure(name, () => ensureClassifierOracle(name, darknet));
}
