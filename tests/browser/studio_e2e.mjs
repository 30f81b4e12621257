// Drives /studio/ in headless Chromium: desktop (refine, export, double-click export, before/after,
// background, size check, out of credits), phone (390x844 touch), keyboard only, axe-core.
// Usage: node studio_e2e.mjs BASE_URL SCENE_PNG SHOTS_DIR EMPTY_BASE_URL  (env: STUDIO_KEY,
// ADMIN_TOKEN); EMPTY_BASE_URL is a server whose studio key has no credits.
// Prints one JSON line with what the page did; the pytest wrapper checks it against the scene's
// known masks and the server's ledger. The scene holds a disc centred at (100, 120) and a square
// centred at (250, 120).
import { chromium } from "playwright-core";
import { createRequire } from "node:module";
import { join } from "node:path";

const [base, scene, shots, emptyBase] = process.argv.slice(2);
const { STUDIO_KEY: studioKey, ADMIN_TOKEN: adminToken } = process.env;
const axePath = createRequire(import.meta.url).resolve("axe-core/axe.min.js");
const DISC = [100, 120];
const SQUARE = [250, 120];

async function ledger(credits = 0) {
  const response = await fetch(`${base}/_admin/credits`, {
    method: "POST",
    headers: { "X-Admin-Token": adminToken, "Content-Type": "application/json" },
    body: JSON.stringify({ api_key: studioKey, credits }),
  });
  return (await response.json()).balance;
}

async function open(browser, options, url = base) {
  const context = await browser.newContext(options);
  const page = await context.newPage();
  const seen = { errors: [], process: 0, processTokens: 0, initialize: 0 };
  page.on("pageerror", (error) => seen.errors.push(String(error)));
  page.on("request", (request) => {
    const url = request.url();
    if (url.includes("/process-image/presigned/")) seen.process += 1;
    if (url.includes("/studio/tokens?kind=process")) seen.processTokens += 1;
    if (url.includes("/ai-cut/initialize/presigned/")) seen.initialize += 1;
  });
  await page.goto(`${url}/studio/`);
  await page.waitForSelector("body[data-ready=true]");
  return { context, page, seen };
}

const idle = (page) => page.waitForFunction(() => {
  const s = window.studio.state;
  return s.session && !s.busy && !s.segmenting && !s.pending && !document.getElementById("process").disabled;
});
const cutoutNumber = (page, n) => page.waitForFunction((k) => document.getElementById("cutout").dataset.requestNumber === String(k), n);
const dots = (page) => page.evaluate(() => [window.studio.state.green.length, window.studio.state.red.length]);
const fullHref = (page) => page.evaluate(() => document.querySelector("#exports a[data-variant=full]")?.href || null);

async function canvasPoint(page, [x, y]) {
  await page.locator("#canvas").scrollIntoViewIfNeeded();
  const box = await page.locator("#canvas").boundingBox();
  const size = await page.evaluate(() => [document.getElementById("canvas").width, document.getElementById("canvas").height]);
  return { x: box.x + ((x + 0.5) * box.width) / size[0], y: box.y + ((y + 0.5) * box.height) / size[1] };
}

async function axe(page) {
  await page.addScriptTag({ path: axePath });
  return page.evaluate(async () => {
    const found = await window.axe.run(document, { resultTypes: ["violations"] });
    return found.violations.map((v) => ({ id: v.id, impact: v.impact, nodes: v.nodes.map((n) => n.target.join(" ")) }));
  });
}

async function desktop(browser) {
  const out = {};
  const { context, page, seen } = await open(browser, { viewport: { width: 1280, height: 900 } });
  out.prices = await page.textContent("#prices");
  out.exportLabel = await page.textContent("#process");
  out.uploadLabel = await page.textContent("#file-label");
  out.balanceStart = await ledger();
  await page.setInputFiles("#file", scene);
  await cutoutNumber(page, 1); // the automatic cutout, no click needed
  await idle(page);
  out.autoCutout = await page.evaluate(() => window.studio.state.cutoutUrl);
  out.cutoutVisible = await page.isVisible("#cutout");
  out.balanceAfterUpload = await ledger();

  await page.click("#process"); // export of the unrefined cutout
  await page.waitForSelector("#exports a[data-variant=full]");
  await idle(page);
  out.unrefinedFull = await fullHref(page);
  out.balanceAfterExport = await ledger();

  let p = await canvasPoint(page, DISC);
  await page.mouse.click(p.x, p.y); // keep the disc
  await idle(page);
  p = await canvasPoint(page, SQUARE);
  await page.mouse.click(p.x, p.y, { button: "right" }); // remove the square
  await cutoutNumber(page, 3);
  await idle(page);
  out.dots = await dots(page);
  out.refinedCutout = await page.evaluate(() => window.studio.state.cutoutUrl);
  out.refinedShown = await page.getAttribute("#cutout", "src");

  const processBefore = seen.process;
  const tokensBefore = seen.processTokens;
  await page.dblclick("#process"); // a double click pays once
  await page.waitForFunction((old) => {
    const link = document.querySelector("#exports a[data-variant=full]");
    return link && link.href !== old;
  }, out.unrefinedFull);
  await idle(page);
  await page.waitForTimeout(300); // a second, wrongly accepted click would have sent its call by now
  out.refinedFull = await fullHref(page);
  out.exports = await page.$$eval("#exports a", (links) => links.map((a) => a.dataset.variant));
  out.doubleClickProcessCalls = seen.process - processBefore;
  out.doubleClickTokenCalls = seen.processTokens - tokensBefore;
  out.balanceAfterDoubleClick = await ledger();
  out.statusAfterExport = await page.textContent("#status");
  await page.screenshot({ path: join(shots, "studio-desktop.png"), fullPage: true });
  out.axe = await axe(page);

  await page.click("label[for=bg-white]");
  out.whitePreview = await page.evaluate(() => getComputedStyle(document.getElementById("preview")).backgroundColor);
  await page.click("#compare");
  out.compareShowsOriginal = await page.evaluate(() => document.getElementById("cutout").src === window.studio.state.imageUrl);
  await page.click("#compare");
  out.compareBack = await page.evaluate(() => document.getElementById("cutout").src === window.studio.state.cutoutUrl);
  await page.click("label[for=bg-none]");

  // Checked in the page before anything is uploaded: size (with the server's limit) and format.
  const limit = await page.evaluate(() => window.studio.state.config.max_upload_bytes);
  const uploadsBefore = seen.initialize;
  await page.setInputFiles("#file", { name: "huge.png", mimeType: "image/png", buffer: Buffer.alloc(limit + 1) });
  await page.waitForFunction(() => document.getElementById("status").classList.contains("error"));
  out.tooLarge = await page.textContent("#status");
  await page.setInputFiles("#file", { name: "notes.txt", mimeType: "text/plain", buffer: Buffer.from("hello") });
  await page.waitForFunction(() => document.getElementById("status").textContent.includes("notes.txt"));
  out.wrongFormat = await page.textContent("#status");
  out.uploadsForRejected = seen.initialize - uploadsBefore;
  out.resetAfterNewImage = await page.evaluate(() => ({
    exports: document.querySelectorAll("#exports a").length,
    cutoutHidden: document.getElementById("cutout").hidden,
    dots: window.studio.state.green.length + window.studio.state.red.length,
  }));
  out.uploadsPerFile = seen.initialize; // one image chosen -> one upload
  out.errors = seen.errors;
  await context.close();
  return out;
}

async function phone(browser) {
  const out = {};
  const { context, page, seen } = await open(browser, {
    viewport: { width: 390, height: 844 }, hasTouch: true, isMobile: true, deviceScaleFactor: 2,
  });
  await page.setInputFiles("#file", scene);
  await cutoutNumber(page, 1);
  await idle(page);
  let p = await canvasPoint(page, DISC);
  await page.touchscreen.tap(p.x, p.y); // keep mode is the default
  await cutoutNumber(page, 2);
  await idle(page);
  await page.locator("label[for=mode-remove]").tap();
  out.removeMode = await page.isChecked("#mode-remove");
  p = await canvasPoint(page, SQUARE);
  await page.touchscreen.tap(p.x, p.y);
  await cutoutNumber(page, 3);
  await idle(page);
  out.dots = await dots(page);
  out.cutout = await page.evaluate(() => window.studio.state.cutoutUrl);
  await page.locator("#process").tap();
  await page.waitForSelector("#exports a[data-variant=full]");
  await idle(page);
  out.exports = await page.$$eval("#exports a", (links) => links.map((a) => a.dataset.variant));
  out.layout = await page.evaluate(() => {
    const panes = [...document.querySelectorAll(".pane")].map((e) => e.getBoundingClientRect());
    const canvas = document.getElementById("canvas");
    const targets = [...document.querySelectorAll("button, label.button, #exports a, input[type=color]")]
      .filter((e) => e.getClientRects().length)
      .map((e) => { const r = e.getBoundingClientRect(); return { id: e.id || e.getAttribute("for") || e.textContent.trim(), w: r.width, h: r.height }; });
    return {
      stacked: panes[1].top >= panes[0].bottom,
      paneWidth: panes[0].width,
      smallTargets: targets.filter((t) => t.w < 44 || t.h < 44),
      targets: targets.length,
      canvasCssWidth: canvas.getBoundingClientRect().width,
      canvasWidth: canvas.width,
      scrollWidth: document.documentElement.scrollWidth,
    };
  });
  // The drawn keep dot, measured on the canvas: its radius in CSS pixels.
  out.keepDotCssRadius = await page.evaluate(([x, y]) => {
    const canvas = document.getElementById("canvas");
    const ctx = canvas.getContext("2d");
    const row = ctx.getImageData(0, y, canvas.width, 1).data;
    let left = x; let right = x;
    const green = (i) => row[i * 4] < 60 && row[i * 4 + 1] > 90 && row[i * 4 + 1] < 140 && row[i * 4 + 2] < 80;
    while (left > 0 && green(left - 1)) left -= 1;
    while (right < canvas.width - 1 && green(right + 1)) right += 1;
    return ((right - left + 1) / 2) * canvas.getBoundingClientRect().width / canvas.width;
  }, (await page.evaluate(() => [window.studio.state.green[0].x, window.studio.state.green[0].y])));
  await page.screenshot({ path: join(shots, "studio-phone.png"), fullPage: true, scale: "css" });
  out.axe = await axe(page);
  out.errors = seen.errors;
  await context.close();
  return out;
}

async function keyboard(browser) {
  const out = { tabsToFile: null, tabsToCanvas: null };
  const { context, page, seen } = await open(browser, { viewport: { width: 1280, height: 900 } });
  const focused = () => page.evaluate(() => document.activeElement?.id || document.activeElement?.tagName);
  // Listen before any key is pressed: file chooser interception is switched on asynchronously.
  const chosen = new Promise((resolve) => page.once("filechooser", resolve));
  await page.waitForTimeout(100);
  for (let i = 1; i <= 10 && out.tabsToFile === null; i += 1) {
    await page.keyboard.press("Tab");
    if ((await focused()) === "file") out.tabsToFile = i;
  }
  out.focusOutline = await page.evaluate(() => getComputedStyle(document.getElementById("file-label")).outlineStyle);
  await page.keyboard.press("Space");
  await (await chosen).setFiles(scene);
  await cutoutNumber(page, 1);
  await idle(page);
  for (let i = 1; i <= 30 && out.tabsToCanvas === null; i += 1) {
    await page.keyboard.press("Tab");
    if ((await focused()) === "canvas") out.tabsToCanvas = i;
  }
  const [width, height] = await page.evaluate(() => [document.getElementById("canvas").width, document.getElementById("canvas").height]);
  const step = Math.max(1, Math.round(Math.max(width, height) / 50));
  let x = Math.floor(width / 2);
  const moveTo = async (target) => {
    while (Math.abs(x - target) >= step) {
      const key = target < x ? "ArrowLeft" : "ArrowRight";
      await page.keyboard.press(key);
      x += key === "ArrowLeft" ? -step : step;
    }
  };
  await moveTo(DISC[0]);
  await page.keyboard.press("Enter");
  await cutoutNumber(page, 2);
  await idle(page);
  await page.focus("#canvas"); // focus stays on the canvas; this only guards against a lost focus
  await moveTo(SQUARE[0]);
  await page.keyboard.press("Delete");
  await cutoutNumber(page, 3);
  await idle(page);
  out.dots = await dots(page);
  out.points = await page.evaluate(() => ({ green: window.studio.state.green, red: window.studio.state.red }));
  out.cutout = await page.evaluate(() => window.studio.state.cutoutUrl);
  out.canvasRole = await page.getAttribute("#canvas", "role");
  out.errors = seen.errors;
  await context.close();
  return out;
}

async function outOfCredits(browser, emptyBase) {
  const out = {};
  const { context, page, seen } = await open(browser, { viewport: { width: 1280, height: 900 } }, emptyBase);
  await page.setInputFiles("#file", scene);
  await page.waitForFunction(() => document.getElementById("status").classList.contains("error"));
  out.status = await page.textContent("#status");
  out.errors = seen.errors;
  await context.close();
  return out;
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM_PATH || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-dev-shm-usage"],
});
const result = {};
try {
  result.desktop = await desktop(browser);
  result.phone = await phone(browser);
  result.keyboard = await keyboard(browser);
  result.outOfCredits = await outOfCredits(browser, emptyBase);
  const response = await fetch(`${base}/studio/tokens?kind=upload`, { method: "POST" });
  result.tokenWithoutCookie = { status: response.status, detail: (await response.json()).detail };
} finally {
  await browser.close();
}
console.log(JSON.stringify(result));
