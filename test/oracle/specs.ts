/** What each reference the suites use is made from: a cfg in models/cfg, a weights seed, an image in models/images. */
import type { OracleName } from "../fixtures.js";

export interface OracleSpec {
  /** models/cfg/<cfg>.cfg */
  readonly cfg: string;
  /** The seed of the synthetic weights (dnn/synthetic.ts, as `edgefuse weights --seed`). */
  readonly seed: number;
  /** models/images/<image> */
  readonly image: string;
}

export const ORACLE_SPECS: Readonly<Record<OracleName, OracleSpec>> = {
  "yolov2-mini-s7-dog": { cfg: "yolov2-mini", seed: 7, image: "dog.jpg" },
  "fc-mini-s3-dog": { cfg: "fc-mini", seed: 3, image: "dog.jpg" },
  "yolov2-tiny-s1-dog": { cfg: "yolov2-tiny", seed: 1, image: "dog.jpg" },
};
