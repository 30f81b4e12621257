// BackgroundCut Studio: presigned upload + AI Cut + presigned process, straight from the browser.
// Tokens come from /studio/tokens (the example of a user's backend minting presigned tokens);
// the API key never reaches the page.
const $ = (id) => document.getElementById(id);
const state = { green: [], red: [], history: [], requestNumber: 0, session: null, upload: null, image: null };

const MESSAGES = {
  401: "This link has expired or was already used. Please try again with a new one.",
  402: "The account is out of credits.",
  404: "The image is no longer available (it expired). Please upload it again.",
  413: "This image is too large.",
};

export function describeError(status, detail, retryAfter) {
  if (status === 429) return `Too many requests. Please wait ${retryAfter || "a few"} seconds and try again.`;
  if (status === 400) return `The image or request was not accepted: ${detail}`;
  return MESSAGES[status] || `The service failed (${status}): ${detail}`;
}

function say(text, isError = false) {
  $("status").textContent = text;
  $("status").classList.toggle("error", isError);
}

async function call(path, init) {
  const response = await fetch(path, init);
  const body = await response.json().catch(() => ({ detail: response.statusText }));
  if (!response.ok) {
    const error = new Error(describeError(response.status, body.detail, response.headers.get("Retry-After")));
    error.status = response.status;
    error.detail = body.detail;
    throw error;
  }
  return body;
}

async function token(kind, extra = {}) {
  const params = new URLSearchParams({ kind, ...extra });
  return (await call(`/studio/tokens?${params}`, { method: "POST" })).signed_request;
}

async function uploadWith(path, signed, file) {
  const form = new FormData();
  form.append("image", file);
  return call(`${path}?signed_request=${encodeURIComponent(signed)}`, { method: "POST", body: form });
}

export async function processWith(signed) {
  try {
    const out = await call("/v3/remove-bg/process-image/presigned/", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ signed_request: signed }),
    });
    const list = $("exports");
    list.replaceChildren();
    for (const [name, url] of Object.entries(out.output_urls)) {
      const item = document.createElement("li");
      const link = document.createElement("a");
      link.href = url; link.textContent = `${name} (download)`; link.download = name; link.dataset.variant = name;
      item.append(link);
      list.append(item);
    }
    say(`Exported ${Object.keys(out.output_urls).length} variants.`);
    return out;
  } catch (error) {
    say(error.message, true);
    return { error: error.status, detail: error.detail };
  }
}

function draw() {
  const canvas = $("canvas");
  const ctx = canvas.getContext("2d");
  ctx.drawImage(state.image, 0, 0);
  const radius = Math.max(4, Math.round(Math.max(canvas.width, canvas.height) / 120));
  for (const [dots, color] of [[state.green, "#19b34a"], [state.red, "#e0312b"]]) {
    for (const dot of dots) {
      ctx.beginPath(); ctx.arc(dot.x, dot.y, radius, 0, 2 * Math.PI);
      ctx.fillStyle = color; ctx.fill(); ctx.lineWidth = 2; ctx.strokeStyle = "white"; ctx.stroke();
    }
  }
  $("dots").textContent = `${state.green.length} green · ${state.red.length} red`;
  $("undo").disabled = state.history.length === 0;
}

export async function segment() {
  state.requestNumber += 1;
  const number = state.requestNumber;
  say("Segmenting…");
  try {
    const out = await call("/v3/ai-cut/segment/", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ unique_filename: state.session, greenDots: state.green, redDots: state.red, request_number: number }),
    });
    if (number !== state.requestNumber) return out; // a newer request is on its way
    const cutout = $("cutout");
    await new Promise((resolve, reject) => { cutout.onload = resolve; cutout.onerror = reject; cutout.src = out.output_url; });
    cutout.hidden = false;
    cutout.dataset.requestNumber = String(out.request_number);
    say(`Cutout updated (request ${out.request_number}).`);
    return out;
  } catch (error) {
    say(error.message, true);
    return { error: error.status };
  }
}

function addDot(event, remove) {
  if (!state.session) return;
  const canvas = $("canvas");
  const rect = canvas.getBoundingClientRect();
  const x = Math.round((event.clientX - rect.left) * canvas.width / rect.width);
  const y = Math.round((event.clientY - rect.top) * canvas.height / rect.height);
  (remove ? state.red : state.green).push({ x, y });
  state.history.push(remove ? "red" : "green");
  draw();
  return segment();
}

export async function undo() {
  const last = state.history.pop();
  if (!last) return null;
  state[last].pop();
  draw();
  return segment();
}

export async function load(file) {
  say("Uploading…");
  try {
    const [initToken, uploadToken] = await Promise.all([token("ai_cut_initialize"), token("upload")]);
    const [session, upload] = await Promise.all([
      uploadWith("/v3/ai-cut/initialize/presigned/", initToken, file),
      uploadWith("/v3/remove-bg/upload-image/presigned/", uploadToken, file),
    ]);
    Object.assign(state, { session: session.unique_filename, upload: upload.unique_filename, green: [], red: [], history: [], requestNumber: 0 });
    state.image = await createImageBitmap(file);
    const canvas = $("canvas");
    canvas.width = state.image.width; canvas.height = state.image.height;
    draw();
    $("process").disabled = false;
    say("Image ready: click to keep, right click or Shift+click to remove.");
    return { session: state.session, upload: state.upload };
  } catch (error) {
    say(error.message, true);
    return { error: error.status };
  }
}

export async function exportVariants() {
  const variants = JSON.stringify([
    { variant_name: "full", format: "png" },
    { variant_name: "thumb", format: "webp", max_resolution: 250000, autocrop: true },
    { variant_name: "white", format: "jpg", background_color: "#ffffff" },
  ]);
  try {
    const signed = await token("process", { unique_filename: state.upload, variants });
    return await processWith(signed);
  } catch (error) {
    say(error.message, true);
    return { error: error.status };
  }
}

$("file").addEventListener("change", (event) => event.target.files[0] && load(event.target.files[0]));
$("canvas").addEventListener("click", (event) => addDot(event, event.shiftKey));
$("canvas").addEventListener("contextmenu", (event) => { event.preventDefault(); addDot(event, true); });
$("undo").addEventListener("click", undo);
$("process").addEventListener("click", exportVariants);
window.studio = { state, load, segment, undo, processWith, exportVariants, token, describeError };
