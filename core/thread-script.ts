/**
 * Where a worker thread's script is: threads run compiled JavaScript, beside the module
 * that starts them when it is compiled itself, and from dist/ when it runs from source
 * (vitest), as spawned devices do.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { EdgefuseError } from "./errors.js";
import { PACKAGE_ROOT } from "./paths.js";

/**
 * `path`: the script under the package, as compiled (`planner/plan-thread-entry.js`);
 * `callerUrl`: import.meta.url of the module beside it. `code` and `what` name it in the
 * error when it has not been built.
 */
export function threadScript(callerUrl: string, path: string, code: string, what: string): URL {
  const script = callerUrl.endsWith(".js")
    ? new URL(`./${path.split("/").pop()}`, callerUrl)
    : pathToFileURL(join(PACKAGE_ROOT, "dist", path));
  if (!existsSync(fileURLToPath(script)))
    throw new EdgefuseError(code, `${fileURLToPath(script)} is missing: npm run build makes ${what}`);
  return script;
}
