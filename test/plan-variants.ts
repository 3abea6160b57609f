/**
 * The plan variants the distributed suites run every network under: the paper's
 * schemes on every device, the ILP optimum, and FTP + optimum, all with float32
 * tensors (what darknet computes, to the last float; wire.test.ts covers the others).
 */
import { expect } from "vitest";
import type { LocalSystem } from "../actors/system.js";
import type { Network } from "../dnn/network.js";
import type { PlanOptions } from "../planner/build.js";
import { maxFtpEnd } from "../planner/ftp.js";

export type Planning = Partial<Omit<PlanOptions, "devices">>;

export const PLANS: [string, Planning][] = [
  // The paper's schemes on every device (least C: the latency objective would rightly keep a net this small on one device).
  ["all-LOP", { strategy: "lop", ftpEnd: 0, objective: "comm", wire: "f32" }],
  ["all-LIP", { strategy: "lip", ftpEnd: 0, objective: "comm", wire: "f32" } as Planning],
  ["ILP optimum", { strategy: "auto", ftpEnd: 0, objective: "comm", wire: "f32" }],
  // FTP over every layer it may cover ("auto" may rightly choose none for a small net).
  ["FTP + optimum", { strategy: "auto", ftpEnd: "max" as unknown as number, objective: "comm", wire: "f32" }],
];

/** "max" → the network's largest FTP boundary. */
export const resolvePlanning = (planning: Planning, network: Network): Planning =>
  (planning.ftpEnd as unknown) === "max" ? { ...planning, ftpEnd: maxFtpEnd(network) } : planning;

/** The plan in force really is the variant asked for. */
export function expectVariant(system: LocalSystem, label: string): void {
  const plan = system.planner.current()!;
  const schemes = plan.steps.filter((s) => s.scheme !== "source" && s.scheme !== "carry").map((s) => s.scheme);
  if (label === "all-LOP") expect(new Set(schemes)).toEqual(new Set(["lop"]));
  if (label === "all-LIP") expect(new Set(schemes)).toEqual(new Set(["lip"]));
  if (label.includes("FTP")) expect(plan.ftp, "an FTP stage").not.toBeNull();
  else expect(plan.ftp).toBeNull();
}
