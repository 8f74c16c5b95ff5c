#!/usr/bin/python3
"""fontcheck.py [--also TEXT] — every character the kiosk page can show,
covered by the fonts the sscard-kiosk package depends on.

What the page can show: every string of ui/i18n.js in every language (its
functions called with sample arguments; evaluated by node, as the page
does), and every non-ASCII character written anywhere in ui/ (the symbols
app.js puts on buttons and messages: ⚠, ✔, ●, …). --also adds a text (to
show that the check fails on a character no font has).

The fonts: the `fonts-*` packages in sscard-kiosk's Depends (debian/control),
their font files as dpkg lists them, their character maps read with
fontTools (Debian's python3-fonttools). Nothing is guessed: a package that
is not installed, or lists no font file, is an error.

Prints what is missing, with the code point and where it comes from; exit
status 1 when anything is, 2 when the check cannot run."""
import json
import os
import re
import subprocess
import sys
import unicodedata

from fontTools.ttLib import TTCollection, TTFont

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# node: every string i18n.js can give, with where it comes from
DUMP = r"""
const vm = require("vm"), fs = require("fs");
const ctx = { window: {} };
vm.runInNewContext(fs.readFileSync(process.argv[1], "utf8"), ctx);
const out = [];
const walk = (v, where) => {
  if (typeof v === "string") out.push([where, v]);
  else if (typeof v === "function") {
    for (const args of [[0], [1], [3, true], [1234], ["0123456789"], [true]]) {
      try { walk(v(...args), where + "()"); } catch (e) { /* not for these arguments */ }
    }
  } else if (Array.isArray(v)) v.forEach((x, i) => walk(x, where + "[" + i + "]"));
  else if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, where ? where + "." + k : k);
};
walk(ctx.window.I18N, "");
process.stdout.write(JSON.stringify(out));
"""


def kiosk_font_packages():
    text = open(os.path.join(ROOT, "debian", "control"), encoding="utf-8").read()
    m = re.search(r"^Package: sscard-kiosk\n(?:.+\n)*?Depends:((?:.*\n)(?:[ \t].*\n)*)", text, re.M)
    if not m:
        raise SystemExit("fontcheck: no sscard-kiosk Depends in debian/control")
    deps = [d.strip().split()[0] for d in m.group(1).replace("\n", " ").split(",") if d.strip()]
    return [d for d in deps if d.startswith("fonts-")]


def font_files(pkg):
    r = subprocess.run(["dpkg", "-L", pkg], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("fontcheck: %s is not installed (make deps): %s" % (pkg, r.stderr.strip()))
    files = [f for f in r.stdout.split() if f.lower().endswith((".ttf", ".otf", ".ttc", ".otc"))]
    if not files:
        raise SystemExit("fontcheck: %s lists no font file" % pkg)
    return files


def covered(files):
    cps = set()
    for f in files:
        fonts = TTCollection(f).fonts if f.lower().endswith((".ttc", ".otc")) else [TTFont(f, lazy=True)]
        for font in fonts:
            cmap = font.getBestCmap()
            if cmap:
                cps.update(cmap)
    return cps


def shown_texts(also):
    r = subprocess.run(["node", "-e", DUMP, os.path.join(ROOT, "ui", "i18n.js")], capture_output=True, text=True)
    if r.returncode:
        raise SystemExit("fontcheck: node could not read ui/i18n.js: " + r.stderr.strip())
    texts = [("ui/i18n.js " + w, t) for w, t in json.loads(r.stdout)]
    for dirpath, _, names in os.walk(os.path.join(ROOT, "ui")):
        for n in names:
            if n.endswith((".js", ".html", ".css")) and n != "i18n.js":
                p = os.path.join(dirpath, n)
                for i, line in enumerate(open(p, encoding="utf-8"), 1):
                    odd = "".join(c for c in line if ord(c) > 0x7E)
                    if odd:
                        texts.append(("%s:%d" % (os.path.relpath(p, ROOT), i), odd))
    if also:
        texts.append(("--also", also))
    return texts


def main():
    also = sys.argv[sys.argv.index("--also") + 1] if "--also" in sys.argv else None
    pkgs = kiosk_font_packages()
    if not pkgs:
        raise SystemExit("fontcheck: sscard-kiosk depends on no fonts-* package")
    files = [f for p in pkgs for f in font_files(p)]
    cps = covered(files)
    missing = {}
    n_chars = set()
    for where, text in shown_texts(also):
        for c in text:
            if c.isspace() or unicodedata.category(c) in ("Cc", "Cf"):
                continue  # nothing drawn (spaces, joiners, variation selectors)
            n_chars.add(c)
            if ord(c) not in cps:
                missing.setdefault(c, []).append(where)
    for c, wheres in sorted(missing.items()):
        print("missing: U+%04X %s (%s) in %s" % (ord(c), c, unicodedata.name(c, "?"),
                                                 ", ".join(sorted(set(wheres))[:4])))
    print("# fontcheck: %d distinct characters the page can show, %d font files of %s, %d missing"
          % (len(n_chars), len(files), " ".join(pkgs), len(missing)))
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
