// Drives /studio/ in headless Chromium. Usage: node studio_e2e.mjs BASE_URL SCENE_PNG OUT_DIR
// Prints one JSON line with what the page did; the pytest wrapper checks it against the
// known mask of the scene.
import { chromium } from "playwright-core";
import { writeFileSync } from "node:fs";
import { join } from "node:path";

const [base, scene, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const result = {};
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  const consoleErrors = [];
  page.on("pageerror", (error) => consoleErrors.push(String(error)));
  await page.goto(`${base}/studio/`);
  await page.setInputFiles("#file", scene);
  await page.waitForFunction(() => window.studio.state.session && window.studio.state.upload);
  result.session = await page.evaluate(() => window.studio.state.session);

  // The scene holds a disc centred at (100, 120) and a square centred at (250, 120).
  const box = await page.locator("#canvas").boundingBox();
  const size = await page.evaluate(() => [document.getElementById("canvas").width, document.getElementById("canvas").height]);
  const at = (x, y) => ({ x: box.x + (x * box.width) / size[0], y: box.y + (y * box.height) / size[1] });
  const cutoutAfter = async (n) => {
    await page.waitForFunction((k) => document.getElementById("cutout").dataset.requestNumber === String(k), n);
    return page.evaluate(() => document.getElementById("cutout").src);
  };
  const click = async (x, y, button = "left") => { const p = at(x, y); await page.mouse.click(p.x, p.y, { button }); };

  await click(100, 120);                      // round 1: green on the disc
  result.round1 = await cutoutAfter(1);
  await click(250, 120);                      // round 2: green on the square too
  result.round2 = await cutoutAfter(2);
  await page.click("#undo");                  // undo the square
  result.afterUndo = await cutoutAfter(3);
  await click(250, 120, "right");             // red on the square
  result.red = await cutoutAfter(4);
  result.dots = await page.evaluate(() => [window.studio.state.green.length, window.studio.state.red.length]);

  // Export through a presigned process token; links appear.
  await page.click("#process");
  await page.waitForSelector("#exports a[data-variant='white']");
  result.exports = await page.$$eval("#exports a", (links) => links.map((a) => [a.dataset.variant, a.href]));

  // A reused presigned token is rejected by the API and explained on the page.
  const reused = await page.evaluate(async () => {
    const signed = await window.studio.token("process", { unique_filename: window.studio.state.upload });
    const first = await window.studio.processWith(signed);
    const second = await window.studio.processWith(signed);
    return { first: Object.keys(first.output_urls || {}), second };
  });
  result.reused = reused;
  result.statusText = await page.textContent("#status");
  result.statusIsError = await page.evaluate(() => document.getElementById("status").classList.contains("error"));
  await page.screenshot({ path: join(out, "studio.png"), fullPage: true });
  result.consoleErrors = consoleErrors;
} finally {
  await browser.close();
}
writeFileSync(join(out, "result.json"), JSON.stringify(result, null, 2));
console.log(JSON.stringify(result));
