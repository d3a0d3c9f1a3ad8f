// DGX-Pixels editor extension: pixel art shown as pixel art.
//
// For every DGX-Pixels node that runs, a panel under the node shows
//   - its images at an integer zoom with `image-rendering: pixelated` (click to change the zoom),
//   - palette swatches, from `ui.dgx_palette` (["#rrggbb", ...]) or hex colours found in `ui.text`,
//   - an animated preview of a sprite sheet's tags, from `ui.dgx_sheet` (see SHEET below),
//   - a seam error line, from `ui.dgx_seam_error` (Tile Preview).
// It listens to the documented `executed` API event and adds a DOM widget: no prototype is patched.
//
// SHEET: ui.dgx_sheet = [{pages: [{filename, subfolder, type}, ...] (the atlas pages),
//                          frames: [{page, x, y, w, h, duration_ms}] (page defaults to 0),
//                          tags: [{name, from, to, direction}]}]   (Aseprite-like; direction "forward" |
//                          "reverse" | "pingpong"; without tags the whole sheet plays as one tag "all").

import { app } from "../../scripts/app.js";
import { api } from "../../scripts/api.js";

const EXTENSION = "DGXPixels.PixelPreview";
const ZOOM_SETTING = "DGXPixels.Preview.Zoom";
const ZOOMS = ["auto", "1", "2", "3", "4", "6", "8", "12", "16"];
const PANEL_WIDGET = "dgx_pixels_preview";
const NODE_PREFIX = "DGXPixels.";
const HEX = /#[0-9a-fA-F]{6}\b/g;

function viewUrl(file) {
  const params = new URLSearchParams({
    filename: file.filename,
    subfolder: file.subfolder ?? "",
    type: file.type ?? "output",
  });
  return api.apiURL(`/view?${params}`);
}

function defaultZoom() {
  return app.extensionManager?.setting?.get(ZOOM_SETTING) ?? "auto";
}

// The largest whole zoom at which `width` px fit into `room` px (never below 1).
function fitZoom(width, room) {
  return Math.max(1, Math.floor(room / Math.max(1, width)));
}

function paletteOf(output) {
  if (Array.isArray(output.dgx_palette)) {
    return output.dgx_palette.flat()
      .filter((c) => typeof c === "string" && /^#?[0-9a-fA-F]{6}$/.test(c))
      .map((c) => (c.startsWith("#") ? c : `#${c}`));
  }
  const text = Array.isArray(output.text) ? output.text.join("\n") : "";
  return [...new Set(text.match(HEX) ?? [])];
}

// The frame order of one tag, the way Aseprite plays it.
function tagFrames(tag) {
  const forward = [];
  for (let i = tag.from; i <= tag.to; i++) forward.push(i);
  if (tag.direction === "reverse") return forward.reverse();
  if (tag.direction === "pingpong" && forward.length > 2) {
    return forward.concat(forward.slice(1, -1).reverse());
  }
  return forward;
}

class PreviewPanel {
  constructor(node) {
    this.node = node;
    this.zoom = null; // null: follow the setting
    this.timer = null;
    this.root = document.createElement("div");
    this.root.className = "dgx-pixels-preview";
    Object.assign(this.root.style, {
      display: "flex", flexDirection: "column", gap: "4px", overflow: "auto", padding: "2px",
      background: "repeating-conic-gradient(#2a2a2a 0% 25%, #333 0% 50%) 0 0 / 16px 16px",
    });
    this.images = document.createElement("div");
    this.images.className = "dgx-pixels-images";
    this.images.title = "Click to change the zoom";
    this.images.addEventListener("click", () => this.nextZoom());
    this.swatches = document.createElement("div");
    this.swatches.className = "dgx-pixels-swatches";
    Object.assign(this.swatches.style, { display: "flex", flexWrap: "wrap", gap: "2px" });
    this.animation = document.createElement("div");
    this.animation.className = "dgx-pixels-animation";
    this.info = document.createElement("div");
    this.info.className = "dgx-pixels-info";
    Object.assign(this.info.style, { font: "11px monospace", color: "#ddd" });
    this.root.append(this.images, this.swatches, this.animation, this.info);
    this.widget = node.addDOMWidget(PANEL_WIDGET, "dgx-pixels-preview", this.root, {
      serialize: false,
      hideOnZoom: false,
      getMinHeight: () => Math.min(480, Math.max(40, this.root.scrollHeight)),
    });
    this.widget.serialize = false;
  }

  currentZoom(width) {
    const zoom = this.zoom ?? defaultZoom();
    if (zoom === "auto") return fitZoom(width, (this.node.size?.[0] ?? 256) - 24);
    return Math.max(1, parseInt(zoom, 10) || 1);
  }

  nextZoom() {
    const first = this.images.querySelector("img");
    const now = first ? this.currentZoom(first.naturalWidth) : 1;
    const steps = ZOOMS.slice(1).map(Number);
    this.zoom = String(steps.find((z) => z > now) ?? steps[0]);
    this.layoutImages();
  }

  layoutImages() {
    for (const img of this.images.querySelectorAll("img")) {
      if (!img.naturalWidth) continue;
      const zoom = this.currentZoom(img.naturalWidth);
      img.style.width = `${img.naturalWidth * zoom}px`;
      img.style.height = `${img.naturalHeight * zoom}px`;
      img.dataset.zoom = String(zoom);
    }
    this.resize();
  }

  resize() {
    this.node.setDirtyCanvas?.(true, true);
  }

  showImages(files) {
    this.images.replaceChildren();
    for (const file of files) {
      const img = document.createElement("img");
      img.className = "dgx-pixels-image";
      img.style.imageRendering = "pixelated";
      img.style.display = "block";
      img.alt = file.filename;
      img.addEventListener("load", () => this.layoutImages());
      img.src = viewUrl(file);
      this.images.append(img);
    }
  }

  showPalette(colours) {
    this.swatches.replaceChildren();
    for (const colour of colours) {
      const swatch = document.createElement("div");
      swatch.className = "dgx-pixels-swatch";
      swatch.title = colour;
      swatch.dataset.colour = colour.toLowerCase();
      Object.assign(swatch.style, { width: "14px", height: "14px", background: colour, outline: "1px solid #000" });
      this.swatches.append(swatch);
    }
  }

  showSheet(sheet) {
    clearTimeout(this.timer);
    this.animation.replaceChildren();
    if (!sheet?.pages?.length || !Array.isArray(sheet.frames) || sheet.frames.length === 0) return;
    const tags = sheet.tags?.length ? sheet.tags : [{ name: "all", from: 0, to: sheet.frames.length - 1 }];
    const select = document.createElement("select");
    select.className = "dgx-pixels-tag";
    for (const [i, tag] of tags.entries()) select.add(new Option(tag.name, String(i)));
    const canvas = document.createElement("canvas");
    canvas.className = "dgx-pixels-animation-canvas";
    canvas.style.imageRendering = "pixelated";
    canvas.style.display = "block";
    this.animation.append(select, canvas);
    const pageImages = sheet.pages.map(() => new Image());
    const allLoaded = () => pageImages.every((img) => img.complete && img.naturalWidth);
    let order = [];
    let step = 0;
    const play = () => {
      clearTimeout(this.timer);
      if (order.length === 0 || !allLoaded()) return;
      const frame = sheet.frames[order[step % order.length]];
      const sheetImage = pageImages[frame?.page ?? 0];
      if (!frame || !sheetImage) return;
      const zoom = this.currentZoom(frame.w);
      canvas.width = frame.w;
      canvas.height = frame.h;
      canvas.style.width = `${frame.w * zoom}px`;
      canvas.style.height = `${frame.h * zoom}px`;
      const ctx = canvas.getContext("2d");
      ctx.imageSmoothingEnabled = false;
      ctx.clearRect(0, 0, frame.w, frame.h);
      ctx.drawImage(sheetImage, frame.x, frame.y, frame.w, frame.h, 0, 0, frame.w, frame.h);
      canvas.dataset.frame = String(order[step % order.length]);
      step += 1;
      this.timer = setTimeout(play, Math.max(16, frame.duration_ms ?? frame.duration ?? 100));
    };
    const pickTag = () => {
      const tag = tags[Number(select.value)] ?? tags[0];
      order = tagFrames(tag).filter((i) => i >= 0 && i < sheet.frames.length);
      step = 0;
      play();
    };
    select.addEventListener("change", pickTag);
    for (const [i, img] of pageImages.entries()) {
      img.addEventListener("load", () => {
        if (!allLoaded()) return;
        pickTag();
        this.resize();
      });
      img.src = viewUrl(sheet.pages[i]);
    }
  }

  show(output) {
    const files = (output.images ?? []).filter((f) => f && f.filename);
    const sheets = Array.isArray(output.dgx_sheet) ? output.dgx_sheet : [];
    const sheetFiles = new Set((sheets[0]?.pages ?? []).map((f) => f?.filename));
    this.showImages(files.filter((f) => !sheetFiles.has(f.filename)));
    this.showPalette(paletteOf(output));
    this.showSheet(sheets[0]);
    const seam = output.dgx_seam_error?.[0];
    this.info.textContent = typeof seam === "number" ? `seam error ${seam.toFixed(4)}` : "";
    this.resize();
  }

  remove() {
    clearTimeout(this.timer);
  }
}

const panels = new Map();

function panelFor(node) {
  let panel = panels.get(node);
  if (!panel) {
    panel = new PreviewPanel(node);
    panels.set(node, panel);
  }
  return panel;
}

function onExecuted({ detail }) {
  if (!detail?.output || !app.graph) return;
  const id = String(detail.display_node ?? detail.node);
  const node = app.graph.getNodeById(id) ?? app.graph.getNodeById(Number(id));
  if (!node || !String(node.type ?? node.comfyClass).startsWith(NODE_PREFIX)) return;
  panelFor(node).show(detail.output);
}

app.registerExtension({
  name: EXTENSION,
  settings: [
    {
      id: ZOOM_SETTING,
      category: ["DGX-Pixels", "Preview", "Zoom"],
      name: "Default zoom of pixel-art previews (auto: the largest whole zoom that fits the node)",
      type: "combo",
      options: ZOOMS,
      defaultValue: "auto",
      onChange: () => {
        for (const panel of panels.values()) panel.layoutImages();
      },
    },
  ],
  async setup() {
    api.addEventListener("executed", onExecuted);
  },
  nodeCreated(node) {
    const removed = node.onRemoved;
    node.onRemoved = function () {
      panels.get(node)?.remove();
      panels.delete(node);
      return removed?.apply(this, arguments);
    };
  },
});

// For tests and other extensions: the parts that have no side effects.
export { fitZoom, paletteOf, tagFrames, EXTENSION, ZOOM_SETTING };
