/**
 * The wire layer's public API: import from here (`../broker/index.js`).
 * See broker/README.md for the topic scheme, the binary layouts and the auth file.
 */
export * from "./topics.js";
export * from "./frame.js";
export * from "./codecs.js";
export * from "./chunking.js";
export * from "./messages.js";
export * from "./client.js";
export * from "./errors.js";
export { startBroker, brokerDefaults, type BrokerOptions, type RunningBroker } from "./server.js";
export {
  hashPassword,
  verifyPassword,
  loadAuthFile,
  parseAuthFile,
  publishDenial,
  mayRead,
  ROLES,
  type Role,
  type AuthFile,
  type AuthUser,
} from "./auth.js";
export {
  UNIDENTIFIED_CLIENT,
  topicClass,
  type ClientTraffic,
  type MessageCounters,
  type TopicClass,
} from "./traffic.js";
