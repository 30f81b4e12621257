// BackgroundCut Studio: one presigned AI Cut upload, free segment calls, and an export that
// processes the AI Cut session itself, so the files hold exactly the cutout on screen.
// Tokens come from /studio/tokens (the stand-in for a user's backend; it needs the session
// cookie set with this page); the API key never reaches the page.
const $ = (id) => document.getElementById(id);
const DOT_CSS_RADIUS = 11; // on-screen radius in CSS pixels: visible under a finger
const fresh = () => ({ green: [], red: [], history: [], requestNumber: 0, session: null, image: null,
  imageUrl: null, cutoutUrl: null, cursor: null, segmenting: false, pending: false });
const state = { ...fresh(), config: null, busy: false };

const MB = (bytes) => `${(bytes / 1048576).toFixed(1)} MB`;
const credits = (n) => `${n} credit${n === 1 ? "" : "s"}`;

export function describeError(status, detail, retryAfter) {
  const said = detail ? ` (${detail})` : "";
  if (status === 429) return `Too many requests. Please wait ${retryAfter || "a few"} seconds and try again.`;
  if (status === 402) return `The studio account is out of credits: ${detail || "no credits left"}. Add credits to the studio key and try again.`;
  if (status === 401) return `${detail || "This link has expired or was already used."} Please try again.`;
  if (status === 404) return "The image is no longer available (it expired). Please choose it again.";
  if (status === 413) return `This image is too large${said}. Choose a smaller image.`;
  if (status === 400) return `The image or request was not accepted: ${detail}`;
  return `The service failed (${status})${said}. Please try again.`;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function call(path, init) {
  const response = await fetch(path, { credentials: "same-origin", ...init });
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    const error = new Error(describeError(response.status, body.detail, response.headers.get("Retry-After")));
    Object.assign(error, { status: response.status, detail: body.detail });
    throw error;
  }
  return body;
}

export async function token(kind, extra = {}) {
  const params = new URLSearchParams({ kind, ...extra });
  return (await call(`/studio/tokens?${params}`, { method: "POST" })).signed_request;
}

// ---- busy state: every action button is disabled while a call that may charge is running ----
const ACTIONS = ["process", "undo", "compare"];
function setBusy(busy, text) {
  state.busy = busy;
  $("progress").hidden = !busy;
  document.querySelector("main").setAttribute("aria-busy", String(busy));
  $("file").disabled = busy;
  $("file-label").classList.toggle("disabled", busy);
  if (text) say(text);
  refreshButtons();
}

function refreshButtons() {
  const ready = Boolean(state.session) && !state.busy;
  $("process").disabled = !ready || state.segmenting || state.pending;
  $("undo").disabled = !ready || state.history.length === 0;
  $("compare").disabled = !ready || !state.cutoutUrl;
}

// ---- prices, read from the server (API credit rules and this server's settings) ----
export function exportVariants() {
  const choice = document.querySelector("input[name=bg]:checked").value;
  const color = choice === "custom" ? $("bg-color").value : choice === "transparent" ? null : choice;
  return [
    { variant_name: "full", format: "png", background_color: color },
    { variant_name: "thumb", format: "webp", max_resolution: 250000, autocrop: true, background_color: color },
    { variant_name: "jpg", format: "jpg", background_color: color || "#ffffff" },
  ];
}

export function exportCost(variants = exportVariants()) {
  const c = state.config;
  return c.process_credits + c.autocrop_credits * variants.filter((v) => v.autocrop).length;
}

function showPrices() {
  const c = state.config;
  $("limit").textContent = MB(c.max_upload_bytes);
  $("upload-price").textContent = `Upload and automatic cutout: ${credits(c.initialize_credits)}.`;
  $("file-label").textContent = `Choose image (${credits(c.initialize_credits)})`;
  const cost = exportCost();
  $("process").textContent = `Export 3 files (${credits(cost)})`;
  $("prices").textContent = `Dots are free. Export: full PNG, ${credits(c.process_credits)}, plus ` +
    `${credits(c.autocrop_credits)} for the cropped thumbnail = ${credits(cost)}.`;
}

// ---- drawing ----
function dotRadius() {
  const canvas = $("canvas");
  const shown = canvas.getBoundingClientRect().width || canvas.width;
  return Math.max(2, DOT_CSS_RADIUS * canvas.width / shown);
}

function draw() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  if (state.image) ctx.drawImage(state.image, 0, 0);
  const radius = dotRadius();
  for (const [dots, color] of [[state.green, "#137333"], [state.red, "#c5221f"]]) {
    for (const dot of dots) {
      ctx.beginPath(); ctx.arc(dot.x, dot.y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = color; ctx.fill();
      ctx.lineWidth = radius / 3; ctx.strokeStyle = "white"; ctx.stroke();
      ctx.beginPath(); ctx.arc(dot.x, dot.y, radius + radius / 6, 0, 2 * Math.PI);
      ctx.lineWidth = radius / 6; ctx.strokeStyle = "#1d2330"; ctx.stroke();
    }
  }
  if (state.cursor && document.activeElement === canvas) {
    const { x, y } = state.cursor;
    ctx.lineWidth = radius / 3; ctx.strokeStyle = "#b45309";
    ctx.beginPath(); ctx.moveTo(x - radius * 2, y); ctx.lineTo(x + radius * 2, y);
    ctx.moveTo(x, y - radius * 2); ctx.lineTo(x, y + radius * 2); ctx.stroke();
  }
  $("dots").textContent = `${state.green.length} keep · ${state.red.length} remove`;
  refreshButtons();
}

function showCutout() {
  const original = $("compare").getAttribute("aria-pressed") === "true";
  const img = $("cutout");
  const url = original ? state.imageUrl : state.cutoutUrl;
  img.hidden = !url;
  $("cutout-empty").hidden = Boolean(url);
  if (url && img.src !== url) img.src = url;
  img.alt = original ? "The original image" : "The cutout as it will be exported";
  const choice = document.querySelector("input[name=bg]:checked").value;
  const preview = $("preview");
  preview.classList.toggle("checker", choice === "transparent" || original);
  preview.style.background = choice === "transparent" || original ? "" : (choice === "custom" ? $("bg-color").value : choice);
}

// ---- AI Cut: one segment call at a time; dots added meanwhile go out in the next call ----
export async function segment() {
  state.pending = true;
  if (state.segmenting) return null;
  state.segmenting = true;
  let out = null;
  try {
    while (state.pending && state.session) {
      state.pending = false;
      state.requestNumber += 1;
      const session = state.session;
      refreshButtons();
      say("Updating the cutout…");
      $("progress").hidden = false;
      const body = { unique_filename: session, greenDots: state.green, redDots: state.red, request_number: state.requestNumber };
      out = await call("/v3/ai-cut/segment/", {
        method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
      });
      if (session !== state.session) return null; // a new image was chosen meanwhile
      await new Promise((resolve, reject) => {
        const img = new Image(); img.onload = resolve; img.onerror = reject; img.src = out.output_url;
      });
      state.cutoutUrl = out.output_url;
      $("cutout").dataset.requestNumber = String(out.request_number);
      showCutout();
    }
    say(`Cutout ready (${state.green.length} keep, ${state.red.length} remove dots). Export saves exactly this cutout.`);
    return out;
  } catch (error) {
    state.pending = false;
    say(error.message, true);
    return { error: error.status };
  } finally {
    state.segmenting = false;
    $("progress").hidden = !state.busy;
    refreshButtons();
  }
}

export function addDot(x, y, remove) {
  if (!state.session || state.busy) return null;
  (remove ? state.red : state.green).push({ x, y });
  state.history.push(remove ? "red" : "green");
  draw();
  return segment();
}

function removeMode() { return $("mode-remove").checked; }

function onCanvasClick(event, forceRemove = false) {
  if (!state.session) return;
  const canvas = $("canvas");
  const rect = canvas.getBoundingClientRect();
  const x = Math.min(canvas.width - 1, Math.max(0, Math.round((event.clientX - rect.left) * canvas.width / rect.width)));
  const y = Math.min(canvas.height - 1, Math.max(0, Math.round((event.clientY - rect.top) * canvas.height / rect.height)));
  state.cursor = { x, y };
  addDot(x, y, forceRemove || event.shiftKey || removeMode());
}

function onCanvasKey(event) {
  if (!state.session) return;
  const canvas = $("canvas");
  const step = Math.max(1, Math.round(Math.max(canvas.width, canvas.height) / 50)) * (event.shiftKey ? 5 : 1);
  const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
  const cursor = state.cursor || { x: Math.floor(canvas.width / 2), y: Math.floor(canvas.height / 2) };
  if (moves[event.key]) {
    const [dx, dy] = moves[event.key];
    state.cursor = { x: Math.min(canvas.width - 1, Math.max(0, cursor.x + dx)), y: Math.min(canvas.height - 1, Math.max(0, cursor.y + dy)) };
    draw();
    say(`Cursor at ${state.cursor.x}, ${state.cursor.y}. Enter: keep dot, Delete: remove dot.`);
  } else if (event.key === "Enter") {
    state.cursor = cursor; addDot(cursor.x, cursor.y, false);
  } else if (event.key === "Delete" || event.key === "Backspace") {
    state.cursor = cursor; addDot(cursor.x, cursor.y, true);
  } else {
    return;
  }
  event.preventDefault();
}

export async function undo() {
  const last = state.history.pop();
  if (!last) return null;
  state[last].pop();
  draw();
  return segment();
}

// ---- upload: checked here first, then one presigned AI Cut initialize, then the auto cutout ----
function reset() {
  if (state.imageUrl) URL.revokeObjectURL(state.imageUrl);
  Object.assign(state, fresh());
  $("exports").replaceChildren();
  $("cutout").removeAttribute("src");
  delete $("cutout").dataset.requestNumber;
  $("compare").setAttribute("aria-pressed", "false");
  $("compare").textContent = "Show original";
  const canvas = $("canvas");
  canvas.width = 1; canvas.height = 1;
  showCutout();
  draw();
}

export async function check(file) {
  const c = state.config;
  if (!c.formats.includes(file.type)) {
    return `"${file.name}" is not a PNG, JPEG or WebP image. Choose one of those formats.`;
  }
  if (file.size > c.max_upload_bytes) {
    return `"${file.name}" is ${MB(file.size)} (${file.size} bytes); the server accepts images up to ${MB(c.max_upload_bytes)} (${c.max_upload_bytes} bytes). Choose a smaller image.`;
  }
  let bitmap;
  try { bitmap = await createImageBitmap(file); } catch {
    return `"${file.name}" could not be read as an image. Choose another file.`;
  }
  if (bitmap.width * bitmap.height > c.max_image_pixels) {
    return `"${file.name}" has ${bitmap.width}×${bitmap.height} pixels; the server accepts up to ${c.max_image_pixels} pixels. Choose a smaller image.`;
  }
  return bitmap;
}

export async function load(file) {
  if (state.busy) return { error: "busy" };
  reset();
  const checked = await check(file);
  if (typeof checked === "string") { say(checked, true); return { error: "rejected", message: checked }; }
  setBusy(true, `Uploading ${file.name} (${credits(state.config.initialize_credits)})…`);
  try {
    const signed = await token("ai_cut_initialize");
    const form = new FormData();
    form.append("image", file);
    const session = await call(`/v3/ai-cut/initialize/presigned/?signed_request=${encodeURIComponent(signed)}`, { method: "POST", body: form });
    Object.assign(state, { session: session.unique_filename, image: checked, imageUrl: URL.createObjectURL(file) });
    const canvas = $("canvas");
    canvas.width = checked.width; canvas.height = checked.height;
    draw();
  } catch (error) {
    say(error.message, true);
    return { error: error.status };
  } finally {
    setBusy(false);
  }
  await segment();
  return { session: state.session };
}

// ---- export: the AI Cut session itself is processed, so the files match the screen ----
function listExports(out) {
  const list = $("exports");
  list.replaceChildren();
  for (const [name, url] of Object.entries(out.output_urls)) {
    const item = document.createElement("li");
    const link = document.createElement("a");
    link.href = url; link.download = name; link.dataset.variant = name;
    link.textContent = `Download ${name}.${url.split(".").pop()}`;
    item.append(link);
    list.append(item);
  }
}

export async function exportCutout() {
  if (state.busy || !state.session || state.segmenting || state.pending) return { error: "busy" };
  const variants = exportVariants();
  const cost = exportCost(variants);
  setBusy(true, `Exporting (${credits(cost)})…`);
  try {
    const signed = await token("process", { unique_filename: state.session, variants: JSON.stringify(variants) });
    const out = await call("/v3/remove-bg/process-image/presigned/", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ signed_request: signed }),
    });
    listExports(out);
    say(`Exported ${Object.keys(out.output_urls).length} files for ${credits(cost)}.`);
    return out;
  } catch (error) {
    say(error.message, true);
    return { error: error.status, detail: error.detail };
  } finally {
    setBusy(false);
  }
}

function toggleCompare() {
  const pressed = $("compare").getAttribute("aria-pressed") !== "true";
  $("compare").setAttribute("aria-pressed", String(pressed));
  $("compare").textContent = pressed ? "Show cutout" : "Show original";
  showCutout();
}

async function start() {
  try {
    state.config = await call("/studio/config");
  } catch (error) {
    say(error.message, true);
    return;
  }
  showPrices();
  $("file").addEventListener("change", (event) => {
    const file = event.target.files[0];
    event.target.value = ""; // the same file chosen again is a new upload only on purpose
    if (file) load(file);
  });
  const canvas = $("canvas");
  canvas.addEventListener("click", (event) => onCanvasClick(event));
  canvas.addEventListener("contextmenu", (event) => { event.preventDefault(); onCanvasClick(event, true); });
  canvas.addEventListener("keydown", onCanvasKey);
  canvas.addEventListener("focus", draw);
  canvas.addEventListener("blur", draw);
  $("undo").addEventListener("click", undo);
  $("process").addEventListener("click", exportCutout);
  $("compare").addEventListener("click", toggleCompare);
  for (const input of document.querySelectorAll("input[name=bg]")) {
    input.addEventListener("change", () => { showPrices(); showCutout(); });
  }
  $("bg-color").addEventListener("input", () => { $("bg-custom").checked = true; showCutout(); });
  window.addEventListener("resize", draw);
  document.body.dataset.ready = "true";
}

window.studio = { state, load, check, segment, undo, addDot, exportCutout, exportVariants, exportCost, token, describeError };
start();
