/**
 * The source's wire conventions on a real Mosquitto, with the source as a real process
 * (`bin/edgefuse source --ha-discovery`, dist/ rebuilt by vitest's globalSetup) and the
 * planner in this process, on yolov2-mini with seeded synthetic weights (one device):
 *
 * - `status` goes `online` once it takes requests, and `offline` (retained, its will)
 *   when the process is SIGKILLed;
 * - a result carries the image size, plan id, timestamp and clipped, normalized boxes;
 * - Home Assistant discovery configs (HA's documented fields only), `latest` and the
 *   annotated JPEG are published retained;
 * - requests on malformed infer topics get a log line saying what is wrong.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { connectBroker, type MqttClient } from "../../broker/client.js";
import { decodeJson } from "../../broker/messages.js";
import type { PlannerActor } from "../../planner/actor.js";
import { topicsFor } from "../../broker/topics.js";
import { decodeImage } from "../../dnn/image/decode.js";
import { startMosquitto, type TestBroker, Teardown } from "../../test/brokers.js";
import { haImageConfigSchema, haSensorConfigSchema } from "../../test/home-assistant.js";
import { imagePath } from "../../test/fixtures.js";
import { recorder, spawnSource, startMiniPlanner } from "../../test/source-process.js";
import { VERSION } from "../runtime/device.js";
import { latestResultSchema, resultsSchema } from "./schemas.js";

const DEPLOYMENT = "wire";
const topics = topicsFor(DEPLOYMENT);
const SENSOR_CONFIG = "homeassistant/sensor/edgefuse_wire_detections/config";
const IMAGE_CONFIG = "homeassistant/image/edgefuse_wire_annotated/config";

describe("the source's wire on Mosquitto", () => {
  const teardown = new Teardown();
  let broker: TestBroker;
  let planner: PlannerActor;
  let source: ReturnType<typeof spawnSource>;
  let watch: Awaited<ReturnType<typeof recorder>>;
  let client: MqttClient;

  beforeAll(async () => {
    broker = teardown.broker(await startMosquitto());
    watch = await recorder(broker.url, [`${topics.prefix}#`, "homeassistant/#"], teardown);
    planner = await startMiniPlanner(broker.url, DEPLOYMENT, teardown);
    source = spawnSource(
      broker.url,
      DEPLOYMENT,
      ["--thresh", "0.05", "--ha-discovery", "--max-packet", "1048576"],
      teardown,
    );
    client = teardown.client(await connectBroker(broker.url, { clientId: "client" }));
  }, 120_000);
  afterAll(() => teardown.run());

  it("says online once it takes requests", async () => {
    const status = await watch.next(topics.status(), 110_000).catch((err: Error) => {
      throw new Error(`${err.message}; the source said: ${source.stderr()}`);
    });
    expect(status.payload.toString()).toBe("online");
  }, 120_000);

  it("announces itself to Home Assistant in its documented fields", async () => {
    const sensor = haSensorConfigSchema.parse(JSON.parse((await watch.next(SENSOR_CONFIG)).payload.toString()));
    const image = haImageConfigSchema.parse(JSON.parse((await watch.next(IMAGE_CONFIG)).payload.toString()));
    for (const config of [sensor, image]) {
      expect(config.availability_topic).toBe(topics.status());
      expect(config.device).toMatchObject({
        identifiers: ["edgefuse_wire"],
        manufacturer: "edgefuse",
        sw_version: VERSION,
      });
      expect(config.origin?.name).toBe("edgefuse");
    }
    expect(sensor.unique_id).not.toBe(image.unique_id);
    expect([sensor.state_topic, image.image_topic]).toEqual([topics.latest(), topics.annotated()]);
  });

  it("answers with the image size, plan, time and normalized boxes, and publishes the latest result and the annotated image", async () => {
    const before = Date.now();
    await client.publishAsync(topics.infer("r1"), readFileSync(imagePath("dog.jpg")), { qos: 1 });
    const result = decodeJson(
      topics.results("r1"),
      (await watch.next(topics.results("r1"), 30_000)).payload,
      resultsSchema,
    );
    expect(result.image).toEqual({ width: 768, height: 576 });
    expect(result.planId).toBe(planner.current()?.id);
    expect(Date.parse(result.timestamp)).toBeGreaterThanOrEqual(before - 1);
    expect(Date.parse(result.timestamp)).toBeLessThanOrEqual(Date.now());
    expect(result.detections.length).toBeGreaterThan(0);
    for (const d of result.detections) {
      if (!("normalized" in d)) throw new Error("expected region detections");
      // The schema holds every value in [0, 1]; the pixel box is the same corners in pixels.
      expect(d.box.left).toBe(Math.min(767, Math.trunc(d.normalized.left * 768)));
      expect(d.box.bottom).toBe(Math.min(575, Math.trunc(d.normalized.bottom * 576)));
    }

    const latest = decodeJson(topics.latest(), (await watch.next(topics.latest())).payload, latestResultSchema);
    expect(latest).toMatchObject({
      requestId: "r1",
      planId: result.planId,
      timestamp: result.timestamp,
      count: result.detections.length,
      detections: result.detections,
    });
    expect(Object.values(latest.classes).reduce((a, b) => a + b, 0)).toBe(result.detections.length);
    const jpeg = (await watch.next(topics.annotated())).payload;
    expect(decodeImage(jpeg, "annotated")).toMatchObject({ w: 768, h: 576 });
  }, 60_000);

  it("logs what is wrong with a request on a malformed infer topic", async () => {
    const cases = [
      [`${topics.prefix}infer`, "no request id: expected infer/<requestId>"],
      [`${topics.prefix}infer/a/b`, '1 level(s) after the request id "a": expected infer/<requestId>'],
      [`${topics.prefix}infer/not an id!`, 'request id "not an id!" is not 1-64 of [A-Za-z0-9._:-]'],
    ];
    for (const [topic] of cases) await client.publishAsync(topic!, Buffer.from("x"), { qos: 1 });
    const deadline = Date.now() + 10_000;
    const logged = () =>
      cases.every(([topic, problem]) => source.stderr().includes(`ignored a request on ${topic}: ${problem}`));
    while (!logged() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(
      cases.filter(([topic, problem]) => !source.stderr().includes(`ignored a request on ${topic}: ${problem}`)),
    ).toEqual([]);
  });

  it("goes offline, retained, when the process is killed", async () => {
    source.child.kill("SIGKILL");
    expect((await watch.next(topics.status())).payload.toString()).toBe("offline");
    // A subscriber that comes later still reads it, and the entities' configs.
    const late = await recorder(
      broker.url,
      [topics.status(), SENSOR_CONFIG, IMAGE_CONFIG, topics.annotated()],
      teardown,
    );
    const status = await late.next(topics.status());
    expect([status.payload.toString(), status.retain]).toEqual(["offline", true]);
    for (const topic of [SENSOR_CONFIG, IMAGE_CONFIG, topics.annotated()])
      expect((await late.next(topic)).retain).toBe(true);
  });
});
