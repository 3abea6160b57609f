import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    include: ["{core,dnn,planner,broker,actors,cli,lab,test}/**/*.test.ts"],
    // dist/ rebuilt when a source is newer (suites spawn bin/edgefuse, which runs it);
    // darknet's reference outputs, made once into .cache/oracle/ (test/oracle/).
    globalSetup: ["test/setup/build-dist.ts", "test/oracle/global-setup.ts"],
    // Suites spawn brokers and onnxruntime sessions; two cores, so keep it calm.
    fileParallelism: true,
    maxWorkers: 2,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});
