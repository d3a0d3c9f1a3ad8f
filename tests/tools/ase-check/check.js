// Independent check of an .aseprite file: parse it with the npm package ase-parser (not our Python reader) and
// print what it found as JSON: header fields, frames with durations and cels, tags, palette, layers, slices, user
// data presence, and every frame composited to canvas-sized RGBA (base64), so the test compares pixels exactly.
'use strict';
const fs = require('fs');
const Aseprite = require('ase-parser');

const DIRECTIONS = { 'Forward': 'forward', 'Reverse': 'reverse', 'Ping-pong': 'pingpong',
  'Ping-pong Reverse': 'pingpong_reverse' };

function main(path) {
  const buffer = fs.readFileSync(path);
  const ase = new Aseprite(buffer, path);
  ase.parse();
  const palette = ase.palette ? ase.palette.colors.map((c) => [c.red, c.green, c.blue, c.alpha]) : [];
  const frames = ase.frames.map((frame) => {
    const canvas = Buffer.alloc(ase.width * ase.height * 4);
    const cels = frame.cels.map((cel) => {
      const bpp = ase.colorDepth / 8;
      for (let y = 0; y < cel.h; y++) {
        for (let x = 0; x < cel.w; x++) {
          const cx = cel.xpos + x;
          const cy = cel.ypos + y;
          if (cx < 0 || cy < 0 || cx >= ase.width || cy >= ase.height) continue;
          const at = (y * cel.w + x) * bpp;
          let rgba;
          if (ase.colorDepth === 32) rgba = [...cel.rawCelData.subarray(at, at + 4)];
          else if (ase.colorDepth === 8) {
            const index = cel.rawCelData[at];
            rgba = index === ase.paletteIndex ? [0, 0, 0, 0] : palette[index];
          } else throw new Error(`colour depth ${ase.colorDepth} not handled by the check`);
          if (rgba[3] === 0) continue;
          canvas.set(rgba, (cy * ase.width + cx) * 4);
        }
      }
      return { layer: cel.layerIndex, x: cel.xpos, y: cel.ypos, w: cel.w, h: cel.h, type: cel.celType,
        link: cel.celType === 1 ? cel.link : null };
    });
    return { duration: frame.frameDuration, bytes: frame.bytesInFrame, chunks: frame.numChunks, cels,
      rgba: canvas.toString('base64') };
  });
  const out = {
    fileSize: ase.fileSize, actualSize: buffer.length, numFrames: ase.numFrames, width: ase.width,
    height: ase.height, colorDepth: ase.colorDepth, transparentIndex: ase.paletteIndex, numColors: ase.numColors,
    pixelRatio: ase.pixelRatio, colorProfile: ase.colorProfile || null,
    layers: ase.layers.map((l) => ({ name: l.name, type: l.type, visible: l.flags.visible, opacity: l.opacity })),
    tags: ase.tags.map((t) => ({ name: t.name, from: t.from, to: t.to,
      direction: DIRECTIONS[t.animDirection] || t.animDirection, repeat: t.repeat })),
    palette,
    slices: ase.slices.map((s) => ({ name: s.name, keys: s.keys.map((k) => ({ frame: k.frameNumber,
      w: k.width, h: k.height, pivot: k.pivot ? [k.pivot.x, k.pivot.y] : null })) })),
    frames,
  };
  process.stdout.write(JSON.stringify(out) + '\n');
}

if (process.argv.length !== 3) {
  process.stderr.write('usage: node check.js FILE.aseprite\n');
  process.exit(2);
}
try {
  main(process.argv[2]);
} catch (error) {
  process.stderr.write(`ase-check: ${error.stack || error}\n`);
  process.exit(1);
}
