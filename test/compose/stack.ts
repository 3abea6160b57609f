/**
 * Shared by the container-stack tests: start compose.yaml (plus overrides) on the
 * container engine, find a service's containers, run commands inside them, and take
 * the stack down whatever happens.
 *
 * Compose v1 (`docker-compose`, what test/setup/container-engine.sh provides) and
 * v2 (`docker compose`) name containers differently (project_worker_1 vs
 * project-worker-1), so lookups try both.
 */
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import {
  DockerComposeEnvironment,
  Wait,
  type StartedDockerComposeEnvironment,
  type StartedTestContainer,
} from "testcontainers";

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "../..");

/** Building the image on a cold cache (two `npm ci`, tsc) on two busy cores, then starting the stack. */
export const STACK_START_TIMEOUT_MS = 12 * 60_000;

export interface Stack {
  readonly project: string;
  /** The n-th container (1-based) of a service. */
  container(service: string, n?: number): StartedTestContainer;
  /** Runs argv in a service's container; rejects with its output unless it exits 0. */
  run(service: string, argv: string[], n?: number): Promise<string>;
  down(): Promise<void>;
}

export interface StackOptions {
  /** Compose files relative to the repository root; compose.yaml first. */
  readonly files: readonly string[];
  /** Services to start (their dependencies start too). */
  readonly services: readonly string[];
  /** Compose variables (WORKERS, BANDWIDTH, ...). */
  readonly env: Record<string, string>;
  /** Containers to wait for until healthy, as [service, count]. */
  readonly healthy: ReadonlyArray<readonly [string, number]>;
  /** One-shot services to wait for until they exit 0. */
  readonly oneShot?: readonly string[];
  /** Prefix of the compose project name; a random suffix keeps parallel runs apart. */
  readonly prefix: string;
}

/** v1 ships as the `docker-compose` program, v2 as a docker CLI plugin; prefer v1 when both exist, as CI has it. */
function composeExecutable(): { standalone: true; executablePath: string } | undefined {
  try {
    execFileSync("docker-compose", ["version"], { stdio: "ignore" });
    return { standalone: true, executablePath: "docker-compose" };
  } catch {
    return undefined; // testcontainers' default: `docker compose`
  }
}

function containerNames(project: string, service: string, n: number): string[] {
  return [`${service}-${n}`, `${project}_${service}_${n}`, `${project}-${service}-${n}`];
}

export async function startStack(options: StackOptions): Promise<Stack> {
  const project = `${options.prefix}-${randomBytes(4).toString("hex")}`;
  const executable = composeExecutable();
  let environment = new DockerComposeEnvironment(ROOT, [...options.files])
    .withProjectName(project)
    .withEnvironment(options.env)
    .withBuild()
    .withStartupTimeout(STACK_START_TIMEOUT_MS);
  if (executable) environment = environment.withClientOptions({ executable });
  // Health comes from compose.yaml's own checks.
  for (const [service, count] of options.healthy) {
    for (let n = 1; n <= count; n++)
      for (const name of containerNames(project, service, n))
        environment = environment.withWaitStrategy(name, Wait.forHealthCheck());
  }
  for (const service of options.oneShot ?? []) {
    for (const name of containerNames(project, service, 1))
      environment = environment.withWaitStrategy(name, Wait.forOneShotStartup());
  }

  let started: StartedDockerComposeEnvironment;
  try {
    started = await environment.up([...options.services]);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (/container runtime strategy/i.test(message)) {
      throw new Error(
        `no container engine reachable (${message}). These tests need one: on a machine without Docker run ` +
          '`eval "$(test/setup/container-engine.sh up)"` first (npm test does).',
      );
    }
    throw new Error(`compose stack ${project} did not come up: ${message}`);
  }

  const container = (service: string, n = 1): StartedTestContainer => {
    for (const name of containerNames(project, service, n)) {
      try {
        return started.getContainer(name);
      } catch {
        // not this naming scheme
      }
    }
    throw new Error(
      `no running container ${n} of service ${service} in ${project} (tried ${containerNames(project, service, n).join(", ")})`,
    );
  };

  return {
    project,
    container,
    async run(service, argv, n = 1) {
      const result = await container(service, n).exec(argv);
      if (result.exitCode !== 0)
        throw new Error(`\`${argv.join(" ")}\` in ${service} ${n} exited ${result.exitCode}:\n${result.output}`);
      return result.stdout;
    },
    async down() {
      await started.down({ timeout: 5_000, removeVolumes: true });
    },
  };
}

/** The container's address on its (single) compose network. */
export function addressOf(container: StartedTestContainer): string {
  const [network] = container.getNetworkNames();
  if (network === undefined) throw new Error(`${container.getName()} is on no network`);
  return container.getIpAddress(network);
}
