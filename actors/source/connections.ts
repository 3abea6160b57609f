/**
 * The source's three connections, one per last will (MQTT gives a connection one): the
 * data connection's clears its presence, the status connection's says `offline`
 * (availability.ts), the load connection's clears its load (load.ts). `edgefuse source`
 * and `up` open them alike through their own `open` (broker URL, login, packet limit).
 */
import { sourceClientIds } from "../../broker/auth.js";
import type { Bus } from "../../broker/bus.js";
import type { Topics } from "../../broker/topics.js";
import { presenceWill } from "../runtime/device.js";
import { statusWill } from "./availability.js";
import { loadWill } from "./load.js";

/** What presenceWill, statusWill and loadWill make. */
interface Will {
  readonly topic: string;
  readonly payload: Buffer | string;
  readonly retain: boolean;
  readonly qos: 1;
}

export interface SourceBuses {
  readonly bus: Bus;
  readonly statusBus: Bus;
  readonly loadBus: Bus;
  close(): Promise<void>;
}

/**
 * Opens them in turn; one that fails closes those already open. `clientIdBase` names the
 * connections (sourceClientIds: the device id, or `up`'s deployment), `sourceId` the
 * presence its will clears.
 */
export async function connectSourceBuses(
  topics: Topics,
  ids: { readonly clientIdBase: string; readonly sourceId: string },
  open: (clientId: string, will: Will) => Promise<Bus>,
): Promise<SourceBuses> {
  const clientIds = sourceClientIds(ids.clientIdBase);
  const opened: Bus[] = [];
  const close = async () => void (await Promise.all(opened.map((b) => b.close())));
  try {
    for (const [clientId, will] of [
      [clientIds.data, presenceWill(topics, ids.sourceId)],
      [clientIds.status, statusWill(topics)],
      [clientIds.load, loadWill(topics)],
    ] as const)
      opened.push(await open(clientId, will));
  } catch (err) {
    await close();
    throw err;
  }
  const [bus, statusBus, loadBus] = opened as [Bus, Bus, Bus];
  return { bus, statusBus, loadBus, close };
}
