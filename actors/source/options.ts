/** What a source is started with (startSource, source.ts), and the defaults the CLI shows. */
import type { Bus } from "../../broker/bus.js";
import { REGION_DEFAULTS } from "../../dnn/detect/region.js";
import type { Runtime } from "../../dnn/onnx/runtime.js";
import { DEVICE_DEFAULTS } from "../defaults.js";
import type { OverflowPolicy } from "./admission.js";
import type { DeviceLinks } from "../runtime/device.js";

/** Its link rates (DeviceLinks) go into its presence as given. */
export interface SourceOptions extends DeviceLinks {
  /** Its main connection, connected with presenceWill (runtime/device.ts): its last will clears the presence. */
  readonly bus: Bus;
  readonly deployment: string;
  /** Its id among the plan's devices. */
  readonly sourceId: string;
  /** The device's whole memory for edgefuse (`--memory`): this process, its weights and activations. */
  readonly memoryBudgetBytes: number;
  /** What the process holds before any shard; measured when not given (deviceMemory). */
  readonly baselineBytes?: number;
  readonly gmacPerSec: number;
  readonly runtime: Runtime;
  /** Detection threshold (darknet's default, REGION_DEFAULTS). */
  readonly thresh: number;
  /** The network's class names for its results (`--names`); without them COCO's or VOC's by count, else "class N". */
  readonly classNames?: readonly string[];
  /** A job that has not finished after this long fails. */
  readonly jobTimeoutMs: number;
  /**
   * The largest request on `infer/<id>`, in bytes: a chunked one is refused at its first
   * chunk, before anything is buffered; one sent whole, before it is queued or decoded.
   * Its image is then bounded by dnn/image/limits.ts before it is decoded.
   */
  readonly maxRequestBytes: number;
  /** Requests run at once; "auto": as many as the plan's memory budgets allow (admission.ts inFlightFor). */
  readonly inFlight: number | "auto";
  /** Requests that may wait beyond those; then `overflow` says who gives way. */
  readonly queue: number;
  readonly overflow: OverflowPolicy;
  /** How long a request waits for a plan whose devices are all ready. */
  readonly planWaitMs: number;
  readonly shardTimeoutMs: number;
  readonly log: (line: string) => void;
  /** Sees every finished job's final tensor (tests compare it with a single-device run; tools can record it). */
  readonly onOutput?: (requestId: string, output: Float32Array, planId: string) => void;
  /**
   * The connection that carries the deployment's availability on `status`, connected with
   * statusWill(topics) (availability.ts). Without one, no status is published.
   */
  readonly statusBus?: Bus;
  /**
   * The connection that carries the source's load on `load`, connected with
   * loadWill(topics) (load.ts). Without one, no load is published.
   */
  readonly loadBus?: Bus;
  /** Home Assistant discovery under this prefix (home-assistant.ts); needs `statusBus`, the entities' availability. */
  readonly homeAssistantPrefix?: string;
  /** Publish each result's annotated image on `annotated` (always with Home Assistant discovery). */
  readonly publishAnnotated?: boolean;
}

export const sourceDefaults = {
  thresh: REGION_DEFAULTS.thresh,
  jobTimeoutMs: 30_000,
  // A 40 MP camera JPEG is 10–20 MB, YOLOv2's 608×608 input as a tensor frame 4.4 MB.
  maxRequestBytes: 32 * 1024 * 1024,
  planWaitMs: 60_000,
  inFlight: "auto",
  queue: 16,
  overflow: "reject",
  ...DEVICE_DEFAULTS,
} satisfies Partial<SourceOptions>;

/** What a caller must give; the rest has defaults (sourceDefaults) or is optional. */
export type RequiredSourceOptions = Pick<
  SourceOptions,
  "bus" | "deployment" | "sourceId" | "memoryBudgetBytes" | "gmacPerSec" | "runtime"
>;
