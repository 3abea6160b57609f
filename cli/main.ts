#!/usr/bin/env node
/**
 * `edgefuse <command> [flags]`: a registry of subcommands, one file each under
 * commands/. Every failure ends here, as one clear line and a non-zero exit.
 */
import { EdgefuseError } from "../core/errors.js";
import { commandHelp, type CommandEntry } from "./command.js";
import { commands } from "./commands/index.js";

function help(): string {
  const width = Math.max(...commands.map((c) => c.name.length));
  return [
    "edgefuse — one deep-network inference across several small devices over MQTT",
    "",
    "usage: edgefuse <command> [flags]   (edgefuse <command> --help for its flags; edgefuse --version)",
    "",
    ...commands.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`),
  ].join("\n");
}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (name === "--version" || name === "-v") {
    // package.json is the one place the version is written; device.ts reads it for presence too.
    console.log((await import("../actors/runtime/device.js")).VERSION);
    return 0;
  }
  if (!name || name === "--help" || name === "-h" || name === "help") {
    console.log(help());
    return name ? 0 : 1;
  }
  const entry: CommandEntry | undefined = commands.find((c) => c.name === name);
  if (!entry) {
    console.error(`edgefuse: unknown command '${name}'\n\n${help()}`);
    return 2;
  }
  try {
    const command = await entry.load();
    if (rest.includes("--help") || rest.includes("-h")) {
      console.log(commandHelp(entry.summary, command));
      return 0;
    }
    return await command.run(rest);
  } catch (err) {
    if (err instanceof EdgefuseError) {
      console.error(`edgefuse ${name}: ${err.message}`);
      return err.code === "usage" ? 2 : 1;
    }
    throw err;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  },
);
