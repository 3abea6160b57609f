/** The broker contract against the embedded aedes broker. */
import { startEmbedded } from "../test/brokers.js";
import { brokerContract } from "./broker.contract.js";

brokerContract(() => startEmbedded());
