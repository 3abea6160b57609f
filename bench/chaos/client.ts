/**
 * The chaos run's client: one MQTT connection that reads every answer of the deployment
 * (results/+ and errors/+, into the ledger by request id) and the source's retained
 * status, and publishes requests. It behaves as `edgefuse infer` does: it sends only
 * while it is connected and the source says it is online, since a request the broker
 * has no subscriber for is dropped without a word.
 */
import { type Bus, connectBus } from "../../broker/bus.js";
import { decodeJson, errorMessageSchema, STATUS, statusSchema } from "../../broker/messages.js";
import { topicsFor } from "../../broker/topics.js";
import { resultsSchema } from "../../actors/source/schemas.js";
import { errorMessage } from "../../core/errors.js";
import type { Ledger, Outcome } from "./ledger.js";

export interface ChaosClient {
  /** Connected, and the source's status (retained, as this connection last heard it) is online. */
  readonly canSend: boolean;
  /** Why it cannot send now, or null. */
  readonly whyNot: string | null;
  /** Publishes `image` on infer/<id>; the ledger has it as sent from now. */
  send(id: string, image: Buffer, afterFault: number): void;
  close(): Promise<void>;
}

export async function connectChaosClient(o: {
  brokerUrl: string;
  deployment: string;
  clientId: string;
  ledger: Ledger;
  /** ms since the run started: the clock every outcome is stamped with. */
  clock: () => number;
  log: (line: string) => void;
}): Promise<ChaosClient> {
  const topics = topicsFor(o.deployment);
  const bus: Bus = await connectBus(o.brokerUrl, { clientId: o.clientId });
  let online = false;
  // A lost connection forgets what the status was: the broker may come back without it.
  bus.client.on("close", () => (online = false));
  const outcomeOf = (kind: "results" | "errors", topic: string, payload: Buffer): Outcome => {
    const atMs = o.clock();
    try {
      if (kind === "results") return { kind: "result", atMs, planId: decodeJson(topic, payload, resultsSchema).planId };
      const e = decodeJson(topic, payload, errorMessageSchema);
      return { kind: "error", atMs, code: e.code, message: `${e.where}: ${e.message}` };
    } catch (err) {
      return { kind: "error", atMs, code: "unreadable", message: errorMessage(err) };
    }
  };
  await bus.subscribe([topics.filters.results(), topics.filters.errors()], {
    onMessage: (topic, payload) => {
      const at = topics.parse(topic);
      if (at?.kind === "results" || at?.kind === "errors")
        o.ledger.answered(at.requestId, outcomeOf(at.kind, topic, payload));
    },
    onError: (err, topic) => o.log(`client: a broken answer on ${topic}: ${errorMessage(err)}`),
  });
  await bus.subscribe(topics.status(), {
    onMessage: (_topic, payload) => {
      const status = statusSchema.safeParse(payload.toString("utf8"));
      online = status.success && status.data === STATUS.online;
    },
    onError: () => undefined, // a status that is not one says nothing: the last one heard stands
  });
  return {
    get canSend() {
      return bus.connected && online;
    },
    get whyNot() {
      if (!bus.connected) return "not connected to the broker";
      return online ? null : "the source is not online";
    },
    send(id, image, afterFault) {
      const record = o.ledger.sent(id, o.clock(), afterFault);
      bus.publish(topics.infer(id), image, { qos: 1 }).catch((err: unknown) => {
        record.publishError = errorMessage(err);
      });
    },
    close: () => bus.close({ force: true }),
  };
}
