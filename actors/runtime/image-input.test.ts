import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { loadNetwork } from "../../dnn/network.js";
import { makePlan } from "../../planner/build.js";
import { cfgPath, imagePath } from "../../test/fixtures.js";
import { readRequest } from "../source/input.js";
import { tilesFromImage } from "./image-input.js";
import { buildSchedule } from "./schedule.js";
import { cutForSend } from "./tensors.js";

describe("an FTP tile device's own decoding of the request's image", () => {
  const network = loadNetwork(cfgPath("yolov2-tiny"));
  // 10 Mbit links: the model sends the tile devices the image rather than their regions.
  const devices = ["source", "w1", "w2"].map((workerId, i) => ({
    workerId,
    uplinkBitsPerSec: 10e6,
    downlinkBitsPerSec: 10e6,
    ...(i === 0 ? { role: "source" as const } : {}),
  }));
  const plan = makePlan(network, {
    devices,
    ftpEnd: 6,
    grid: { rows: 2, cols: 2 },
    strategy: "lop", // no partial sums to merge: the schedule needs no bias shards
    objective: "comm",
    wire: "f16",
  });
  const ftp = buildSchedule(plan, network).stages[0]!;

  it.each(["dog.jpg", "horses.jpg", "person.jpg"])(
    "%s: every tile's input is the source's, to the bit",
    async (name) => {
      if (ftp.kind !== "distributed") throw new Error("the plan has no FTP stage");
      const bytes = readFileSync(imagePath(name));
      const atSource = (await readRequest(bytes, "infer/x", network)).tensor;
      const rects = ftp.tasks.map((task) => {
        expect(task.wire.image).toBe(true);
        if (task.send.kind !== "region") throw new Error(`task ${task.id} is not a tile`);
        return task.send.rect;
      });
      const tiles = tilesFromImage(bytes, name, network.input, rects);
      for (const [i, task] of ftp.tasks.entries()) {
        const own = tiles[i]!;
        const cut = cutForSend(atSource, network.input, task.send);
        expect(Buffer.compare(Buffer.from(own.buffer), Buffer.from(cut.buffer, cut.byteOffset, cut.byteLength))).toBe(
          0,
        );
      }
    },
  );
});
