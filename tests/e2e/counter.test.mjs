// The counter example page (examples/readcard.html) in Debian's Chromium,
// served from a HIS origin listed in [ui] allow_origins, reading cards
// through the real sscardd's /api/v1/card and /api/v1/card/events; and the
// same page from an origin that is not listed. Set up by run.py.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { chromium } from "playwright-core";
import AxeBuilder from "@axe-core/playwright";
import { rig } from "./rig.mjs";

const HIS = process.env.HIS_URL;
const OTHER = process.env.OTHER_URL;
const SSCARD = process.env.SSCARD_URL;
const ZHANG_SSN = process.env.ZHANG_SSN;
const ZHANG_CARD = process.env.ZHANG_CARD;
const ZHOU_CARD = "320102D15600000500AABBCCDD000008"; // zhouba-2.00-shortname.card, no kiosk test uses it

let browser, page;
const pageErrors = [];

async function state(want, timeout = 15000) {
  try {
    await page.waitForFunction((s) => document.body.dataset.state === s, want, { timeout });
  } catch (e) {
    const now = await page.evaluate(() => `${document.body.dataset.state}: ${document.getElementById("status").textContent}`);
    throw new Error(`waiting for "${want}"; the page shows ${now}`);
  }
}

const text = (id) => page.textContent(`#${id}`);
const code = () => page.evaluate(() => document.getElementById("status").dataset.code);

before(async () => {
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--no-sandbox"] });
  page = await (await browser.newContext({ viewport: { width: 1100, height: 800 } })).newPage();
  page.on("pageerror", (e) => pageErrors.push(String(e)));
  await rig("/central/reset");
  await rig("/remove");
});

after(async () => {
  await rig("/remove").catch(() => {});
  await browser?.close();
});

test("a HIS page in allow_origins reads the card when it is inserted, and sees it leave", async () => {
  await page.goto(`${HIS}/readcard.html?sscard=${encodeURIComponent(SSCARD)}`);
  await state("waiting");
  await rig("/insert", { profile: "zhangsan-2.00.card" });
  await state("read");
  assert.equal(await text("name"), "张三");
  assert.equal(await text("ssn"), ZHANG_SSN);
  assert.equal(await text("card_id"), ZHANG_CARD);
  assert.equal(await text("card_number"), "X00000019");
  assert.equal(await text("issue_date"), "2010-10-01");
  assert.equal(await code(), "0");
  const axe = await new AxeBuilder({ page }).analyze();
  assert.deepEqual(axe.violations.map((v) => `${v.id}: ${v.help}`), []);
  await rig("/remove");
  await state("waiting");
  assert.equal(await page.isVisible("#card"), false, "the holder's data is cleared when the card leaves");
  // the Read button without a card: the reader API's -2
  await page.click("#read");
  await state("error");
  assert.equal(await code(), "-2");
  assert.deepEqual(pageErrors, []);
});

test("a card on the loss list is refused on the HIS page (-1001), without the holder's data", async () => {
  // Zhou Ba's card reported lost at this terminal: the local list has it at once
  await rig("/block", { id: ZHOU_CARD });
  assert.equal((await rig(`/lookup?id=${ZHOU_CARD}`)).listed, true);
  await page.goto(`${HIS}/readcard.html?sscard=${encodeURIComponent(SSCARD)}`);
  await state("waiting");
  await rig("/insert", { profile: "zhouba-2.00-shortname.card" });
  await state("error");
  assert.equal(await code(), "-1001");
  assert.match(await text("status"), /挂失/);
  assert.equal(await page.isVisible("#card"), false);
  assert.equal(await text("name"), "");
  await rig("/remove");
  await state("waiting");
});

test("the same page from an origin not in allow_origins is refused", async () => {
  await rig("/insert", { profile: "zhangsan-2.00.card" });
  await page.goto(`${OTHER}/readcard.html?sscard=${encodeURIComponent(SSCARD)}`);
  await state("error"); // the event stream is refused
  await page.click("#read");
  await page.waitForFunction(() => document.getElementById("status").dataset.code === "-1004", null, { timeout: 10000 });
  assert.match(await text("status"), /allow_origins/);
  assert.equal(await text("name"), "");
  await rig("/remove");
});
