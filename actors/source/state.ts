/**
 * The source's state: one object that every handler (handlers/) is given, instead of
 * variables shared by closures. It holds what the source was started with, the
 * connections it talks through, the devices it has heard of, the plan it is prepared
 * for, the jobs running now (admission.ts says how many at once) and who waits for a
 * ready plan, plus the few operations on them that more than one handler needs.
 */
import type { Bus } from "../../broker/bus.js";
import type { ErrorOrigin, Presence } from "../../broker/messages.js";
import { type Topics, topicsFor } from "../../broker/topics.js";
import { EdgefuseError, errorMessage } from "../../core/errors.js";
import { announce, type DeviceMemory, deviceMemory, type Followed, presenceOf } from "../runtime/device.js";
import type { ShardFetcher, TaskExecutor } from "../runtime/executor.js";
import { brokerShardFetcher } from "../runtime/fetch-shard.js";
import { releaseSource, type SourcePrepared } from "../runtime/job.js";
import { reportError, serialQueue } from "../runtime/report.js";
import { type Availability, availability } from "./availability.js";
import { DecodeThread } from "./decode-thread.js";
import { type Admission, admission, inFlightFor } from "./admission.js";
import { MqttDispatcher } from "./dispatch.js";
import { type LastResultPublisher, lastResultPublisher } from "./last-result.js";
import { type LoadPublisher, loadPublisher } from "./load.js";
import type { SourceOptions } from "./options.js";

/** The plan the source is prepared for: its network and schedule, its tasks' executor, its own stages. */
export interface Current {
  readonly followed: Followed;
  readonly executor: TaskExecutor;
  readonly prepared: SourcePrepared;
}

/** A job running (admission.ts lets several run at once). */
export interface RunningJob {
  readonly jobId: string;
  /** Resolves when the job has ended, however it ended: a new plan waits for it. */
  done: Promise<void>;
  /** A worker reported the failure already: the source does not report it again. */
  reportedByWorker: boolean;
}

/** What every handler is: the state, then the message. */
export type SourceHandler = (state: SourceState, topic: string, payload: Buffer) => void | Promise<void>;

export class SourceState {
  readonly topics: Topics;
  /** Every log line and error report starts with this. */
  readonly where: string;
  /** How this source signs its error reports (ErrorOrigin): how it knows them when they come back. */
  readonly origin: ErrorOrigin;
  readonly startedAt = new Date().toISOString();
  /** The other devices' presence, by device id. */
  readonly roster = new Map<string, Presence>();
  readonly dispatcher: MqttDispatcher;
  /** Request images, decoded off the main thread: the embedded broker may share it. */
  readonly decoder = new DecodeThread();
  readonly fetchShard: ShardFetcher;
  readonly status: Availability | undefined;
  /** Publishes admission's numbers on `load` as they change (when the source has a load connection). */
  readonly load: LoadPublisher | undefined;
  readonly publishLast: LastResultPublisher;
  /** Plans are followed one at a time, in arrival order. */
  readonly planQueue: (work: () => Promise<void>) => Promise<void>;
  /** Requests run several at once, the rest wait in arrival order (a bounded queue). */
  readonly admission: Admission;
  current: Current | undefined;
  /** The jobs running, by job id (the request's id). */
  readonly running = new Map<string, RunningJob>();
  /** A new plan is being followed: requests wait for it (notReady) until it is prepared. */
  switching = false;
  private readyWaiters: (() => void)[] = [];
  /** Stops following reconnections (see reconnected): a stopping source withdraws its presence. */
  readonly stopFollowingReconnects: () => void;

  /** Checks the options and measures the device's memory before anything is published. */
  static async create(options: SourceOptions): Promise<SourceState> {
    const where = `source ${options.sourceId}`;
    if (options.homeAssistantPrefix !== undefined && !options.statusBus) {
      throw new EdgefuseError(
        "usage",
        `${where}: Home Assistant discovery needs the status connection (its entities' availability)`,
      );
    }
    return new SourceState(
      options,
      await deviceMemory(where, options.runtime, options.memoryBudgetBytes, options.baselineBytes),
    );
  }

  private constructor(
    readonly options: SourceOptions,
    readonly memory: DeviceMemory,
  ) {
    const { bus, sourceId } = options;
    this.topics = topicsFor(options.deployment);
    this.where = `source ${sourceId}`;
    this.origin = { role: "source", deviceId: sourceId };
    const log = (line: string) => this.log(line);
    this.status = options.statusBus && availability(options.statusBus, this.topics, log, bus);
    this.load = options.loadBus && loadPublisher(options.loadBus, this.topics, () => this.admission.load(), log);
    const ha = options.homeAssistantPrefix !== undefined;
    this.publishLast = lastResultPublisher(bus, this.topics, {
      latest: ha,
      annotated: ha || options.publishAnnotated === true,
      log,
    });
    this.fetchShard = brokerShardFetcher(bus, this.topics, {
      deviceId: sourceId,
      timeoutMs: options.shardTimeoutMs,
      maxMessageBytes: memory.budgetBytes,
    });
    this.dispatcher = new MqttDispatcher(bus, this.topics, sourceId, () => this.current!.executor);
    this.planQueue = serialQueue((err) => this.log(`ignored a plan: ${errorMessage(err)}`));
    const { inFlight, queue, overflow } = options;
    this.admission = admission(
      {
        queue,
        overflow,
        inFlight: inFlight === "auto" ? () => (this.current ? inFlightFor(this.current.followed.plan) : 1) : inFlight,
        onChange: () => this.load?.changed(),
      },
      (err) => this.log(errorMessage(err)),
    );
    this.stopFollowingReconnects = bus.onReconnect(() => this.reconnected());
  }

  get bus(): Bus {
    return this.options.bus;
  }

  get sourceId(): string {
    return this.options.sourceId;
  }

  log(line: string): void {
    this.options.log(`${this.where}: ${line}`);
  }

  /** Whether `plan`'s devices include `deviceId`. */
  static includes(followed: Followed, deviceId: string): boolean {
    return followed.plan.devices.some((d) => d.workerId === deviceId);
  }

  /** Publishes this device's presence, ready for `readyPlanId` when given. */
  announce(readyPlanId?: string): Promise<void> {
    const identity = {
      deviceId: this.options.sourceId,
      role: "source",
      options: this.options,
      memory: this.memory,
      startedAt: this.startedAt,
    } as const;
    return announce(this.bus, this.topics, presenceOf(identity, readyPlanId ? { planId: readyPlanId } : undefined));
  }

  /**
   * After a reconnection the broker's retained presences are the truth again: the roster
   * is rebuilt from those it hands over on resubscribing (mqtt.js resubscribes before this
   * runs, they arrive after), so a device that vanished while the link was down no longer
   * counts as ready; and this device says again who it is and what it is ready for (a
   * broker restarted without persistence has forgotten it, one that saw the link drop has
   * published its will).
   */
  private reconnected(): void {
    this.roster.clear();
    void this.planQueue(() => this.announce(this.current?.followed.plan.id));
  }

  /** Reports a request's failure on errors/<requestId>, signed as this source. */
  reportFailure(requestId: string, err: unknown): Promise<void> {
    return reportError(this.bus, this.topics, requestId, err, `${this.where}: request ${requestId}`, this.origin);
  }

  /** Whether a report's sender is this source itself (it hears its own reports on errors/+). */
  isOwnReport(from: ErrorOrigin | undefined): boolean {
    return from?.role === this.origin.role && from.deviceId === this.origin.deviceId;
  }

  /** Lets go of the current plan's weights and sessions; no plan is current afterwards. */
  async releaseCurrent(): Promise<void> {
    const old = this.current;
    this.current = undefined;
    if (!old) return;
    await releaseSource(old.prepared);
    await old.executor.release();
  }

  /** Why the current plan cannot run yet, or null when every device is ready. */
  notReady(): string | null {
    if (this.switching) return "switching to a new plan";
    if (!this.current) return "no plan yet (is the planner running, and are enough devices up?)";
    const { plan } = this.current.followed;
    const missing = plan.devices
      .filter((d) => d.workerId !== this.sourceId && this.roster.get(d.workerId)?.readyPlanId !== plan.id)
      .map((d) => d.workerId);
    return missing.length ? `plan ${plan.id}: waiting for ${missing.join(", ")} to be ready` : null;
  }

  /** Publishes `online` on the status topic (when the source has a status connection). */
  async sayOnline(): Promise<void> {
    await this.status?.online().catch((err: unknown) => this.log(`could not publish online: ${errorMessage(err)}`));
  }

  /** Once every device is ready: wakes who waits for them. */
  checkReady(): void {
    this.load?.changed(); // an "auto" in-flight limit follows the plan
    if (this.notReady() !== null) return;
    const waiters = this.readyWaiters;
    this.readyWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves with the plan's id when a plan is prepared and all its devices are ready. */
  ready(timeoutMs = this.options.planWaitMs): Promise<string> {
    return new Promise<string>((resolve, reject) => {
      if (this.notReady() === null) return resolve(this.current!.followed.plan.id);
      const timer = setTimeout(() => {
        this.readyWaiters = this.readyWaiters.filter((w) => w !== done);
        reject(new EdgefuseError("not-ready", `no plan ready within ${timeoutMs} ms: ${this.notReady()}`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolve(this.current!.followed.plan.id);
      };
      this.readyWaiters.push(done);
    });
  }
}
