/**
 * Which worker may publish each task's output: the embedded broker follows every
 * deployment's retained plan (it routes it anyway) and keeps, per deployment, who the
 * plan names for each task `(layer, part)`, so that the ACL (auth.ts) lets only that
 * worker publish on `job/<id>/layer/<l>/part/<p>/out`.
 *
 * The tasks are the plan's FTP tiles (layer 0, part = tile index) and the parts of each
 * step that opens a stage (LOP, LIP, FUSE1); carry and FUSE2 steps run inside the stage
 * before them and publish nothing of their own (actors/runtime/schedule.ts). Only the
 * fields read here are checked, so the broker needs nothing from planner/: a plan the
 * devices refuse routes nothing they would wait for anyway.
 *
 * The plan before the current one (the last that routed anything) is kept as well: a task started just before a re-plan
 * may still deliver its output, where refusing it would drop the worker (MQTT 3.1.1 has no
 * negative PUBACK) for the job the source is finishing. A cleared topic (the planner
 * stopped) or bytes that are not a plan route nothing.
 */
import { z } from "zod";
import { Reassembler } from "./chunking.js";
import { parseTopic } from "./topics.js";

/** A plan is tens of KB (YOLOv2's cfg included); far past that is not one a planner wrote. */
const MAX_PLAN_BYTES = 16 * 1024 * 1024;

const index = z.number().int().nonnegative();
const routedPlanSchema = z.object({
  id: z.string(),
  ftp: z.object({ tiles: z.array(z.object({ index, workerId: z.string() })) }).nullable(),
  steps: z.array(
    z.object({
      layer: index,
      scheme: z.string(),
      parts: z.array(z.object({ part: index, workerId: z.string() })).optional(),
    }),
  ),
});

/** Steps whose parts are tasks with an output topic of their own. */
const STAGE_OPENING_SCHEMES = new Set(["lop", "lip", "fuse1"]);

type Routes = ReadonlyMap<string, string>;
const taskKey = (layer: number, part: number) => `${layer}/${part}`;

/** The worker of each task the plan routes, by `<layer>/<part>`; null when `payload` is not a plan. */
export function routesOfPlan(payload: Buffer): Routes | null {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString("utf8"));
  } catch {
    return null;
  }
  const plan = routedPlanSchema.safeParse(json);
  if (!plan.success) return null;
  const routes = new Map<string, string>();
  for (const tile of plan.data.ftp?.tiles ?? []) routes.set(taskKey(0, tile.index), tile.workerId);
  for (const step of plan.data.steps)
    if (STAGE_OPENING_SCHEMES.has(step.scheme))
      for (const p of step.parts ?? []) routes.set(taskKey(step.layer, p.part), p.workerId);
  return routes;
}

export class OutputRoutes {
  /** Per deployment: the current plan's routes, then the previous plan's. */
  private readonly byDeployment = new Map<string, { current: Routes; previous: Routes }>();
  private readonly reassembler: Reassembler;

  constructor(private readonly log: (line: string) => void) {
    this.reassembler = new Reassembler((err) => log(`plan not followed: ${err.message}`), {
      maxMessageBytes: MAX_PLAN_BYTES,
    });
  }

  /** Every accepted publish goes through here; plan topics (and their chunks) change the routes. */
  observe(topic: string, payload: Buffer | string): void {
    // Most messages are tensors and their chunks: a look at the topic's end passes them by.
    if (!topic.endsWith("/plan") && !topic.includes("/plan/c/")) return;
    const parsed = parseTopic(topic);
    if (parsed?.kind !== "plan") return;
    const bytes = typeof payload === "string" ? Buffer.from(payload) : payload;
    if (parsed.chunkIndex === null) {
      this.follow(parsed.deployment, bytes);
      return;
    }
    // A chunked plan: its chunks are retained one by one and cleared with empty messages.
    if (bytes.byteLength === 0) return;
    const whole = this.reassembler.push(topic, bytes);
    if (whole) this.follow(parsed.deployment, whole.payload);
  }

  /** The workers the deployment's plan (or the one before it) routes task (layer, part) to. */
  ownersOf(deployment: string, layer: number, part: number): string[] {
    const plans = this.byDeployment.get(deployment);
    if (!plans) return [];
    const key = taskKey(layer, part);
    return [...new Set([plans.current.get(key), plans.previous.get(key)])].filter((w) => w !== undefined);
  }

  close(): void {
    this.reassembler.close();
  }

  private follow(deployment: string, payload: Buffer): void {
    const routes = payload.byteLength === 0 ? new Map<string, string>() : routesOfPlan(payload);
    if (!routes)
      this.log(`plan of deployment ${deployment} is not a plan: no task's output is accepted until one comes`);
    const held = this.byDeployment.get(deployment);
    // A chunked plan is replaced by clearing the topic first: the plan before is the last one that routed something.
    const previous = held?.current.size ? held.current : (held?.previous ?? new Map<string, string>());
    this.byDeployment.set(deployment, { current: routes ?? new Map(), previous });
  }
}
