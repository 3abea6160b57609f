/**
 * Home Assistant's documented MQTT discovery fields, as strict zod schemas (an unknown
 * key is refused), for checking what the source announces. From HA's docs:
 * integrations/sensor.mqtt and image.mqtt (configuration variables) and
 * integrations/mqtt ("Discovery payload": `origin`, whose `name` is required).
 * Single-component discovery: `platform` belongs to device-discovery payloads only.
 */
import { z } from "zod";

const availabilityEntry = z.strictObject({
  topic: z.string().min(1),
  payload_available: z.string().optional(),
  payload_not_available: z.string().optional(),
  value_template: z.string().optional(),
});

const imageDevice = {
  configuration_url: z.string().optional(),
  connections: z.array(z.tuple([z.string(), z.string()])).optional(),
  hw_version: z.string().optional(),
  identifiers: z.union([z.string(), z.array(z.string()).min(1)]).optional(),
  manufacturer: z.string().optional(),
  model: z.string().optional(),
  name: z.string().optional(),
  suggested_area: z.string().optional(),
  sw_version: z.string().optional(),
  via_device: z.string().optional(),
};
const identified = (d: { identifiers?: unknown; connections?: unknown }) =>
  d.identifiers !== undefined || d.connections !== undefined;
const deviceMessage = "at least one of identifiers or connections must be present";

const origin = z.strictObject({
  name: z.string().min(1),
  sw_version: z.string().optional(),
  support_url: z.string().optional(),
});

/** Options every MQTT entity documents. */
const entity = {
  availability: z.array(availabilityEntry).optional(),
  availability_mode: z.enum(["all", "any", "latest"]).optional(),
  availability_template: z.string().optional(),
  availability_topic: z.string().optional(),
  enabled_by_default: z.boolean().optional(),
  encoding: z.string().optional(),
  entity_category: z.string().optional(),
  icon: z.string().optional(),
  json_attributes_template: z.string().optional(),
  json_attributes_topic: z.string().optional(),
  name: z.string().nullable().optional(),
  object_id: z.string().optional(),
  unique_id: z.string().optional(),
  origin: origin.optional(),
};
const notBoth = (c: { availability?: unknown; availability_topic?: unknown }) =>
  c.availability === undefined || c.availability_topic === undefined;
const notBothMessage = "availability and availability_topic must not be used together";

export const haSensorConfigSchema = z
  .strictObject({
    ...entity,
    device: z
      .strictObject({ ...imageDevice, model_id: z.string().optional(), serial_number: z.string().optional() })
      .refine(identified, deviceMessage)
      .optional(),
    device_class: z.string().nullable().optional(),
    entity_picture: z.string().optional(),
    expire_after: z.number().int().optional(),
    force_update: z.boolean().optional(),
    last_reset_value_template: z.string().optional(),
    options: z.array(z.string()).min(1).optional(),
    payload_available: z.string().optional(),
    payload_not_available: z.string().optional(),
    suggested_display_precision: z.number().int().optional(),
    qos: z.union([z.literal(0), z.literal(1), z.literal(2)]).optional(),
    state_class: z.string().optional(),
    state_topic: z.string().min(1),
    unit_of_measurement: z.string().nullable().optional(),
    value_template: z.string().optional(),
  })
  .refine(notBoth, notBothMessage);

export const haImageConfigSchema = z
  .strictObject({
    ...entity,
    device: z.strictObject(imageDevice).refine(identified, deviceMessage).optional(),
    content_type: z.string().optional(),
    image_encoding: z.literal("b64").optional(),
    image_topic: z.string().min(1).optional(),
    url_template: z.string().optional(),
    url_topic: z.string().min(1).optional(),
  })
  .refine(notBoth, notBothMessage)
  .refine(
    (c) => (c.image_topic === undefined) !== (c.url_topic === undefined),
    "exactly one of image_topic and url_topic",
  )
  .refine(
    (c) => !(c.url_topic !== undefined && c.content_type !== undefined),
    "content_type cannot be used with url_topic",
  );
