// The demo's puppet: a cartoon face drawn from a face's 52 blendshape scores alone (no
// landmarks), plus the strongest scores as bars. Blendshape names follow MediaPipe's
// FaceLandmarker (ARKit style): "Left" and "Right" are the person's own sides, so the puppet,
// which faces the viewer, draws the person's left eye on the right of its canvas, as an
// unmirrored camera shows it; the page mirrors both views together.
// window.FacemeshPuppet.create(canvas, barsList) returns {update(response), hide(), state};
// `state` is what automated tests read: `pose` (the parameters drawn, from the scores),
// `shapes` (where the parts were drawn, in canvas pixels) and `bars`.
"use strict";

(() => {
  const BAR_COUNT = 8;
  const COLORS = {
    background: "#1d2027",
    skin: "#f0c8a0",
    outline: "#5a3c28",
    eyeWhite: "#ffffff",
    iris: "#3a6fb0",
    brow: "#4a3020",
    mouth: "#3a0a10", // the mouth's inside
    lips: "#c0404c",
    blush: "rgba(235, 90, 100, ALPHA)",
  };

  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  // Scores (name -> 0..1) -> the puppet's parameters, each 0..1 unless said otherwise.
  function pose(s) {
    const get = (name) => (typeof s[name] === "number" ? clamp(s[name], 0, 1) : 0);
    const side = (side) => ({
      // Eye opening: 1 is at rest; a blink shuts it, a wide eye opens it past 1.
      eyeOpen: clamp(
        1 - get(`eyeBlink${side}`) + 0.4 * get(`eyeWide${side}`) - 0.15 * get(`eyeSquint${side}`),
        0,
        1.4,
      ),
      // Where the iris looks: x towards the person's left (+) or right (-), y down (+).
      gaze: [
        side === "Left"
          ? get("eyeLookOutLeft") - get("eyeLookInLeft")
          : get("eyeLookInRight") - get("eyeLookOutRight"),
        get(`eyeLookDown${side}`) - get(`eyeLookUp${side}`),
      ],
      // Brow lift at its inner and outer end, -1 (down) .. 1 (up).
      browInner: get("browInnerUp") - get(`browDown${side}`),
      browOuter: get(`browOuterUp${side}`) - get(`browDown${side}`),
      // A mouth corner's lift, -1 (frown) .. 1 (smile).
      smile: get(`mouthSmile${side}`) - get(`mouthFrown${side}`),
      cheek: Math.max(get(`cheekSquint${side}`), 0.6 * get(`mouthSmile${side}`)),
    });
    const pucker = Math.max(get("mouthPucker"), get("mouthFunnel"));
    const stretch = 0.5 * (get("mouthStretchLeft") + get("mouthStretchRight"));
    const lowerDown = 0.5 * (get("mouthLowerDownLeft") + get("mouthLowerDownRight"));
    return {
      left: side("Left"),
      right: side("Right"),
      jawOpen: get("jawOpen"),
      // The jaw's sideways shift, -1 (to the person's right) .. 1 (to their left).
      jawShift: get("jawLeft") - get("jawRight"),
      // How far the lips part: the jaw, less lips held shut, plus the lower lip pulled down.
      mouthOpen: clamp(get("jawOpen") - 0.8 * get("mouthClose") + 0.25 * lowerDown, 0, 1),
      mouthWidth: clamp(1 + 0.2 * stretch - 0.45 * pucker, 0.4, 1.5),
      cheekPuff: get("cheekPuff"),
    };
  }

  // The person's side -> the canvas's x direction: their left is the viewer's right.
  const SIDES = [
    ["left", 1],
    ["right", -1],
  ];

  function draw(ctx, p) {
    const { width, height } = ctx.canvas;
    const u = width / 300; // the drawing is laid out on a 300-unit-wide canvas
    const cx = width / 2;
    const cy = 0.43 * height;
    const shapes = { eyes: {}, brows: {} };
    ctx.save();
    ctx.fillStyle = COLORS.background;
    ctx.fillRect(0, 0, width, height);
    ctx.lineCap = "round";
    ctx.lineJoin = "round";

    // Head: the upper half an ellipse; the lower half ends at a chin the jaw moves.
    const rx = (100 + 8 * p.cheekPuff) * u;
    const ry = 118 * u;
    const chin = [cx + 14 * u * p.jawShift, cy + ry + 32 * u * p.jawOpen];
    ctx.beginPath();
    ctx.ellipse(cx, cy, rx, ry, 0, Math.PI, 2 * Math.PI);
    ctx.bezierCurveTo(cx + rx, cy + 0.75 * ry, chin[0] + 0.55 * rx, chin[1], chin[0], chin[1]);
    ctx.bezierCurveTo(chin[0] - 0.55 * rx, chin[1], cx - rx, cy + 0.75 * ry, cx - rx, cy);
    ctx.closePath();
    ctx.fillStyle = COLORS.skin;
    ctx.fill();
    ctx.strokeStyle = COLORS.outline;
    ctx.lineWidth = 3 * u;
    ctx.stroke();
    shapes.head = { x: cx, y: cy, rx, ry, chin };

    for (const [name, dir] of SIDES) {
      const s = p[name];
      // Cheek blush.
      const blush = clamp(0.55 * s.cheek, 0, 0.55);
      if (blush > 0.02) {
        ctx.beginPath();
        ctx.ellipse(cx + dir * 62 * u, cy + 38 * u, 18 * u, 11 * u, 0, 0, 2 * Math.PI);
        ctx.fillStyle = COLORS.blush.replace("ALPHA", blush.toFixed(3));
        ctx.fill();
      }
      // Eye: white, iris clipped to it, lid line; shut, only the lid line.
      const ex = cx + dir * 40 * u;
      const ey = cy - 12 * u;
      const erx = 21 * u;
      const ery = 12 * u * s.eyeOpen;
      shapes.eyes[name] = { x: ex, y: ey, rx: erx, ry: ery };
      if (ery > 1.5 * u) {
        ctx.save();
        ctx.beginPath();
        ctx.ellipse(ex, ey, erx, ery, 0, 0, 2 * Math.PI);
        ctx.fillStyle = COLORS.eyeWhite;
        ctx.fill();
        ctx.clip();
        ctx.beginPath();
        ctx.arc(ex + 10 * u * s.gaze[0], ey + 7 * u * s.gaze[1], 8 * u, 0, 2 * Math.PI);
        ctx.fillStyle = COLORS.iris;
        ctx.fill();
        ctx.restore();
        ctx.beginPath();
        ctx.ellipse(ex, ey, erx, ery, 0, 0, 2 * Math.PI);
        ctx.strokeStyle = COLORS.outline;
        ctx.lineWidth = 2 * u;
        ctx.stroke();
      } else {
        ctx.beginPath();
        ctx.moveTo(ex - erx, ey);
        ctx.quadraticCurveTo(ex, ey + 6 * u, ex + erx, ey);
        ctx.strokeStyle = COLORS.outline;
        ctx.lineWidth = 2.5 * u;
        ctx.stroke();
      }
      // Brow: inner end near the nose, outer end above the eye's outer corner.
      const inner = [cx + dir * 18 * u, cy - 40 * u - 14 * u * s.browInner];
      const outer = [cx + dir * 64 * u, cy - 38 * u - 14 * u * s.browOuter];
      shapes.brows[name] = { inner, outer };
      ctx.beginPath();
      ctx.moveTo(inner[0], inner[1]);
      const arch = Math.min(inner[1], outer[1]) - 8 * u;
      ctx.quadraticCurveTo(cx + dir * 42 * u, arch, outer[0], outer[1]);
      ctx.strokeStyle = COLORS.brow;
      ctx.lineWidth = 6 * u;
      ctx.stroke();
    }

    // Nose.
    ctx.beginPath();
    ctx.moveTo(cx, cy + 2 * u);
    ctx.quadraticCurveTo(cx - 10 * u, cy + 28 * u, cx, cy + 30 * u);
    ctx.strokeStyle = COLORS.outline;
    ctx.lineWidth = 2 * u;
    ctx.stroke();

    // Mouth: corners lifted by a smile; the lips part by the opening, more in the middle.
    const mx = cx + 8 * u * p.jawShift;
    const my = cy + 62 * u + 12 * u * p.jawOpen;
    const half = 30 * u * p.mouthWidth;
    const opening = 36 * u * p.mouthOpen;
    const corners = {
      right: [mx - half, my - 12 * u * p.right.smile],
      left: [mx + half, my - 12 * u * p.left.smile],
    };
    // Quadratic curves between the corners: the control point's offset is twice the dip.
    const level = (corners.left[1] + corners.right[1]) / 2;
    ctx.beginPath();
    ctx.moveTo(...corners.right);
    ctx.quadraticCurveTo(mx, level + 4 * u - 0.4 * opening, ...corners.left);
    ctx.quadraticCurveTo(mx, level + 4 * u + 2 * opening, ...corners.right);
    ctx.closePath();
    ctx.fillStyle = COLORS.mouth;
    ctx.fill();
    ctx.strokeStyle = COLORS.lips;
    ctx.lineWidth = 4 * u;
    ctx.stroke();
    shapes.mouth = { x: mx, y: my, width: 2 * half, opening, corners };
    ctx.restore();
    return shapes;
  }

  function create(canvas, barsList) {
    const state = {
      visible: false,
      face: null, // the index in the response's faces of the face drawn
      scores: null,
      pose: null,
      shapes: null,
      bars: [], // [name, score], strongest first
      colors: COLORS,
    };
    const panel = canvas.closest("[data-puppet]") || canvas;

    function hide() {
      state.visible = false;
      state.face = null;
      panel.hidden = true;
    }

    function showBars(scores) {
      const ranked = Object.entries(scores)
        .filter(([name, v]) => name !== "_neutral" && typeof v === "number")
        .sort((a, b) => b[1] - a[1])
        .slice(0, BAR_COUNT);
      state.bars = ranked;
      barsList.replaceChildren(
        ...ranked.map(([name, value]) => {
          const item = document.createElement("li");
          const label = document.createElement("span");
          label.className = "name";
          label.textContent = name;
          const track = document.createElement("span");
          track.className = "bar";
          const fill = document.createElement("span");
          fill.style.width = `${(100 * clamp(value, 0, 1)).toFixed(1)}%`;
          track.append(fill);
          const number = document.createElement("span");
          number.className = "value";
          number.textContent = value.toFixed(2);
          item.append(label, track, number);
          return item;
        }),
      );
    }

    // Draws the first face that has blendshapes; hides the puppet when none has.
    function update(response) {
      const faces = (response && response.faces) || [];
      const index = faces.findIndex((f) => f && f.blendshapes && typeof f.blendshapes === "object");
      if (index < 0) {
        hide();
        return;
      }
      const scores = faces[index].blendshapes;
      panel.hidden = false;
      state.visible = true;
      state.face = index;
      state.scores = scores;
      state.pose = pose(scores);
      state.shapes = draw(canvas.getContext("2d"), state.pose);
      showBars(scores);
    }

    hide();
    return { update, hide, state };
  }

  window.FacemeshPuppet = { create, pose };
})();
