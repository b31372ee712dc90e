// Face mesh demo: webcam frames over the /v1/track WebSocket, or one photo to /v1/frame, and
// the returned landmarks drawn on a canvas laid over the picture. Plain JavaScript, no build
// step, nothing fetched from other origins. Landmarks arrive in frame pixels, so the overlay
// canvas is sized to the frame and scaled by CSS together with the picture under it.
// Try-on: the overlay shows the frame the landmarks belong to, with lipstick filled between
// the lips' outer and inner rings and eyeliner along the upper lids (outlines: mesh.json's
// `paths`); an arrow per eye shows its gaze (the response's camera-frame `gaze`).
// Puppet (puppet.js): with the Puppet box ticked, requests ask for `blendshapes=true` and the
// first face's scores drive a cartoon face beside the picture; it hides when there are none.
"use strict";

(() => {
  const SUBPROTOCOL = "facemesh.v1";
  const JPEG_QUALITY = 0.85;
  const COLORS = {
    mesh: [64, 224, 208], // tessellation
    contour: [240, 240, 240], // face oval, eyebrows
    lips: [255, 48, 96],
    left_eye: [60, 210, 60],
    right_eye: [70, 150, 255],
    iris: [255, 214, 10],
    gaze: [255, 128, 0],
    eyeliner: [24, 14, 20],
  };
  // An arrow's length for a gaze at right angles to the view, in eye widths (corner to corner).
  const ARROW_EYE_WIDTHS = 3;
  const LEGEND = [
    ["mesh", "mesh"],
    ["lips", "lips"],
    ["left_eye", "left eye"],
    ["right_eye", "right eye"],
    ["iris", "irises"],
    ["contour", "oval, brows"],
    ["gaze", "gaze"],
  ];

  // For people (the stats line) and for automated tests (tests/system/demo/).
  const state = {
    mode: "webcam",
    framesSent: 0, // webcam frames sent; at most one more than answered (backpressure)
    framesReceived: 0,
    lastResponse: null,
    errors: [],
    fps: null,
    latencyMs: null,
    meshLoaded: false,
    colors: COLORS,
    tryOn: false,
    lipColor: [200, 16, 46],
    lipOpacity: 0.55,
    arrows: [], // per drawn eye: {face, eye, from: [x, y], to: [x, y]} in frame pixels
    source: null, // the canvas holding the frame the overlay's try-on is drawn on
    puppet: null, // puppet.js's state: visible, face, scores, pose, shapes, bars
  };
  window.facemeshDemo = state;

  const $ = (id) => document.getElementById(id);
  const ui = {
    stage: $("stage"),
    video: $("video"),
    photo: $("photo"),
    overlay: $("overlay"),
    apiKey: $("api-key"),
    maxFaces: $("max-faces"),
    start: $("start"),
    stop: $("stop"),
    mirror: $("mirror"),
    file: $("photo-file"),
    status: $("status"),
    frames: $("stat-frames"),
    faces: $("stat-faces"),
    fps: $("stat-fps"),
    latency: $("stat-latency"),
    tryOn: $("try-on"),
    lipColor: $("lip-color"),
    lipOpacity: $("lip-opacity"),
    puppetOn: $("puppet-on"),
    puppetCanvas: $("puppet"),
  };
  const puppet = window.FacemeshPuppet.create(ui.puppetCanvas, $("bars"));
  state.puppet = puppet.state;
  const rgb = (c, alpha = 1) => `rgba(${c[0]}, ${c[1]}, ${c[2]}, ${alpha})`;

  // ---- mesh topology (generated at build time from the mediapipe wheel) --------------------
  let topology = null;
  fetch("mesh.json")
    .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`mesh.json: HTTP ${r.status}`))))
    .then((doc) => {
      topology = doc;
      state.meshLoaded = true;
      redraw();
    })
    .catch((err) => setStatus(`no tessellation (${err.message}); run \`make demo-assets\``));

  // ---- status and errors -------------------------------------------------------------------
  function setStatus(text, ok = false) {
    ui.status.textContent = text;
    ui.status.classList.toggle("ok", ok);
  }

  function reportError(text) {
    state.errors.push(text);
    setStatus(text);
    console.warn(`facemesh demo: ${text}`);
  }

  async function errorText(response) {
    try {
      const body = await response.json();
      if (body && body.error) return `${response.status} ${body.error.code}: ${body.error.message}`;
    } catch (_) {
      // not JSON: fall through to the status line
    }
    return `HTTP ${response.status} ${response.statusText}`;
  }

  function maxFaces() {
    const n = Number.parseInt(ui.maxFaces.value, 10);
    return Number.isFinite(n) && n >= 1 ? n : 1;
  }

  function apiUrl(path, scheme, blendshapes = ui.puppetOn.checked) {
    const url = new URL(`../${path}`, window.location.href);
    if (scheme) url.protocol = scheme;
    url.searchParams.set("max_faces", String(maxFaces()));
    if (blendshapes) url.searchParams.set("blendshapes", "true");
    return url;
  }

  // A server without the blendshape model refuses blendshapes=true (422): the page then goes
  // on without the puppet, unticks its box and says why.
  const NO_BLENDSHAPES = "puppet off: this server gives no blendshapes";

  function dropPuppet() {
    ui.puppetOn.checked = false;
    puppet.hide();
  }

  // ---- drawing -----------------------------------------------------------------------------
  let drawn = null; // the response currently on the overlay

  function drawResponse(response) {
    drawn = response;
    const canvas = ui.overlay;
    const { width, height } = response.image;
    if (canvas.width !== width || canvas.height !== height) {
      canvas.width = width;
      canvas.height = height;
    }
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, width, height);
    const scale = Math.max(1, Math.min(width, height) / 480);
    const source = state.tryOn ? state.source : null;
    if (source) ctx.drawImage(source, 0, 0, width, height);
    state.arrows = [];
    response.faces.forEach((face, index) => {
      if (!face.landmarks) return;
      if (source && topology) drawTryOn(ctx, face.landmarks);
      else drawFace(ctx, face, scale);
      drawGaze(ctx, face, index, scale);
    });
  }

  function redraw() {
    if (drawn) drawResponse(drawn);
  }

  function strokeEdges(ctx, points, edges, color, alpha, lineWidth) {
    ctx.beginPath();
    for (const [a, b] of edges) {
      ctx.moveTo(points[a][0], points[a][1]);
      ctx.lineTo(points[b][0], points[b][1]);
    }
    ctx.strokeStyle = rgb(color, alpha);
    ctx.lineWidth = lineWidth;
    ctx.stroke();
  }

  function dots(ctx, points, color, radius) {
    ctx.fillStyle = rgb(color);
    ctx.beginPath();
    for (const [x, y] of points) {
      ctx.moveTo(x + radius, y);
      ctx.arc(x, y, radius, 0, 2 * Math.PI);
    }
    ctx.fill();
  }

  // A region's affine maps its unit square (u, v) to pixels: [x, y] = A @ [u, v, 1].
  function affineBox(ctx, affine, color, scale) {
    const [[a, b, c], [d, e, f]] = affine;
    const corners = [[0, 0], [1, 0], [1, 1], [0, 1]].map(([u, v]) => [
      a * u + b * v + c,
      d * u + e * v + f,
    ]);
    ctx.beginPath();
    corners.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath();
    ctx.setLineDash([6 * scale, 4 * scale]);
    ctx.strokeStyle = rgb(color, 0.9);
    ctx.lineWidth = 1.5 * scale;
    ctx.stroke();
    ctx.setLineDash([]);
  }

  function iris(ctx, points, scale) {
    const [cx, cy] = points[0];
    const r = points.slice(1).reduce((s, [x, y]) => s + Math.hypot(x - cx, y - cy), 0) / 4;
    ctx.beginPath();
    ctx.arc(cx, cy, r, 0, 2 * Math.PI);
    ctx.strokeStyle = rgb(COLORS.iris);
    ctx.lineWidth = 1.5 * scale;
    ctx.stroke();
    dots(ctx, points, COLORS.iris, 1.5 * scale);
  }

  function drawFace(ctx, face, scale) {
    const pts = face.landmarks;
    ctx.lineJoin = "round";
    if (topology) {
      strokeEdges(ctx, pts, topology.edges, COLORS.mesh, 0.55, 0.8 * scale);
      const c = topology.contours;
      strokeEdges(ctx, pts, c.face_oval, COLORS.contour, 0.9, 1.5 * scale);
      strokeEdges(ctx, pts, c.left_eyebrow, COLORS.contour, 0.9, 1.5 * scale);
      strokeEdges(ctx, pts, c.right_eyebrow, COLORS.contour, 0.9, 1.5 * scale);
      strokeEdges(ctx, pts, c.lips, COLORS.lips, 1, 2 * scale);
      strokeEdges(ctx, pts, c.left_eye, COLORS.left_eye, 1, 2 * scale);
      strokeEdges(ctx, pts, c.right_eye, COLORS.right_eye, 1, 2 * scale);
    } else {
      dots(ctx, pts.slice(0, 468), COLORS.mesh, scale);
    }
    const regions = face.regions;
    if (!regions) return;
    for (const name of ["lips", "left_eye", "right_eye"]) {
      dots(ctx, regions[name].landmarks, COLORS[name], scale);
      // Pipelines without region transforms (landmarker) answer null affines: no box.
      if (regions[name].affine) affineBox(ctx, regions[name].affine, COLORS[name], scale);
    }
    iris(ctx, regions.left_iris.landmarks, scale);
    iris(ctx, regions.right_iris.landmarks, scale);
  }

  // ---- try-on and gaze ---------------------------------------------------------------------
  function tracePath(ctx, points, indices) {
    indices.forEach((i, k) => {
      const [x, y] = points[i];
      if (k) ctx.lineTo(x, y);
      else ctx.moveTo(x, y);
    });
  }

  function drawTryOn(ctx, points) {
    const paths = topology.paths;
    // Lipstick: the band between the outer and inner rings (even-odd leaves the mouth open).
    ctx.beginPath();
    tracePath(ctx, points, paths.lips_outer);
    ctx.closePath();
    tracePath(ctx, points, paths.lips_inner);
    ctx.closePath();
    ctx.fillStyle = rgb(state.lipColor, state.lipOpacity);
    ctx.fill("evenodd");
    // Eyeliner: along each upper lid, from its outer corner (the path's first point), with a
    // short wing past that corner.
    for (const lid of [paths.left_upper_lid, paths.right_upper_lid]) {
      const outer = points[lid[0]];
      const inner = points[lid[lid.length - 1]];
      const width = Math.hypot(outer[0] - inner[0], outer[1] - inner[1]);
      const mid = points[lid[lid.length >> 1]];
      const along = [(outer[0] - inner[0]) / width, (outer[1] - inner[1]) / width];
      let up = [along[1], -along[0]]; // perpendicular, turned towards the lid's middle
      if ((mid[0] - outer[0]) * up[0] + (mid[1] - outer[1]) * up[1] < 0) up = [-up[0], -up[1]];
      const wing = [
        outer[0] + 0.22 * width * along[0] + 0.12 * width * up[0],
        outer[1] + 0.22 * width * along[1] + 0.12 * width * up[1],
      ];
      ctx.beginPath();
      ctx.moveTo(wing[0], wing[1]);
      for (const i of lid) ctx.lineTo(points[i][0], points[i][1]);
      ctx.strokeStyle = rgb(COLORS.eyeliner, 0.9);
      ctx.lineWidth = Math.max(1.5, 0.08 * width);
      ctx.lineCap = "round";
      ctx.stroke();
    }
  }

  function drawGaze(ctx, face, index, scale) {
    if (!face.gaze || !face.regions || !topology) return;
    const eyes = {
      left: [face.regions.left_iris.landmarks[0], topology.paths.left_upper_lid],
      right: [face.regions.right_iris.landmarks[0], topology.paths.right_upper_lid],
    };
    for (const [eye, [from, lid]] of Object.entries(eyes)) {
      const [dx, dy] = face.gaze[eye].direction; // camera frame: y up
      const a = face.landmarks[lid[0]];
      const b = face.landmarks[lid[lid.length - 1]];
      const length = ARROW_EYE_WIDTHS * Math.hypot(a[0] - b[0], a[1] - b[1]);
      const to = [from[0] + length * dx, from[1] - length * dy];
      state.arrows.push({ face: index, eye, from: [from[0], from[1]], to });
      arrow(ctx, from, to, COLORS.gaze, 2 * scale);
    }
  }

  function arrow(ctx, from, to, color, lineWidth) {
    const [dx, dy] = [to[0] - from[0], to[1] - from[1]];
    const length = Math.hypot(dx, dy);
    ctx.strokeStyle = rgb(color);
    ctx.fillStyle = rgb(color);
    ctx.lineWidth = lineWidth;
    ctx.beginPath();
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
    if (length < 1) return;
    const head = Math.min(length * 0.4, 4 * lineWidth);
    const [ux, uy] = [dx / length, dy / length];
    ctx.beginPath();
    ctx.moveTo(to[0], to[1]);
    ctx.lineTo(to[0] - head * ux + 0.5 * head * uy, to[1] - head * uy - 0.5 * head * ux);
    ctx.lineTo(to[0] - head * ux - 0.5 * head * uy, to[1] - head * uy + 0.5 * head * ux);
    ctx.closePath();
    ctx.fill();
  }

  function readTryOn() {
    state.tryOn = ui.tryOn.checked;
    const hex = ui.lipColor.value; // "#rrggbb"
    state.lipColor = [1, 3, 5].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
    state.lipOpacity = Number.parseFloat(ui.lipOpacity.value);
    redraw();
  }

  // ---- results -----------------------------------------------------------------------------
  let lastArrival = null;

  function accept(response, roundTripMs) {
    state.framesReceived += 1;
    state.lastResponse = response;
    state.latencyMs = roundTripMs;
    const now = performance.now();
    if (lastArrival !== null) {
      const fps = 1000 / Math.max(1, now - lastArrival);
      state.fps = state.fps === null ? fps : 0.8 * state.fps + 0.2 * fps;
    }
    lastArrival = now;
    drawResponse(response);
    puppet.update(response);
    ui.frames.textContent = String(state.framesReceived);
    ui.faces.textContent = String(response.faces.length);
    ui.fps.textContent = state.fps === null ? "–" : state.fps.toFixed(1);
    ui.latency.textContent = `${roundTripMs.toFixed(0)} ms`;
  }

  // ---- webcam mode: one frame in flight on the WebSocket -------------------------------------
  const grab = document.createElement("canvas");
  const answered = document.createElement("canvas"); // the webcam frame the last answer is for
  let stream = null;
  let socket = null;
  let inFlight = false;
  let sentAt = 0;
  // Camera frames presented so far, and the one last sent: a frame is sent once at most.
  // Without requestVideoFrameCallback every animation frame counts as new.
  const frameCallbacks = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  let frameSeq = 0;
  let sentSeq = -1;

  function watchFrames() {
    if (!stream) return;
    ui.video.requestVideoFrameCallback(() => {
      frameSeq += 1;
      sendFrame();
      watchFrames();
    });
  }

  async function startWebcam() {
    ui.start.disabled = true;
    try {
      stream = await navigator.mediaDevices.getUserMedia({
        video: { width: { ideal: 640 }, height: { ideal: 480 } },
        audio: false,
      });
      ui.video.srcObject = stream;
      await ui.video.play();
      if (frameCallbacks) watchFrames();
      openSocket();
      ui.stop.disabled = false;
    } catch (err) {
      reportError(`camera: ${err.name || "Error"}: ${err.message}`);
      stopWebcam();
    }
  }

  // ``blendshapes``: ask for them. A refused handshake that asked is tried once more without
  // (the browser cannot read why it was refused); if that one opens, the puppet goes off.
  function openSocket(blendshapes = ui.puppetOn.checked) {
    const protocols = [SUBPROTOCOL];
    const key = ui.apiKey.value.trim();
    if (key) protocols.push(`apikey.${key}`);
    const scheme = window.location.protocol === "https:" ? "wss:" : "ws:";
    const url = apiUrl("v1/track", scheme, blendshapes);
    const ws = new WebSocket(url, protocols); // throws SyntaxError on a key with odd characters
    ws.binaryType = "arraybuffer";
    let opened = false;
    ws.onopen = () => {
      opened = true;
      if (ui.puppetOn.checked && !blendshapes) {
        dropPuppet();
        setStatus(`streaming; ${NO_BLENDSHAPES}`, true);
      } else setStatus("streaming", true);
      sendFrame();
    };
    ws.onmessage = (event) => {
      if (socket !== ws) return; // an answer that arrived after Stop
      inFlight = false;
      const roundTrip = performance.now() - sentAt;
      const body = JSON.parse(event.data);
      if (body.error) reportError(`frame: ${body.error.code}: ${body.error.message}`);
      else {
        // ``grab`` still holds the frame sent: the next one is grabbed after this answer.
        answered.width = grab.width;
        answered.height = grab.height;
        answered.getContext("2d").drawImage(grab, 0, 0);
        state.source = answered;
        accept(body, roundTrip);
      }
      if (!frameCallbacks) frameSeq += 1;
      window.requestAnimationFrame(sendFrame); // or on the next new frame (watchFrames)
    };
    ws.onclose = (event) => {
      if (socket !== ws) return; // closed by stopWebcam
      if (!opened && blendshapes) {
        openSocket(false);
        return;
      }
      reportError(
        opened
          ? `stream closed: ${event.code} ${event.reason || ""}`.trim()
          : "stream closed: the server refused the WebSocket (API key missing or wrong?)",
      );
      stopWebcam();
    };
    socket = ws;
    inFlight = false;
  }

  async function sendFrame() {
    const video = ui.video;
    if (!socket || socket.readyState !== WebSocket.OPEN || inFlight) return;
    if (video.readyState < HTMLMediaElement.HAVE_CURRENT_DATA || !video.videoWidth) {
      window.requestAnimationFrame(sendFrame);
      return;
    }
    if (sentSeq === frameSeq && sentSeq >= 0) return; // already sent this camera frame
    inFlight = true; // backpressure: the next frame goes when this one's answer arrives
    sentSeq = frameSeq;
    grab.width = video.videoWidth;
    grab.height = video.videoHeight;
    grab.getContext("2d").drawImage(video, 0, 0);
    const blob = await new Promise((resolve) => grab.toBlob(resolve, "image/jpeg", JPEG_QUALITY));
    if (!blob || !socket || socket.readyState !== WebSocket.OPEN) {
      inFlight = false;
      return;
    }
    const data = await blob.arrayBuffer();
    sentAt = performance.now();
    socket.send(data);
    state.framesSent += 1;
  }

  function stopWebcam() {
    const ws = socket;
    socket = null;
    if (ws) ws.close(1000, "stopped");
    if (stream) stream.getTracks().forEach((t) => t.stop());
    stream = null;
    ui.video.srcObject = null;
    inFlight = false;
    lastArrival = null;
    sentSeq = -1;
    ui.start.disabled = false;
    ui.stop.disabled = true;
  }

  // ---- photo mode: one POST /v1/frame per picked or dropped image ---------------------------
  async function runPhoto(file) {
    if (!file) return;
    setStatus(`sending ${file.name}…`, true);
    const wantedPuppet = ui.puppetOn.checked;
    try {
      const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
      ui.photo.width = bitmap.width;
      ui.photo.height = bitmap.height;
      ui.photo.getContext("2d").drawImage(bitmap, 0, 0);
      bitmap.close();
    } catch (err) {
      reportError(`${file.name}: the browser cannot show this image (${err.message})`);
    }
    ui.photo.hidden = false;
    $("drop-hint").hidden = true;
    const form = new FormData();
    form.append("image", file, file.name);
    const headers = {};
    const key = ui.apiKey.value.trim();
    if (key) headers["X-API-Key"] = key;
    const started = performance.now();
    let response;
    try {
      response = await fetch(apiUrl("v1/frame"), { method: "POST", body: form, headers });
      if (response.status === 422 && ui.puppetOn.checked && (await refusesBlendshapes(response))) {
        dropPuppet();
        response = await fetch(apiUrl("v1/frame"), { method: "POST", body: form, headers });
      }
    } catch (err) {
      reportError(`request failed: ${err.message}`);
      return;
    }
    if (!response.ok) {
      reportError(await errorText(response));
      return;
    }
    const body = await response.json();
    state.source = ui.photo;
    lastArrival = null; // one-off requests: no frame rate
    accept(body, performance.now() - started);
    const note = ui.puppetOn.checked || !wantedPuppet ? "" : `; ${NO_BLENDSHAPES}`;
    setStatus(`${file.name}: ${body.faces.length} face(s)${note}`, true);
  }

  async function refusesBlendshapes(response) {
    try {
      const body = await response.clone().json();
      return body.error.code === "validation_error" && /blendshapes/.test(body.error.message);
    } catch (_) {
      return false;
    }
  }

  // ---- modes and wiring --------------------------------------------------------------------
  // The puppet faces the viewer as the unmirrored picture does: mirrored with it.
  function showMirror() {
    const mirrored = state.mode === "webcam" && ui.mirror.checked;
    ui.stage.classList.toggle("mirrored", mirrored);
    ui.puppetCanvas.classList.toggle("mirrored", mirrored);
  }

  function setMode(mode) {
    state.mode = mode;
    if (mode !== "webcam") stopWebcam();
    for (const tab of document.querySelectorAll(".tabs button")) {
      tab.setAttribute("aria-selected", String(tab.dataset.mode === mode));
    }
    for (const el of document.querySelectorAll(".webcam-only")) el.hidden = mode !== "webcam";
    for (const el of document.querySelectorAll(".photo-only")) el.hidden = mode !== "photo";
    if (mode === "photo") {
      ui.photo.hidden = true; // until an image is picked
      $("drop-hint").hidden = false;
    }
    showMirror();
    drawn = null;
    state.source = null;
    puppet.hide();
    ui.overlay.getContext("2d").clearRect(0, 0, ui.overlay.width, ui.overlay.height);
    setStatus("");
  }

  for (const tab of document.querySelectorAll(".tabs button")) {
    tab.addEventListener("click", () => setMode(tab.dataset.mode));
  }
  ui.start.addEventListener("click", startWebcam);
  ui.stop.addEventListener("click", () => {
    stopWebcam();
    setStatus("stopped");
  });
  ui.mirror.addEventListener("change", showMirror);
  ui.puppetOn.addEventListener("change", () => {
    if (!ui.puppetOn.checked) puppet.hide();
    if (!socket) return;
    const old = socket; // a new session with the new query, the old one closed
    socket = null;
    old.close(1000, "restarted");
    openSocket();
  });
  ui.file.addEventListener("change", () => {
    const file = ui.file.files[0];
    ui.file.value = ""; // picking the same file again (e.g. after ticking Puppet) sends it again
    runPhoto(file);
  });
  for (const input of [ui.tryOn, ui.lipColor, ui.lipOpacity]) {
    input.addEventListener("input", readTryOn);
    input.addEventListener("change", readTryOn);
  }
  ui.stage.addEventListener("dragover", (event) => {
    if (state.mode !== "photo") return;
    event.preventDefault();
    ui.stage.classList.add("dragging");
  });
  ui.stage.addEventListener("dragleave", () => ui.stage.classList.remove("dragging"));
  ui.stage.addEventListener("drop", (event) => {
    if (state.mode !== "photo") return;
    event.preventDefault();
    ui.stage.classList.remove("dragging");
    runPhoto(event.dataTransfer.files[0]);
  });
  window.addEventListener("error", (event) => state.errors.push(`script: ${event.message}`));
  window.addEventListener("unhandledrejection", (event) =>
    state.errors.push(`script: ${event.reason}`),
  );

  const legend = $("legend");
  for (const [key, label] of LEGEND) {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = rgb(COLORS[key]);
    item.append(swatch, label);
    legend.append(item);
  }
  readTryOn();
  const initial = new URLSearchParams(window.location.search).get("mode");
  setMode(initial === "photo" ? "photo" : "webcam");
})();
