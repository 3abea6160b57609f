/** The registry: one line per subcommand. */
import type { Command } from "../command.js";

export const commands: readonly Command[] = [];
