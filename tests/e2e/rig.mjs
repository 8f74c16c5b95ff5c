// The test rig's control API (run.py): GET for what it reads, POST for
// what it does (insert/remove cards, the central, a local block).
const RIG = process.env.RIG_URL;

export async function rig(path, body) {
  const get = /^\/(otp|ecode\?|card\?|requests|outbox|log|printed|lookup|idcard\/reads)/.test(path);
  const r = await fetch(RIG + path, get ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
  });
  const j = await r.json();
  if (j.error) throw new Error(`rig ${path}: ${j.error}`);
  return j;
}

// What a failed assert.ok says: the sentence and what the test got. For a
// text that must not contain something, got(text, needles) shows where it
// is, not the whole text.
export function got(what, value, needles) {
  let v = typeof value === "string" ? value : JSON.stringify(value);
  if (needles && typeof value === "string") {
    const at = needles.map((n) => value.indexOf(n)).filter((i) => i >= 0);
    v = at.length ? at.map((i) => "…" + value.slice(Math.max(0, i - 60), i + 60) + "…").join(" | ") : "(not found)";
  }
  if (v !== undefined && v.length > 600) v = v.slice(0, 600) + `…(${v.length} chars)`;
  return `${what}; got: ${v}`;
}
