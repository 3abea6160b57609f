/**
 * YOLOv2 608 on one device, one onnxruntime thread, seeded synthetic weights:
 * forward latency (median of repeated runs in one process), GMAC/s, and the
 * whole `edgefuse run` process (wall time and peak resident memory).
 */
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { CACHE_DIR, modelCfg, PACKAGE_ROOT, sampleImage } from "../core/paths.js";
import { letterboxImage } from "../dnn/image/letterbox.js";
import { loadImage } from "../dnn/image/decode.js";
import { loadModel } from "../dnn/model.js";
import { loadNetwork } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import { machine, median, writeSection } from "./report.js";

export async function benchSingleDevice(options: { forwards: number; processes: number }): Promise<void> {
  const cfg = modelCfg("yolov2");
  const network = loadNetwork(cfg);
  const { path: weights } = cachedSyntheticWeights(network, 1, CACHE_DIR);
  const image = sampleImage("dog.jpg");

  console.log(
    `single device: YOLOv2 608, ${(network.totalMults / 1e9).toFixed(2)} G multiply-adds, ${options.forwards} forwards + ${options.processes} whole runs`,
  );
  const loadStart = performance.now();
  const { engine } = await loadModel(cfg, weights, { threads: 1 });
  const loadMs = performance.now() - loadStart;
  const input = letterboxImage(loadImage(image), network.input.w, network.input.h).data;
  await engine.forward(input); // warm-up: first-run allocations
  const forwardMs: number[] = [];
  for (let i = 0; i < options.forwards; i++) {
    forwardMs.push((await engine.forward(input)).ms);
    process.stdout.write(`\r  forward ${i + 1}/${options.forwards}: ${forwardMs.at(-1)!.toFixed(0)} ms   `);
  }
  await engine.release();
  process.stdout.write("\n");

  const runs: { wallMs: number; peakRssMB: number }[] = [];
  for (let i = 0; i < options.processes; i++) {
    const started = performance.now();
    const r = spawnSync(
      join(PACKAGE_ROOT, "bin", "edgefuse"),
      ["run", "--cfg", cfg, "--weights", weights, "--image", image, "--json"],
      { encoding: "utf8" },
    );
    if (r.status !== 0) throw new Error(`edgefuse run failed: ${r.stderr}`);
    runs.push({ wallMs: performance.now() - started, peakRssMB: JSON.parse(r.stdout).timings.peakRssMB });
    process.stdout.write(
      `\r  edgefuse run ${i + 1}/${options.processes}: ${runs.at(-1)!.wallMs.toFixed(0)} ms, ${runs.at(-1)!.peakRssMB} MB   `,
    );
  }
  process.stdout.write("\n");

  const fwd = median(forwardMs);
  const gmacs = network.totalMults / 1e9 / (fwd / 1000);
  const wall = median(runs.map((r) => r.wallMs));
  const rss = Math.max(...runs.map((r) => r.peakRssMB));
  const rows = [
    [`forward, median of ${options.forwards}`, `${fwd.toFixed(0)} ms`, "≤ 1000 ms", fwd <= 1000],
    [
      "forward, min / max",
      `${Math.min(...forwardMs).toFixed(0)} / ${Math.max(...forwardMs).toFixed(0)} ms`,
      "",
      undefined,
    ],
    ["throughput", `${gmacs.toFixed(1)} GMAC/s`, "", undefined],
    ["load (parse, read 204 MB, build sessions)", `${loadMs.toFixed(0)} ms`, "", undefined],
    [
      `whole \`edgefuse run --image\`, median of ${options.processes}`,
      `${wall.toFixed(0)} ms`,
      "≤ 2500 ms",
      wall <= 2500,
    ],
    ["peak RSS of `edgefuse run`", `${rss} MB`, "≤ 600 MB", rss <= 600],
  ] as const;
  const table = rows
    .map(([what, value, target, ok]) => `| ${what} | ${value} | ${target}${ok === undefined ? "" : ok ? " ✓" : " ✗"} |`)
    .join("\n");
  writeSection(
    "single-device",
    `## Single device: YOLOv2 608, one thread\n\n${new Date().toISOString().slice(0, 10)} · ${machine()}\n\n` +
      `Synthetic weights (seed 1), \`dog.jpg\`, onnxruntime-node with one intra-op thread. darknet's own C build takes ≈ 8 s for this forward on these machines.\n\n` +
      `| what | measured | target |\n|---|---|---|\n${table}\n`,
  );
  console.log(table);
}
