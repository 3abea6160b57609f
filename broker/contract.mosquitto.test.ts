/** The broker contract against a real Mosquitto, with no packet limit. */
import { expect, it } from "vitest";
import { startMosquitto } from "../test/brokers.js";
import { brokerContract } from "./broker.contract.js";

brokerContract(() => startMosquitto());

it("the harness fails, saying how to install Mosquitto, when the binary is missing", async () => {
  await expect(startMosquitto({ binary: "/nonexistent/mosquitto" })).rejects.toThrow(
    /^Mosquitto not found at \/nonexistent\/mosquitto: install it with `apt-get update && apt-get install .* mosquitto mosquitto-clients`/,
  );
});
