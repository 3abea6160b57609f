import { describe, expect, it } from "vitest";
import { publishDenial } from "../../broker/auth.js";
import { isHaDiscoveryTopic } from "../../broker/home-assistant-topics.js";
import { topicsFor } from "../../broker/topics.js";
import { haImageConfigSchema, haSensorConfigSchema } from "../../test/home-assistant.js";
import { VERSION } from "../runtime/device.js";
import { discoveryMessages } from "./home-assistant.js";

describe("Home Assistant discovery messages", () => {
  it("announce a sensor and an image, in HA's documented fields, tied to the status topic and one device", () => {
    const topics = topicsFor("lab.1:x");
    const [sensor, image] = discoveryMessages({ prefix: "ha/test", deployment: "lab.1:x", topics, version: VERSION });
    // `.` and `:` are not HA id characters: they become `_`.
    expect(sensor!.topic).toBe("ha/test/sensor/edgefuse_lab_1_x_detections/config");
    expect(image!.topic).toBe("ha/test/image/edgefuse_lab_1_x_annotated/config");
    const s = haSensorConfigSchema.parse(sensor!.config);
    const i = haImageConfigSchema.parse(image!.config);
    expect(s).toMatchObject({
      state_topic: topics.latest(),
      json_attributes_topic: topics.latest(),
      availability_topic: topics.status(),
      unique_id: "edgefuse_lab_1_x_detections",
    });
    expect(i).toMatchObject({
      image_topic: topics.annotated(),
      content_type: "image/jpeg",
      availability_topic: topics.status(),
      unique_id: "edgefuse_lab_1_x_annotated",
    });
    for (const c of [s, i]) {
      expect(c.device).toMatchObject({
        identifiers: ["edgefuse_lab_1_x"],
        manufacturer: "edgefuse",
        sw_version: VERSION,
      });
      expect(c.origin).toEqual({ name: "edgefuse", sw_version: VERSION });
    }
    // The embedded broker's ACL lets the source publish exactly these outside edgefuse/v1.
    expect([sensor!.topic, image!.topic].every(isHaDiscoveryTopic)).toBe(true);
    const as = (role: "source" | "client") => ({ username: role, password: "x", role });
    expect([publishDenial(as("source"), sensor!.topic), publishDenial(as("source"), image!.topic)]).toEqual([
      null,
      null,
    ]);
    expect(publishDenial(as("client"), sensor!.topic)).toBe(
      "client client may not publish outside the edgefuse topics",
    );
    expect(isHaDiscoveryTopic("ha/test/switch/edgefuse_lab/config")).toBe(false);
    expect(isHaDiscoveryTopic("homeassistant/sensor/other_device/config")).toBe(false);
  });

  it("the schemas refuse what HA does not document", () => {
    const [sensor] = discoveryMessages({
      prefix: "homeassistant",
      deployment: "lab",
      topics: topicsFor("lab"),
      version: VERSION,
    });
    expect(haSensorConfigSchema.safeParse({ ...sensor!.config, platform: "sensor" }).success).toBe(false);
    expect(haSensorConfigSchema.safeParse({ ...sensor!.config, device: { name: "no identifiers" } }).success).toBe(
      false,
    );
  });

  it.each(["", "a/", "/a", "a//b", "a/+", "ha/#", "$SYS"])("refuses the prefix %j", (prefix) => {
    expect(() => discoveryMessages({ prefix, deployment: "lab", topics: topicsFor("lab"), version: VERSION })).toThrow(
      /invalid prefix/,
    );
  });
});
