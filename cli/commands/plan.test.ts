import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { loadNetwork } from "../../dnn/network.js";
import { shardId } from "../../dnn/shard.js";
import type { Variant } from "../../planner/compare.js";
import { parsePlan } from "../../planner/schema.js";
import { shardsOf } from "../../planner/shards.js";
import { edgefuse } from "../../test/cli.js";
import { cfgPath, readOracle } from "../../test/fixtures.js";

const tmp = mkdtempSync(join(tmpdir(), "edgefuse-plan-"));
const yolov2 = loadNetwork(cfgPath("yolov2"));
const write = (name: string, text: string) => {
  const path = join(tmp, name);
  writeFileSync(path, text);
  return path;
};
/** The paper's running example (§3.3): four connected layers 4→8→16→4→4. */
const paperFc = write(
  "paper-fc.cfg",
  [
    "[net]",
    "width=1",
    "height=1",
    "channels=4",
    ...[8, 16, 4, 4].flatMap((n) => ["[connected]", `output=${n}`, "activation=relu"]),
  ].join("\n"),
);

describe("edgefuse plan", () => {
  it("prints the paper's Table 2 per layer (kind, M, K, Q, scheme, F_n, C), the totals and what each worker holds", async () => {
    const r = await edgefuse([
      "plan",
      "--cfg",
      cfgPath("yolov2"),
      "--devices",
      "6",
      "--ftp-layers",
      "12",
      "--grid",
      "3x2",
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^plan [0-9a-f]{16}: yolov2 on 6 workers \(w1, w2, w3, w4, w5, w6\)\nscheme: auto \(chosen for the objective: least predicted time, or the paper's ILP \(least C\) with --objective comm\)\nFTP: layers 0–11 on a 3×2 grid, as given\n/,
    );
    for (const layer of yolov2.layers) {
      const { inputs: M, outputs: K, weights: Q } = layer.stats;
      const scheme =
        layer.index < 12
          ? "FTP"
          : layer.kind === "route" || layer.kind === "reorg" || layer.kind === "region"
            ? "source"
            : "\\S+( \\(reuse\\))?";
      expect(r.stdout, `layer ${layer.index}`).toMatch(
        new RegExp(`^${layer.index} +${layer.kind} +${M} +${K} +${Q} +${scheme}\\b`, "m"),
      );
    }
    // F_n of a layer: its largest part, here ceil(512 / 6) = 86 filters of 3×3×256
    expect(r.stdout).toMatch(new RegExp(`^12 +convolutional( +\\d+){3} +FUSE1 +${86 * 9 * 256} +\\d+\\.\\d\\d$`, "m"));
    expect(r.stdout).toMatch(/^26 +convolutional( +\d+){3} +LIP +\d+ +\d+\.\d\d$/m);
    expect(r.stdout).toMatch(/^0–11 +FTP stage: 6 tiles on 6 devices +scatter\+gather +\d+\.\d\d$/m);
    expect(r.stdout).toMatch(
      /^total: F_n [\d.]+ M weights \([\d.]+ MB\) on the fullest worker, T [\d.]+ G multiplications on the critical path, memory [\d.]+ MB with feature maps$/m,
    );
    expect(r.stdout).toMatch(
      /^modelled traffic C: [\d.]+ MB \([\d.]+ M elements\); LOP everywhere: [\d.]+ MB, so this plan saves [\d.]+ %$/m,
    );
    expect(
      r.stdout.match(/^ {2}w\d +weights [\d.]+ M, shards [\d.]+ MB, features [\d.]+ MB, [\d.]+ G mult$/gm),
    ).toHaveLength(6);
  });

  it("by default says how it chose the FTP layers and grid", async () => {
    const r = await edgefuse(["plan", "--cfg", "yolov2", "--devices", "6"]);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(
      /^FTP: (layers 0–\d+ on a \d×\d grid|none), chosen with the devices, the division and the schemes for the least predicted time: \d+ ms$/m,
    );
    const byMemory = await edgefuse(["plan", "--cfg", "yolov2", "--devices", "6", "--objective", "comm"]);
    expect(byMemory.stdout).toMatch(
      /^FTP: layers 0–\d+ on a \d×\d grid, chosen to minimise the largest per-device memory, weights \+ peak feature maps \(DeepThings' criterion\): [\d.]+ MB$/m,
    );
    const byComm = await edgefuse(["plan", "--cfg", "yolov2", "--devices", "6", "--ftp-layers", "auto-comm"]);
    expect(byComm.stdout).toMatch(
      /^FTP: layers 0–\d+ on a \d×\d grid, chosen to minimise the modelled communication C$/m,
    );
  });

  it("--json: the plan, with totals of C (elements and bytes), F_n and T", async () => {
    const r = await edgefuse(["plan", "--cfg", "yolov2", "--devices", "6", "--scheme", "lop", "--json"]);
    expect(r.code).toBe(0);
    const plan = parsePlan(JSON.parse(r.stdout));
    const totals = plan.totals!;
    expect(totals.commBytes).toBeCloseTo(4 * totals.commElements, 3);
    expect(totals.weightsPerDevice).toBe(Math.max(...plan.cost.perDevice.map((d) => d.weights)));
    expect(totals.multiplications).toBeGreaterThan(yolov2.totalMults / 6);
    expect(plan.inputs).toMatchObject({ strategy: "lop", ftpLayers: "auto", grid: null });
  });

  it("--compare: every variant side by side, C in MB and the saving against all-LOP", async () => {
    const r = await edgefuse(["plan", "--cfg", cfgPath("yolov2"), "--devices", "6", "--compare"]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const json = await edgefuse(["plan", "--cfg", cfgPath("yolov2"), "--devices", "6", "--compare", "--json"]);
    const variants = JSON.parse(json.stdout) as Variant[];
    expect(variants.map((v) => v.variant)).toEqual([
      "single device",
      "all-LOP",
      "all-LIP",
      "fuse-all",
      "paper",
      "optimum",
    ]);
    const at = (name: string) => variants.find((v) => v.variant === name)!;
    const mb = (v: Variant) => ((v.commElements! * 4) / 1e6).toFixed(2);
    for (const v of variants) {
      const saving = v.variant === "single device" ? "–" : `${(100 * v.saving!).toFixed(1)} %`;
      expect(r.stdout).toMatch(
        new RegExp(`^${v.variant} +\\S+( on \\d×\\d)? +[\\d.]+ +[\\d.]+ +${mb(v)} +${saving}$`, "m"),
      );
    }
    // the optimum: least C on its FTP stage, and its saving is measured against all-LOP there
    for (const other of ["all-LOP", "all-LIP", "fuse-all"]) {
      expect(at(other).ftp).toEqual(at("optimum").ftp);
      expect(at("optimum").commElements!).toBeLessThanOrEqual(at(other).commElements!);
    }
    expect(at("optimum").saving).toBeCloseTo(
      (at("all-LOP").commElements! - at("optimum").commElements!) / at("all-LOP").commElements!,
      9,
    );
    expect(at("optimum").saving).toBeGreaterThan(0);
    expect(at("paper").ftp!.end).toBe(12);
    expect(at("single device")).toMatchObject({ commElements: 0, weightsPerDevice: yolov2.totalWeights });
    expect(r.stdout).toMatch(
      /^paper's all-LOP on layers 0–11 FTP: C = [\d.]+ MB \(the paper measured 78\.1 MB all-LOP, 68\.1 MB fused: 14\.8 %\)\.$/m,
    );
  });

  it("--compare on the paper's 4-layer example: C = 0, 34, 48, 40 and the optimum 22 (elements)", async () => {
    const r = await edgefuse(["plan", "--cfg", paperFc, "--devices", "2", "--compare", "--json"]);
    expect(r.code).toBe(0);
    const variants = JSON.parse(r.stdout) as Variant[];
    expect(variants.map((v) => [v.variant, v.commElements, v.weightsPerDevice, v.multiplications])).toEqual([
      ["single device", 0, 240, 240],
      ["all-LOP", 34, 120, 120],
      ["all-LIP", 48, 120, 120],
      ["fuse-all", 40, 120, 120],
      ["optimum", 22, 120, 120],
    ]);
  });

  it("--json --out: the same valid plan on stdout and in the file, with the budget on every device", async () => {
    const out = join(tmp, "plan.json");
    const r = await edgefuse([
      "plan",
      "--cfg",
      cfgPath("yolov2-tiny"),
      "--devices",
      "cam,pi-1,pi-2",
      "--memory",
      "40",
      "--json",
      "--out",
      out,
    ]);
    expect(r.code).toBe(0);
    const plan = parsePlan(JSON.parse(r.stdout));
    expect(parsePlan(JSON.parse(readFileSync(out, "utf8")))).toEqual(plan);
    expect(plan.devices.map((d) => [d.workerId, d.memoryBudgetBytes])).toEqual([
      ["cam", 40e6],
      ["pi-1", 40e6],
      ["pi-2", 40e6],
    ]);
  });

  it("--weights --shards: writes every shard the plan names, each file named by its sha256", async () => {
    const oracle = readOracle("fc-mini-s3-dog");
    const dir = join(tmp, "shards");
    const out = join(tmp, "fc.json");
    const r = await edgefuse([
      "plan",
      "--cfg",
      cfgPath("fc-mini"),
      "--devices",
      "3",
      "--weights",
      join(oracle.dir, oracle.weights),
      "--shards",
      dir,
      "--out",
      out,
    ]);
    expect(r.stderr).toBe("");
    expect(r.code).toBe(0);
    const plan = parsePlan(JSON.parse(readFileSync(out, "utf8")));
    const files = readdirSync(dir).sort();
    expect(files).toEqual([...shardsOf(plan).keys()].map((sha) => `${sha}.shard`).sort());
    for (const f of files) expect(`${shardId(readFileSync(join(dir, f)))}.shard`).toBe(f);
    expect(r.stdout).toMatch(new RegExp(`^wrote ${files.length} shards \\([\\d.]+ MB\\) to ${dir}$`, "m"));
  });

  it.each([
    [["--devices", "0"], "--devices: expected 1..256 devices, got 0"],
    [["--devices=-2"], "--devices: expected 1..256 devices, got -2"],
    [["--devices", "a,b,a"], "--devices: device id 'a' is listed twice"],
    [
      ["--devices", "3", "--scheme", "greedy"],
      "--scheme: unknown scheme 'greedy': expected one of auto, lop, lip, fuse-all, paper",
    ],
    [["--devices", "3", "--grid", "3by2"], "--grid: expected NxM, e.g. 3x2"],
    [["--devices", "3", "--ftp-layers", "most"], "--ftp-layers: expected auto, auto-comm or a layer count B"],
    [["--devices", "3", "--memory", "0"], "--memory: must be > 0"],
    [["--devices", "3", "--scheme", "lop", "--pin", "18=fuse1"], "--pin: --pin fixes layers for --scheme auto only"],
    [["--devices", "3", "--weights", "x.weights"], "--shards: --weights and --shards go together"],
    [["--scheme", "lop"], "--devices: is required"],
  ])("refuses bad flags %j with exit code 2", async (args, message) => {
    const r = await edgefuse(["plan", "--cfg", "yolov2", ...args]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`edgefuse plan: ${message}`);
  });

  it.each([
    [
      ["--cfg", "yolov2", "--devices", "6", "--memory", "16"],
      "yolov2 needs ≥ 34.0 MB of weights per device on 6 devices; budget is 16 MB",
    ],
    [["--cfg", "yolov2-tiny", "--devices", "3", "--scheme", "paper"], "the paper's plan exists only for yolov2.cfg"],
    [
      [
        "--cfg",
        write("pools.cfg", "[net]\nwidth=8\nheight=8\nchannels=3\n[maxpool]\nsize=2\nstride=2\n"),
        "--devices",
        "2",
      ],
      "has no convolutional or connected layer: nothing to partition",
    ],
    [["--cfg", "yolov2", "--devices", "4", "--ftp-layers", "20"], "the FTP boundary 20 is outside 0..17 for"],
  ])("says why a plan cannot be made (exit code 1): %j", async (args, message) => {
    const r = await edgefuse(["plan", ...args]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^edgefuse plan: /);
    expect(r.stderr).toContain(message);
  });
});
