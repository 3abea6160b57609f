import { describe, expect, it } from "vitest";
import { loadNetwork } from "../dnn/network.js";
import { cfgPath } from "../test/fixtures.js";
import { makePlan as makeAnyPlan } from "./build.js";

/** The paper's objective (least C), as compareVariants plans every variant. */
const makePlan: typeof makeAnyPlan = (network, o) => makeAnyPlan(network, { objective: "comm", ...o });
import { compareVariants } from "./compare.js";
import { describeComparison, ftpChoiceText } from "./describe.js";

const yolov2 = loadNetwork(cfgPath("yolov2"));
const workers = (n: number, budgetMb?: number) =>
  Array.from({ length: n }, (_, i) => ({
    workerId: `w${i + 1}`,
    ...(budgetMb ? { memoryBudgetBytes: budgetMb * 1e6 } : {}),
  }));

describe("compareVariants on YOLOv2, 6 devices", () => {
  // How fast is `npm run bench -- planner`'s to say.
  it("costs every variant, each against all-LOP on its own FTP stage", () => {
    const { variants, optimum } = compareVariants(yolov2, { devices: workers(6) });
    const at = (name: string) => variants.find((v) => v.variant === name)!;
    expect(at("optimum").commElements).toBe(optimum.totals!.commElements);
    // the paper's row: its own FTP (0–11), measured against all-LOP there
    const lop12 = makePlan(yolov2, { devices: workers(6), ftpEnd: 12, grid: at("paper").ftp!.grid, strategy: "lop" });
    expect(at("paper").lopElements).toBe(lop12.totals!.commElements);
    expect(at("paper").saving).toBeCloseTo(1 - at("paper").commElements! / lop12.totals!.commElements, 9);
    // on the paper's FTP stage the ILP finds the authors' plan, so nothing beats it there
    expect(
      makePlan(yolov2, { devices: workers(6), ftpEnd: 12, grid: at("paper").ftp!.grid }).totals!.commElements,
    ).toBeCloseTo(at("paper").commElements!, 3);
  });

  it("a budget some variants cannot meet leaves them out with the reason, and keeps the rest", () => {
    const budget = 34.06; // fits the optimum without FTP, not the paper's layers 0–11 held whole, even on one device
    const { variants, optimum } = compareVariants(yolov2, { devices: workers(6, budget) });
    const paper = variants.find((v) => v.variant === "paper")!;
    expect(paper.commElements).toBeUndefined();
    expect(paper.problem).toMatch(
      /^yolov2 needs ≥ 34\.1 MB of weights per device on 6 devices with FTP on layers 0–11 \(scheme paper\); budget is 34\.06 MB$/,
    );
    expect(optimum.totals!.weightsPerDevice * 4).toBeLessThanOrEqual(budget * 1e6);
    const text = describeComparison("yolov2", 6, variants, 4, ftpChoiceText(optimum));
    expect(text).toMatch(/^paper +cannot be planned \(below\)$/m);
    expect(text).toContain(`paper: ${paper.problem}`);
  });
});
