#!/usr/bin/env bash
# `npm test`: everything. Installs and starts the services the suites need
# (test/setup/services.sh), type-checks the whole project, then runs every vitest suite.
# Arguments go to vitest (`npm test -- dnn/` runs one folder with the services up).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=test/setup/services.sh
. test/setup/services.sh
npx tsc -p tsconfig.json
if [ $# -gt 0 ]; then
  npx vitest run "$@"
else
  npx vitest run --project unit --project integration
  # Alone, once the rest is done: these suites time a process (vitest.config.ts TIMED).
  npx vitest run --project timed
fi
