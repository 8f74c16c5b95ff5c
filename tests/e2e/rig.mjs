// The test rig's control API (run.py): GET for what it reads, POST for
// what it does (insert/remove cards, the central, a local block).
const RIG = process.env.RIG_URL;

export async function rig(path, body) {
  const get = /^\/(otp|card\?|requests|outbox|log|printed|lookup)/.test(path);
  const r = await fetch(RIG + path, get ? {} : {
    method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body || {}),
  });
  const j = await r.json();
  if (j.error) throw new Error(`rig ${path}: ${j.error}`);
  return j;
}
