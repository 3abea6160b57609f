/**
 * Every error edgefuse raises on purpose. Each carries the data that explains it,
 * so a message can say what is wrong and where without the caller rebuilding it.
 */
export class EdgefuseError extends Error {
  constructor(
    /** Stable machine-readable kind, e.g. "cfg", "weights", "input". */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A darknet .cfg problem, located to file, line and (where known) key. */
export class CfgError extends EdgefuseError {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly key: string | undefined,
    readonly problem: string,
  ) {
    super("cfg", `${file}:${line}${key ? ` [${key}]` : ""}: ${problem}`);
  }
}

/** A darknet .weights file that does not fit its cfg. */
export class WeightsError extends EdgefuseError {
  constructor(
    readonly file: string,
    readonly problem: string,
  ) {
    super("weights", `${file}: ${problem}`);
  }
}

/** Input that is not what the network takes (wrong tensor size, not an image, ...). */
export class InputError extends EdgefuseError {
  constructor(
    readonly source: string,
    readonly problem: string,
  ) {
    super("input", `${source}: ${problem}`);
  }
}

/** Tensor shapes that do not agree. */
export class ShapeError extends EdgefuseError {
  constructor(message: string) {
    super("shape", message);
  }
}

/** A plan that cannot be made or does not fit the network / devices. */
export class PlanError extends EdgefuseError {
  constructor(message: string) {
    super("plan", message);
  }
}

/** A message from the network that fails validation. */
export class WireError extends EdgefuseError {
  constructor(
    readonly topic: string,
    readonly problem: string,
  ) {
    super("wire", `${topic}: ${problem}`);
  }
}

/** A command-line or configuration problem. */
export class UsageError extends EdgefuseError {
  constructor(message: string) {
    super("usage", message);
  }
}

/**
 * The emulated lab (network namespaces, links, cgroups) could not be built, used or
 * torn down. When a command failed, it names the command line, its exit code and stderr.
 */
export class LabError extends EdgefuseError {
  constructor(
    readonly problem: string,
    readonly command?: string,
    readonly exitCode?: number | null,
    readonly stderr?: string,
  ) {
    super(
      "lab",
      command === undefined
        ? problem
        : `${problem}: \`${command}\` exited ${exitCode ?? "by signal"}${stderr?.trim() ? `: ${stderr.trim()}` : ""}`,
    );
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
