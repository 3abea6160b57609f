import { defineConfig } from "vitest/config";

/**
 * Suites that need more than node_modules and Debian's darknet: a broker (embedded or
 * Mosquitto), spawned edgefuse processes, root (the namespace lab) or a container
 * engine. `npm run test:unit` runs everything else, for the edit-test loop; `npm test`
 * runs both projects.
 */
const INTEGRATION = [
  "actors/*.test.ts",
  "actors/source/{availability,dispatch,error-report,wire.mosquitto}.test.ts",
  "actors/worker/baseline.test.ts",
  "bench/chaos/*.test.ts",
  "broker/{contract.*,server,client}.test.ts",
  "cli/flags.test.ts",
  "cli/commands/{broker,infer,plan,planner,run}.test.ts",
  "lab/{cpu,experiment,linkrate,netns,paper}.test.ts",
  "planner/{actor,plan-thread}.test.ts",
  "test/compose/**/*.test.ts",
  "view/browser.test.ts",
];

/**
 * Suites that time a process (a port in use must end `up` within 2 s): test/run.sh runs
 * them on their own after the rest, so the other suites' load cannot stretch them.
 */
const TIMED = ["cli/listen.test.ts"];

const ORACLES = "test/oracle/global-setup.ts";

export default defineConfig({
  test: {
    // Suites spawn brokers and onnxruntime sessions; two cores, so keep it calm.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
    projects: [
      // darknet's reference outputs, made once into .cache/oracle/ (test/oracle/).
      {
        extends: true,
        test: {
          name: "unit",
          include: ["{core,dnn,planner,broker,actors,cli,lab,test,view}/**/*.test.ts"],
          exclude: [...INTEGRATION, ...TIMED],
          globalSetup: [ORACLES],
        },
      },
      // and dist/ rebuilt when a source is newer: these suites spawn bin/edgefuse, which runs it, or start
      // planners, whose planning thread runs dist/planner/ (plan-thread.ts).
      {
        extends: true,
        test: { name: "integration", include: INTEGRATION, globalSetup: ["test/setup/build-dist.ts", ORACLES] },
      },
      { extends: true, test: { name: "timed", include: TIMED, globalSetup: ["test/setup/build-dist.ts", ORACLES] } },
    ],
  },
});
