/**
 * Home Assistant's MQTT discovery topics, which live outside `edgefuse/v1`: HA reads
 * `<prefix>/<component>/<object_id>/config` (actors/source/home-assistant.ts publishes them).
 */
import { WireError } from "../core/errors.js";

/** Home Assistant's default discovery prefix. */
export const HA_DEFAULT_PREFIX = "homeassistant";
/** The HA components the source announces (actors/source/home-assistant.ts). */
export const HA_COMPONENTS = ["sensor", "image"] as const;
export type HaComponent = (typeof HA_COMPONENTS)[number];
/** HA's object ids are [a-zA-Z0-9_-]; edgefuse's start with `edgefuse_`. */
const HA_OBJECT_ID = /^edgefuse_[A-Za-z0-9_-]{1,100}$/;
/** An HA discovery prefix: one or more non-empty topic levels, no wildcards, no leading `$`. */
const HA_PREFIX = /^[^/#+$][^/#+]*(?:\/[^/#+]+)*$/;

export const isHaPrefix = (prefix: string): boolean => HA_PREFIX.test(prefix);

export function haDiscoveryTopic(prefix: string, component: HaComponent, objectId: string): string {
  if (!isHaPrefix(prefix))
    throw new WireError(
      "Home Assistant prefix",
      `invalid prefix ${JSON.stringify(prefix)}: expected topic levels without + # or a leading $`,
    );
  if (!HA_OBJECT_ID.test(objectId))
    throw new WireError("Home Assistant object id", `invalid object id ${JSON.stringify(objectId)}`);
  return `${prefix}/${component}/${objectId}/config`;
}

/** Is `topic` an edgefuse HA discovery config (under any prefix)? The broker's ACL lets the source publish these. */
export function isHaDiscoveryTopic(topic: string): boolean {
  const levels = topic.split("/");
  const [component, objectId, config] = levels.slice(-3);
  return (
    levels.length >= 4 &&
    config === "config" &&
    HA_COMPONENTS.includes(component as HaComponent) &&
    HA_OBJECT_ID.test(objectId!) &&
    isHaPrefix(levels.slice(0, -3).join("/"))
  );
}
