// The page of `headstart serve`: images (files, drag and drop, camera) or texts in, top-k bars out.
"use strict";

const $ = (id) => document.getElementById(id);
let model = null;

function element(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

function percent(value) {
  return (100 * value).toFixed(1) + "%";
}

function renderCard(card) {
  const facts = $("card-facts");
  const rows = [["task", card.task], ["backbone", card.backbone], ["strategy", card.strategy], ["head", card.head]];
  if (card.validation && card.validation.val_accuracy != null) {
    rows.push(["validation accuracy", percent(card.validation.val_accuracy)]);
  }
  if (card.input) rows.push(["input", card.input.image_size + " px, " + card.input.channels + " channel(s)"]);
  rows.push(["upload limit", card.max_upload_mb + " MB"]);
  for (const [name, value] of rows) {
    facts.append(element("dt", "", name), element("dd", "", String(value)));
  }
  for (const name of card.classes) $("card-classes").append(element("li", "", name));
  if (card.advice && card.advice.reasons) $("card-advice").textContent = card.advice.reasons.join(" ");
  $("subtitle").textContent = card.backbone + " · " + card.strategy + " · " + card.classes.length + " classes";
}

function renderResult(prediction, picture) {
  const box = element("article", "result");
  if (picture) {
    const image = element("img");
    image.src = picture;
    image.alt = prediction.file || "";
    box.append(image);
  }
  const body = element("div", "body");
  body.append(element("div", "name", prediction.file || prediction.text || ""));
  body.append(element("div", "top-class", prediction.top_k[0]["class"]));
  for (const entry of prediction.top_k) {
    const bar = element("div", "bar");
    const track = element("div", "track");
    const fill = element("div", "fill");
    fill.style.width = percent(entry.probability);
    track.append(fill);
    bar.append(element("span", "label", entry["class"]), track, element("span", "value", percent(entry.probability)));
    body.append(bar);
  }
  box.append(body);
  $("results").prepend(box);
}

async function post(body, headers) {
  const k = Math.max(1, Math.min(Number($("k").value) || 3, model ? model.classes.length : 3));
  const response = await fetch("/predict?k=" + k, { method: "POST", body, headers });
  const answer = await response.json();
  if (!response.ok) {
    const where = answer.file ? answer.file + ": " : "";
    throw new Error(where + answer.error + (answer.fix ? " " + answer.fix : ""));
  }
  return answer.predictions;
}

async function classifyImages(files) {
  const images = Array.from(files);
  if (!images.length) return;
  showError("");
  const form = new FormData();
  for (const file of images) form.append("files", file, file.name);
  try {
    const predictions = await post(form);
    for (let i = predictions.length - 1; i >= 0; i--) renderResult(predictions[i], URL.createObjectURL(images[i]));
  } catch (error) {
    showError(error.message);
  }
}

async function classifyText(text) {
  showError("");
  try {
    const predictions = await post(JSON.stringify({ texts: [text] }), { "Content-Type": "application/json" });
    predictions.forEach((prediction) => renderResult(prediction, null));
  } catch (error) {
    showError(error.message);
  }
}

function setUpImages() {
  $("image-input").hidden = false;
  const drop = $("drop");
  $("files").addEventListener("change", (event) => classifyImages(event.target.files));
  for (const name of ["dragenter", "dragover"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.add("over"); });
  }
  for (const name of ["dragleave", "drop"]) {
    drop.addEventListener(name, (event) => { event.preventDefault(); drop.classList.remove("over"); });
  }
  drop.addEventListener("drop", (event) => classifyImages(event.dataTransfer.files));
  // getUserMedia exists only in secure contexts (https, or this machine's own localhost).
  if (navigator.mediaDevices && navigator.mediaDevices.getUserMedia) setUpCamera();
}

function setUpCamera() {
  const video = $("video");
  $("camera-button").hidden = false;
  $("camera-button").addEventListener("click", async () => {
    try {
      video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      $("camera").hidden = false;
    } catch (error) {
      showError("The camera is not available: " + error.message);
    }
  });
  $("camera-stop").addEventListener("click", () => {
    if (video.srcObject) video.srcObject.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
    $("camera").hidden = true;
  });
  $("capture").addEventListener("click", () => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => classifyImages([new File([blob], "camera.png", { type: "image/png" })]), "image/png");
  });
}

function setUpText() {
  $("text-input").hidden = false;
  $("text-input").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (text) classifyText(text);
  });
}

async function start() {
  try {
    const response = await fetch("/model");
    model = await response.json();
  } catch (error) {
    showError("Could not reach the server: " + error.message);
    return;
  }
  renderCard(model);
  $("k").max = model.classes.length;
  $("k").value = Math.min(3, model.classes.length);
  if (model.task === "text") setUpText(); else setUpImages();
}

start();
