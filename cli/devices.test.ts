import { describe, expect, it } from "vitest";
import { deviceRoster, devicesText, plural } from "./devices.js";

describe("device wording", () => {
  it.each([
    [1, "1 device (the source)"],
    [2, "2 devices (source + 1 worker)"],
    [3, "3 devices (source + 2 workers)"],
  ])("%i devices: %s", (n, text) => {
    expect(deviceRoster(n)).toBe(text);
  });

  it("counts in words, singular for one", () => {
    expect([0, 1, 2].map((n) => plural(n, "detection"))).toEqual(["0 detections", "1 detection", "2 detections"]);
    expect(plural(1, "class", "classes")).toBe("1 class");
    expect(plural(5, "class", "classes")).toBe("5 classes");
    expect(devicesText(1)).toBe("1 device");
  });
});
