/**
 * What the page is told at /config.json: where the broker's WebSocket listener is, the
 * viewer login, and the topics it reads. The topics come from topics.ts' table and the
 * viewer's rights from auth.ts, so the page holds no copy of either.
 */
import { VIEWER_READS } from "../broker/auth.js";
import { chunkFilter, TOPIC_TABLE, type TopicKind, topicsFor } from "../broker/topics.js";

export interface ViewConfig {
  readonly deployment: string;
  /** `ws://host:port` (or wss://): the broker's MQTT-over-WebSocket listener. */
  readonly broker: string;
  readonly username?: string;
  readonly password?: string;
  /** `edgefuse/v1/<deployment>/` */
  readonly prefix: string;
  /** The filters to subscribe to: each kind a viewer reads, and its chunks. */
  readonly subscriptions: readonly string[];
  /** Each kind's levels under the prefix (topics.ts), for telling one topic from another. */
  readonly kinds: Readonly<Partial<Record<TopicKind, string>>>;
  /** How many requests the page lists. */
  readonly maxRequests: number;
}

export const viewDefaults = { maxRequests: 20 };

export function viewConfig(o: {
  deployment: string;
  broker: string;
  login?: { username: string; password?: string | undefined } | undefined;
  maxRequests?: number;
}): ViewConfig {
  const topics = topicsFor(o.deployment);
  const kinds = [...VIEWER_READS];
  const subscriptions = kinds.flatMap((kind) => {
    const filter = topics.filters[kind]();
    const chunks = chunkFilter(filter);
    return chunks ? [filter, chunks] : [filter];
  });
  return {
    deployment: o.deployment,
    broker: o.broker,
    ...(o.login && { username: o.login.username }),
    ...(o.login?.password !== undefined && { password: o.login.password }),
    prefix: topics.prefix,
    subscriptions,
    kinds: Object.fromEntries(kinds.map((kind) => [kind, TOPIC_TABLE[kind].levels])),
    maxRequests: o.maxRequests ?? viewDefaults.maxRequests,
  };
}
