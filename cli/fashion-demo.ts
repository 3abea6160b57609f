/**
 * `edgefuse demo --model fashion`: the Fashion-MNIST classifier darknet trained
 * (models/fashion/) split across N devices on this machine, a few of its shipped test
 * images through them, each prediction printed beside the image's true label.
 */
import { basename } from "node:path";
import { readNames } from "../dnn/detect/names.js";
import { FASHION } from "../dnn/dataset/fashion.js";
import { openLabelledSet } from "../dnn/dataset/labelled.js";
import { startLocalDeployment } from "./local-deployment.js";
import { requestEach } from "./request-pool.js";

export async function runFashionDemo(o: { devices: number; images: number }): Promise<number> {
  const names = readNames(FASHION.names);
  const images = openLabelledSet(FASHION.testImages, names).slice(0, o.images);
  console.error(
    `Fashion-MNIST classifier trained by darknet (models/fashion/README.md), split over ${o.devices} devices on this machine`,
  );
  const deployment = await startLocalDeployment({
    cfg: FASHION.cfg,
    weights: FASHION.weights,
    devices: o.devices,
    wire: "f32",
    classNames: names,
    log: () => undefined,
  });
  const rows: string[] = [];
  let correct = 0;
  try {
    console.error(`plan ${deployment.plan}; ${images.length} test images through it:`);
    await requestEach(
      deployment.bus,
      deployment.topics,
      images.length,
      (i) => images[i]!.bytes(),
      { inFlight: 4, timeoutMs: 30_000, idPrefix: `demo-${process.pid}` },
      (i, answer) => {
        const image = images[i]!;
        if (!answer.ok) {
          rows[i] = `${basename(image.name).padEnd(18)} true ${names[image.label]!.padEnd(9)} failed: ${answer.error}`;
          return;
        }
        const [top, second] = answer.result.detections;
        const ok = top?.classId === image.label;
        if (ok) correct++;
        const guess = (c: typeof top) => (c ? `${names[c.classId]} ${(100 * c.probability).toFixed(1)}%` : "-");
        rows[i] =
          `${basename(image.name).padEnd(18)} true ${names[image.label]!.padEnd(9)} predicted ${guess(top).padEnd(16)} ${ok ? "ok " : "no "} (next: ${guess(second)})`;
      },
    );
  } finally {
    await deployment.stop();
  }
  for (const row of rows) console.log(row);
  console.log(`${correct}/${images.length} right`);
  return rows.some((r) => r.includes("failed:")) ? 1 : 0;
}
