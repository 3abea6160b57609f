/**
 * Home Assistant MQTT discovery (opt-in: `--ha-discovery`): retained config messages
 * on `<prefix>/<component>/<object_id>/config` (single-component discovery, object id =
 * unique id, as HA's docs advise) that make the deployment one HA device with
 *
 * - a sensor: the number of detections of the last result (`latest`), with the count
 *   per class, the detections, the request, plan, time and image size as attributes;
 * - an image: the last annotated image (`annotated`, raw JPEG bytes).
 *
 * Both are unavailable while `status` says `offline`. A graceful stop removes nothing:
 * HA's docs remove an entity with an empty config, which would drop its history and
 * settings; the status topic already shows it unavailable. The configs are retained
 * and sent again when HA announces itself on `<prefix>/status` (its birth message), as
 * HA's docs recommend, after a short random delay so many devices do not answer at once.
 */
import type { Bus } from "../../broker/bus.js";
import type { ChunkedSubscription } from "../../broker/client.js";
import { HA_DEFAULT_PREFIX, haDiscoveryTopic } from "../../broker/home-assistant-topics.js";
import type { Topics } from "../../broker/topics.js";
import { errorMessage } from "../../core/errors.js";

export { HA_DEFAULT_PREFIX };
/** HA's content_type for the annotated image (the source publishes JPEG, see last-result.ts). */
export const ANNOTATED_CONTENT_TYPE = "image/jpeg";
/** The payload HA publishes on `<prefix>/status` when it (re)starts. */
const HA_BIRTH = "online";
const BIRTH_DELAY_MAX_MS = 1_000;

export interface DiscoveryOptions {
  readonly prefix: string;
  readonly deployment: string;
  readonly topics: Topics;
  /** edgefuse's version (package.json). */
  readonly version: string;
}

export interface DiscoveryMessage {
  readonly topic: string;
  readonly config: Record<string, unknown>;
}

/** HA object ids and unique ids are [a-zA-Z0-9_-]; a deployment id may also hold `.` and `:`. */
const haId = (deployment: string) => `edgefuse_${deployment.replace(/[^A-Za-z0-9_-]/g, "_")}`;

/** The discovery messages for one deployment: its sensor and its image entity. */
export function discoveryMessages(o: DiscoveryOptions): DiscoveryMessage[] {
  const deviceId = haId(o.deployment);
  const common = {
    availability_topic: o.topics.status(),
    device: {
      identifiers: [deviceId],
      name: `edgefuse ${o.deployment}`,
      manufacturer: "edgefuse",
      model: "distributed darknet inference",
      sw_version: o.version,
    },
    origin: { name: "edgefuse", sw_version: o.version },
  };
  const sensorId = `${deviceId}_detections`;
  const imageId = `${deviceId}_annotated`;
  return [
    {
      topic: haDiscoveryTopic(o.prefix, "sensor", sensorId),
      config: {
        ...common,
        name: "Detections",
        unique_id: sensorId,
        icon: "mdi:image-search",
        state_topic: o.topics.latest(),
        value_template: "{{ value_json.count }}",
        state_class: "measurement",
        // The whole summary becomes attributes: classes (count per class), detections, requestId, planId, timestamp, image.
        json_attributes_topic: o.topics.latest(),
        qos: 1,
      },
    },
    {
      topic: haDiscoveryTopic(o.prefix, "image", imageId),
      config: {
        ...common,
        name: "Annotated image",
        unique_id: imageId,
        image_topic: o.topics.annotated(),
        content_type: ANNOTATED_CONTENT_TYPE,
      },
    },
  ];
}

export interface Discovery {
  stop(): Promise<void>;
}

/** Publishes the discovery messages (retained) now and whenever HA comes online again. */
export async function startDiscovery(bus: Bus, o: DiscoveryOptions, log: (line: string) => void): Promise<Discovery> {
  const messages = discoveryMessages(o);
  const publishAll = () =>
    Promise.all(messages.map((m) => bus.publish(m.topic, JSON.stringify(m.config), { qos: 1, retain: true })));
  await publishAll();
  log(`home assistant: discovery on ${messages.map((m) => m.topic).join(", ")}`);
  let timer: NodeJS.Timeout | undefined;
  const birth: ChunkedSubscription = await bus.subscribe(`${o.prefix}/status`, {
    onMessage: (_topic, payload, info) => {
      // A retained `online` is HA's old birth, already answered by the retained configs.
      if (info.retain || payload.toString() !== HA_BIRTH) return;
      clearTimeout(timer);
      timer = setTimeout(
        () =>
          publishAll().catch((err: unknown) =>
            log(`home assistant: could not publish discovery: ${errorMessage(err)}`),
          ),
        Math.random() * BIRTH_DELAY_MAX_MS,
      );
    },
    onError: (err, topic) => log(`home assistant: ignored ${topic}: ${errorMessage(err)}`),
  });
  return {
    async stop() {
      clearTimeout(timer);
      await birth.unsubscribe().catch(() => undefined);
    },
  };
}
