/**
 * The whole experiment in containers: `compose.yaml` with three worker devices and
 * the source, each shaping its own link to 100 mbit, runs YOLOv2 on dog.jpg with the
 * seeded synthetic weights of the `weights` service; the detections must be those of
 * a single device (`edgefuse run --json`) on the same weights.
 *
 * compose.yaml counts an actor healthy once it is connected to the broker
 * (docker/healthcheck.sh); the source holds a request until the plan's devices are
 * all ready, so an image that arrives before the plan still gets its answer.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startStack, STACK_START_TIMEOUT_MS, type Stack } from "./stack.js";

const WORKERS = 3;
const MODEL = "yolov2";
const WEIGHTS = `/weights/${MODEL}-s1.weights`;
const IMAGE = "models/images/dog.jpg";

interface Detection {
  readonly classId: number;
  readonly className: string;
  readonly probability: number;
  readonly box: { readonly left: number; readonly top: number; readonly right: number; readonly bottom: number };
}

/**
 * Differences between two detection lists, as readable lines. Partitioned layers add
 * partial sums in another order than one device does (LIP, FUSE), so values may
 * differ in the last float bits: a probability by up to 1e-4, a box edge by a pixel.
 */
function differences(got: readonly Detection[], want: readonly Detection[]): string[] {
  if (got.length !== want.length) return [`${got.length} detections, want ${want.length}`];
  return want.flatMap((w, i) => {
    const g = got[i]!;
    const problems: string[] = [];
    if (g.classId !== w.classId || g.className !== w.className)
      problems.push(`class ${g.className} (${g.classId}), want ${w.className} (${w.classId})`);
    if (Math.abs(g.probability - w.probability) > 1e-4)
      problems.push(`probability ${g.probability}, want ${w.probability}`);
    for (const edge of ["left", "top", "right", "bottom"] as const) {
      if (Math.abs(g.box[edge] - w.box[edge]) > 1) problems.push(`${edge} ${g.box[edge]}, want ${w.box[edge]}`);
    }
    return problems.map((p) => `detection ${i}: ${p}`);
  });
}

describe("container stack: one experiment", () => {
  let stack: Stack | undefined;
  /** One device, no network: `edgefuse run` in the planner's container, which has the weights volume. */
  let single: Detection[] = [];

  beforeAll(async () => {
    // Starting `experiment` starts everything it depends on, healthy, first.
    stack = await startStack({
      prefix: "edgefuse-exp",
      files: ["compose.yaml"],
      services: ["experiment"],
      // Tensors as float32 (WIRE): what one device computes, to the last float bits.
      env: { WORKERS: String(WORKERS), BANDWIDTH: "100mbit", CPUS: "1", MODEL, SEED: "1", WIRE: "f32" },
      healthy: [
        ["broker", 1],
        ["planner", 1],
        ["source", 1],
        ["worker", WORKERS],
      ],
      oneShot: ["weights", "experiment"],
    });
    const out = await stack.run("planner", [
      "edgefuse",
      "run",
      "--cfg",
      `models/cfg/${MODEL}.cfg`,
      "--weights",
      WEIGHTS,
      "--image",
      IMAGE,
      "--json",
    ]);
    single = (JSON.parse(out) as { detections: Detection[] }).detections;
    expect(single.length, "the single-device reference found nothing to compare").toBeGreaterThan(0);
  }, STACK_START_TIMEOUT_MS);

  afterAll(async () => {
    await stack?.down();
  }, 120_000);

  it(`${WORKERS} devices at 100 mbit find in dog.jpg what one device finds`, async () => {
    // Sent from the broker's host, as the experiment service does from its own container.
    const started = performance.now();
    const out = await stack!.run("broker", ["edgefuse", "infer", IMAGE, "--broker", "mqtt://127.0.0.1:1883", "--json"]);
    const distributed = (JSON.parse(out) as { detections: Detection[] }).detections;
    console.log(
      `${WORKERS} workers at 100 mbit: ${distributed.length} detections in ${((performance.now() - started) / 1000).toFixed(1)} s`,
    );
    expect(differences(distributed, single)).toEqual([]);
  }, 300_000);

  it("the experiment service printed the detections and exited 0", async () => {
    // The one-shot wait in beforeAll already required exit code 0; its log ends when the container did.
    let text = "";
    for await (const chunk of await stack!.container("experiment").logs()) text += String(chunk);
    for (const d of single) expect(text).toContain(d.className);
  });
});
