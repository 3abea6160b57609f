/** The Home Assistant flags `source` and `up` share (actors/source/home-assistant.ts, last-result.ts). */
import { z } from "zod";
import { HA_DEFAULT_PREFIX, isHaPrefix } from "../broker/home-assistant-topics.js";
import { defineFlags } from "./flags.js";

export const homeAssistantFlags = defineFlags({
  "ha-discovery": {
    description: "announce a detections sensor and the annotated image to Home Assistant (MQTT discovery, retained)",
  },
  "ha-prefix": {
    value: "PREFIX",
    description: "Home Assistant's discovery prefix",
    schema: z.string().refine(isHaPrefix, "expected topic levels without + or # (and no leading $)"),
    default: HA_DEFAULT_PREFIX,
  },
  "publish-annotated": {
    description:
      "publish each result's annotated JPEG, retained, on edgefuse/v1/<deployment>/annotated (on with --ha-discovery)",
  },
});
