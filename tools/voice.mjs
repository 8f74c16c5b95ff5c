#!/usr/bin/env node
// voice.mjs UI_DIR OUT_DIR — the kiosk's spoken prompts, made at build
// time from the page's own texts (ui/i18n.js: window.VOICE names the keys
// each screen says) with espeak-ng (Mandarin voice cmn for zh, en for en),
// compressed to Ogg Vorbis by sox. A clip's file name carries a hash of its
// voice and text, so a changed text makes a new clip; clips no text wants
// any more are removed. Writes OUT_DIR/clips.json: {lang: {screen: file}}.
// Nothing is synthesised on the kiosk at run time.
import { createHash } from "node:crypto";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import vm from "node:vm";

const [uiDir, outDir] = process.argv.slice(2);
if (!uiDir || !outDir) {
  console.error("usage: voice.mjs UI_DIR OUT_DIR");
  process.exit(2);
}
const ctx = { window: {} };
vm.runInNewContext(fs.readFileSync(path.join(uiDir, "i18n.js"), "utf8"), ctx);
const { I18N, VOICE } = ctx.window;
if (!I18N || !VOICE) throw new Error("i18n.js defines no window.I18N / window.VOICE");

const VOICES = { zh: ["cmn", "。"], en: ["en", ". "] };
const SPEED = "140"; // words a minute: slower than espeak-ng's 175, for older ears
fs.mkdirSync(outDir, { recursive: true });
const manifest = {};
const wanted = new Set(["clips.json"]);
let made = 0;
for (const [lang, [voice, stop]] of Object.entries(VOICES)) {
  const T = I18N[lang];
  const said = {};
  for (const [screen, keys] of Object.entries(VOICE)) {
    said[screen] = keys.map((k) => {
      const v = T[k];
      if (typeof v !== "string") throw new Error(`${lang}: VOICE.${screen} names ${k}, which is not a plain text`);
      return v;
    });
  }
  for (const [code, text] of Object.entries(T.err)) said["err_" + code] = [text];
  manifest[lang] = {};
  for (const [screen, parts] of Object.entries(said)) {
    const text = parts.map((p) => p.replace(/[。.！!？?：:]+\s*$/u, "")).join(stop) + stop.trim();
    const hash = createHash("sha256").update([voice, SPEED, text].join("\n")).digest("hex").slice(0, 12);
    const file = `${lang}-${screen}-${hash}.ogg`;
    manifest[lang][screen] = file;
    wanted.add(file);
    const dest = path.join(outDir, file);
    if (fs.existsSync(dest)) continue;
    const wav = dest + ".wav";
    execFileSync("espeak-ng", ["-v", voice, "-s", SPEED, "-w", wav, text]);
    execFileSync("sox", [wav, "-r", "16000", "-C", "0", dest]); // 16 kHz speech, Vorbis q0
    fs.unlinkSync(wav);
    made++;
  }
}
for (const f of fs.readdirSync(outDir)) if (!wanted.has(f)) fs.unlinkSync(path.join(outDir, f));
fs.writeFileSync(path.join(outDir, "clips.json"), JSON.stringify(manifest, null, 1) + "\n");
console.log(`voice: ${wanted.size - 1} clips in ${outDir} (${made} made now)`);
