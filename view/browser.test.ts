/**
 * The live view as a person sees it: `edgefuse up --devices 3 --view` on yolov2-mini,
 * Debian's headless Chromium (driven by puppeteer-core, no browser download) on the page,
 * two images sent: the page shows the 3 devices, the plan's layer count, both requests
 * with their latencies and a timeline and its annotated image for one, fits a phone's width, and says so when
 * the broker is gone. Screenshots at desktop and phone widths go to out/view/ (README).
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import puppeteer, { type Browser, type Page } from "puppeteer-core";
import { afterAll, describe, expect, it } from "vitest";
import { connectBroker } from "../broker/client.js";
import { topicsFor } from "../broker/topics.js";
import { loadNetwork } from "../dnn/network.js";
import { startEdgefuse } from "../test/cli.js";
import { cfgPath, imagePath, readOracle, REPO_ROOT } from "../test/fixtures.js";
import { readFileSync } from "node:fs";

/** Where the screenshots go: the README names this folder; CI keeps it as an artefact. */
const SCREENSHOT_DIR = join(REPO_ROOT, "out", "view");
const CHROMIUM = "/usr/bin/chromium";

const mini = readOracle("yolov2-mini-s7-dog");
const t = topicsFor("default");

/** The text of `selector` once `holds` is true of it. */
async function textWhen(page: Page, selector: string, holds: string, timeout = 30_000): Promise<string> {
  await page.waitForFunction(
    (sel, test) => new RegExp(test).test(document.querySelector(sel)?.textContent ?? ""),
    { timeout, polling: 100 },
    selector,
    holds,
  );
  return page.$eval(selector, (el) => el.textContent ?? "");
}

/**
 * The whole page at `width` into SCREENSHOT_DIR; resolves to its scroll width. The viewport
 * is made as tall as the page first, and the charts given time to redraw at that size: a
 * full-page capture would resize the page while it is taken, and a chart clears as it resizes.
 */
async function screenshot(page: Page, width: number, name: string): Promise<number> {
  const settle = () => new Promise((r) => setTimeout(r, 500));
  await page.setViewport({ width, height: 800 }); // only the size: a change of isMobile reloads the page
  await settle();
  const height = await page.evaluate(() => document.documentElement.scrollHeight);
  await page.setViewport({ width, height });
  await settle();
  await page.screenshot({ path: join(SCREENSHOT_DIR, name) });
  return page.evaluate(() => document.documentElement.scrollWidth);
}

describe("edgefuse up --view", () => {
  let browser: Browser | undefined;
  afterAll(async () => browser?.close());

  it("shows the devices, the plan, two requests with their latencies and a timeline, on a desktop and a phone", async () => {
    const up = startEdgefuse([
      "up",
      ...["--devices", "3", "--port", "0", "--view"],
      // The paper's objective spreads even this small network over every device, so the timeline has a row for each.
      ...["--objective", "comm", "--cfg", cfgPath("yolov2-mini"), "--weights", join(mini.dir, mini.weights)],
    ]);
    try {
      const [, port] = await up.waitFor(/broker listening on mqtt:\/\/127\.0\.0\.1:(\d+)/, 60_000);
      const [, url] = await up.waitFor(/live view at (http:\/\/\S+)/, 60_000);
      browser = await puppeteer.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
      const page = await browser.newPage();
      await page.setViewport({ width: 1280, height: 900 });
      await page.goto(url!);
      await textWhen(page, "#connection", "^live: ws://");
      expect(await textWhen(page, "#device-count", "^3$")).toBe("3");
      const layers = String(loadNetwork(cfgPath("yolov2-mini")).layers.length);
      expect(await textWhen(page, "#plan-layers", "^\\d+$")).toBe(layers);

      // Two images, as an anonymous guest sends them (up lets guests send requests).
      const camera = await connectBroker(`mqtt://127.0.0.1:${port}`, {
        clientId: "view-test-camera",
        reconnectPeriodMs: 0,
      });
      await camera.publishAsync(t.infer("r1"), readFileSync(imagePath("dog.jpg")), { qos: 1 });
      await camera.publishAsync(t.infer("r2"), readFileSync(imagePath("horses.jpg")), { qos: 1 });
      for (const id of ["r1", "r2"])
        expect(await textWhen(page, `tr[data-request="${id}"] .latency`, "^\\d+ ms$")).toMatch(/^\d+ ms$/);
      await camera.endAsync();
      // Clicked in the page: its rows are rebuilt on every frame with news, so a handle to one may go stale.
      await page.$eval('tr[data-request="r1"]', (row) => (row as HTMLElement).click());
      expect(await textWhen(page, "#timeline-of", "of r1")).toBe("of r1");
      // A bar per stage and device: at least one per stage of r1's result.
      const stages = Number(await page.$eval('tr[data-request="r1"] td:last-child', (el) => el.textContent));
      const bars = Number(await page.$eval("#timeline-box", (el) => (el as HTMLElement).dataset.bars));
      expect(stages).toBeGreaterThan(0);
      expect(bars).toBeGreaterThanOrEqual(stages);
      // Its own annotated image (the JPEG names its request), loaded, in dog.jpg's proportions.
      expect(await textWhen(page, "#annotated-of", "^request r1")).toMatch(/its detections drawn/);
      const picture = await page.waitForFunction(
        () => {
          const img = document.getElementById("annotated") as HTMLImageElement;
          return img.dataset.request === "r1" && img.complete && img.naturalWidth > 0
            ? [img.naturalWidth, img.naturalHeight]
            : false;
        },
        { timeout: 10_000 },
      );
      expect(await picture.jsonValue()).toEqual([768, 576]);

      mkdirSync(SCREENSHOT_DIR, { recursive: true });
      await screenshot(page, 1280, "desktop.png");
      expect(await screenshot(page, 390, "phone.png")).toBeLessThanOrEqual(390);

      // The broker gone: the page says so.
      up.child.kill("SIGTERM");
      await up.exited;
      expect(await textWhen(page, "#connection", "^broker unreachable at ws://", 10_000)).toMatch(/retrying/);
    } finally {
      up.child.kill("SIGKILL");
    }
  });
});
