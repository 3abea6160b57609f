/**
 * A deployment on Mosquitto as a team would run it for edgefuse (TLS with its own CA, a
 * password_file, the ACL file `edgefuse acl` writes): the planner, the source and two
 * workers, each an `edgefuse` process that logs in as its role's user with --username,
 * EDGEFUSE_MQTT_PASSWORD and --ca, as on separate devices, serve images sent by a client
 * user. Everything a request needs (presence, plan, shard requests and shards, job
 * tensors, results) passes the ACL; what the ACL refuses is broker/contract.mosquitto-secured.test.ts'.
 */
import { readFileSync } from "node:fs";
import { afterAll, beforeAll, expect, it } from "vitest";
import { connectBus, type Bus } from "../broker/bus.js";
import { decodeJson, STATUS } from "../broker/messages.js";
import { topicsFor } from "../broker/topics.js";
import { CACHE_DIR, sampleImage } from "../core/paths.js";
import { loadNetwork } from "../dnn/network.js";
import { cachedSyntheticWeights } from "../dnn/synthetic.js";
import { type ChaosDeployment, startChaosDeployment } from "../bench/chaos/deployment.js";
import { inbox, loginOptions, startSecuredMosquitto } from "../test/brokers.js";
import { cfgPath } from "../test/fixtures.js";
import { resultsSchema } from "./source/schemas.js";

const DEPLOYMENT = "secured";
const topics = topicsFor(DEPLOYMENT);
const lines: string[] = [];
let broker: Awaited<ReturnType<typeof startSecuredMosquitto>>;
let deployment: ChaosDeployment;
let client: Bus;
const answers = inbox<{ topic: string; payload: Buffer }>();
const status = inbox<string>();

beforeAll(async () => {
  broker = await startSecuredMosquitto();
  const cfg = cfgPath("yolov2-mini");
  deployment = startChaosDeployment({
    brokerUrl: broker.url,
    deployment: DEPLOYMENT,
    cfg,
    weights: cachedSyntheticWeights(loadNetwork(cfg), 1, CACHE_DIR).path,
    devices: 3,
    jobTimeoutMs: 30_000,
    log: (line) => lines.push(line),
    login: (role, deviceId) => broker.login(role, deviceId),
  });
  client = await connectBus(broker.url, { clientId: "secured-client", ...loginOptions(broker.login("client")) });
  await client.subscribe([topics.filters.results(), topics.filters.errors()], {
    onMessage: (topic, payload) => answers.push({ topic, payload }),
    onError: (err) => lines.push(`client: ${err.message}`),
  });
  await client.subscribe(topics.status(), {
    onMessage: (_topic, payload) => status.push(payload.toString()),
    onError: () => undefined,
  });
}, 120_000);

afterAll(async () => {
  await client?.close();
  await deployment?.stop();
  await broker?.close();
});

// The planner waits for all 3 devices and gives each a part of every layer (CHAOS_PLANNING): a result
// means the workers' presence, shard requests, shards and tensors all passed the ACL.
it("serves images through TLS, users and the ACL, every actor logged in as its role", async () => {
  const context = () => lines.slice(-40).join("\n");
  // The source says online (retained) once it has joined; the first request waits for a ready plan.
  const failWithLog = (err: Error) => {
    throw new Error(`${err.message}\nlast process lines:\n${context()}`);
  };
  for (let now = ""; now !== STATUS.online; ) now = await status.next(90_000, "the source online").catch(failWithLog);
  const image = readFileSync(sampleImage("dog.jpg"));
  for (const id of ["secured-1", "secured-2"]) {
    await client.publish(topics.infer(id), image);
    const answer = await answers.next(90_000, `an answer to ${id}`).catch(failWithLog);
    expect(answer.topic, answer.payload.toString()).toBe(topics.results(id));
    const result = decodeJson(answer.topic, answer.payload, resultsSchema);
    expect(result.requestId).toBe(id);
    expect(result.image).toEqual({ width: 768, height: 576 });
  }
}, 240_000);
