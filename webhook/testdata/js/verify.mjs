// Verifies one request with the Standard Webhooks project's own library.
// Usage: node verify.mjs SECRET ID TIMESTAMP SIGNATURE < BODY
// Exit 0 when it verifies, 1 when the library refuses it (its message on stderr).
import { readFileSync } from "node:fs";
import { Webhook } from "standardwebhooks";

const [secret, id, timestamp, signature] = process.argv.slice(2);
const body = readFileSync(0);
try {
  new Webhook(secret).verify(body, {
    "webhook-id": id,
    "webhook-timestamp": timestamp,
    "webhook-signature": signature,
  });
} catch (e) {
  console.error(`standardwebhooks: ${e.message}`);
  process.exit(1);
}
