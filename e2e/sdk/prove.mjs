#!/usr/bin/env node
// Drives each provider's own npm library to sign or verify a webhook delivery, for the end-to-end
// test e2e/tests/e2e/sdk.rs (docs/providers-proof.md). Providers are the catalogue's slugs.
//
//   node prove.mjs --list           {"<slug>": {"package": "<npm package>", "kind": "signs"|"verifies"}}
//   node prove.mjs < cases.json     one case object, or an array of them (one process for a batch)
//
// A case: {"mode": "sign"|"verify", "provider": "<slug>", "secret", "body", "timestamp" (unix s),
//          "url", "id", "headers" (verify: the delivery's headers), "now" (verify: unix s, the
//          library's clock is frozen there)}
// Or {"mode": "verify-forwarded", "secret", "body", "headers", "now"}: a forwarded request checked
// with standardwebhooks as a destination would (not a provider).
// Answers, in the same order: sign -> {"package", "headers", "body"} (the body may be re-serialized:
// WorkOS signs JSON.stringify of the parsed body); verify -> {"package", "valid", "error"?};
// a harness failure -> {"error"}. Library console output goes to stderr; stdout is JSON only.

import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
for (const k of ['log', 'info', 'debug', 'warn', 'trace']) {
  console[k] = (...a) => process.stderr.write(a.map(String).join(' ') + '\n');
}

const RealDate = Date;
async function withClock(nowSec, fn) {
  if (nowSec === undefined || nowSec === null) return fn();
  const nowMs = Math.round(Number(nowSec) * 1000);
  class FrozenDate extends RealDate {
    constructor(...a) { if (a.length === 0) super(nowMs); else super(...a); }
    static now() { return nowMs; }
  }
  globalThis.Date = FrozenDate;
  try { return await fn(); } finally { globalThis.Date = RealDate; }
}
const lower = (h) => Object.fromEntries(Object.entries(h || {}).map(([k, v]) => [k.toLowerCase(), v]));
const must = (v, name) => { if (v === undefined || v === null || v === '') throw new Error(`missing ${name}`); return v; };
const formParams = (body) => {
  const o = {};
  for (const [k, v] of new URLSearchParams(body)) o[k] = k in o ? [].concat(o[k], v) : v;
  return o;
};
// A library that answers false or throws says "invalid".
const verdict = async (fn) => {
  try { return { valid: (await fn()) !== false }; } catch (e) { return { valid: false, error: String(e?.message || e) }; }
};

// Each provider: the package, and sign (the library signs) or verify (the library only verifies).
// The comment names the function and its file under node_modules/.
const PROVIDERS = {
  // standardwebhooks/dist/index.js: Webhook#sign(id, date, body)
  standard: {
    package: 'standardwebhooks',
    async sign(c) {
      const { Webhook } = require('standardwebhooks');
      const sig = new Webhook(c.secret).sign(must(c.id, 'id'), new Date(c.timestamp * 1000), c.body);
      return { 'webhook-id': c.id, 'webhook-timestamp': String(c.timestamp), 'webhook-signature': sig };
    },
  },
  // svix/dist/webhook.js: Webhook#sign(id, date, body)
  svix: {
    package: 'svix',
    async sign(c) {
      const { Webhook } = require('svix');
      const sig = new Webhook(c.secret).sign(must(c.id, 'id'), new Date(c.timestamp * 1000), c.body);
      return { 'svix-id': c.id, 'svix-timestamp': String(c.timestamp), 'svix-signature': sig };
    },
  },
  // stripe/cjs/Webhooks.js: webhooks.generateTestHeaderString({payload, secret, timestamp})
  stripe: {
    package: 'stripe',
    async sign(c) {
      const Stripe = require('stripe');
      return { 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload: c.body, secret: c.secret, timestamp: c.timestamp }) };
    },
  },
  // @octokit/webhooks-methods/dist-src/node/sign.js: sign(secret, body)
  github: {
    package: '@octokit/webhooks-methods',
    async sign(c) {
      const { sign } = await import('@octokit/webhooks-methods');
      return { 'x-hub-signature-256': await sign(c.secret, c.body) };
    },
  },
  // twilio/lib/webhooks/webhooks.js: getExpectedTwilioSignature(authToken, url, params), for a form post.
  twilio: {
    package: 'twilio',
    async sign(c) {
      const { getExpectedTwilioSignature } = require('twilio/lib/webhooks/webhooks.js');
      return { 'x-twilio-signature': getExpectedTwilioSignature(c.secret, must(c.url, 'url'), formParams(c.body)) };
    },
  },
  // @hubspot/api-client/lib/src/utils/signature.js: Signature.getSignature('POST', 'v3', {...}), timestamp in ms.
  hubspot: {
    package: '@hubspot/api-client',
    async sign(c) {
      const { Signature } = require('@hubspot/api-client/lib/src/utils/signature.js');
      const ms = c.timestamp * 1000;
      const sig = Signature.getSignature('POST', 'v3', { clientSecret: c.secret, requestBody: c.body, url: must(c.url, 'url'), timestamp: ms });
      return { 'x-hubspot-signature-v3': sig, 'x-hubspot-request-timestamp': String(ms) };
    },
  },
  // @mux/mux-node/resources/webhooks/webhooks.js: webhooks.computeSignature(`${t}.${body}`, secret),
  // the HMAC that verifySignature checks; the header around it is `t=…,v1=…` as that function parses.
  mux: {
    package: '@mux/mux-node',
    async sign(c) {
      const M = require('@mux/mux-node');
      const mux = new (M.default || M.Mux || M)({ tokenId: 'x', tokenSecret: 'x' });
      return { 'mux-signature': `t=${c.timestamp},v1=${await mux.webhooks.computeSignature(`${c.timestamp}.${c.body}`, c.secret)}` };
    },
  },
  // @sanity/webhook/dist/index.js: encodeSignatureHeader(body, timestamp ms, secret)
  sanity: {
    package: '@sanity/webhook',
    async sign(c) {
      const { encodeSignatureHeader } = require('@sanity/webhook');
      return { 'sanity-webhook-signature': await encodeSignatureHeader(c.body, c.timestamp * 1000, c.secret) };
    },
  },
  // @workos-inc/node (SignatureProvider): webhooks.computeSignature(timestamp ms, payload object, secret);
  // 8.x signs JSON.stringify(payload), so the body sent is that.
  workos: {
    package: '@workos-inc/node',
    async sign(c) {
      const { WorkOS } = require('@workos-inc/node');
      const ms = c.timestamp * 1000;
      const payload = JSON.parse(c.body);
      const sig = await new WorkOS('sk_test_prove').webhooks.computeSignature(ms, payload, c.secret);
      return { headers: { 'workos-signature': `t=${ms}, v1=${sig}` }, body: JSON.stringify(payload) };
    },
  },
  // coinbase-commerce-node/lib/Webhook.js: Webhook.computeSignature(body, secret)
  coinbase: {
    package: 'coinbase-commerce-node',
    async sign(c) {
      const { Webhook } = require('coinbase-commerce-node');
      return { 'x-cc-webhook-signature': Webhook.computeSignature(c.body, c.secret) };
    },
  },

  // ---------------------------------------------------------------- verify-only libraries
  // box-node-sdk/lib/managers/webhooks.js: BoxSDK.validateWebhookMessage(body, headers, primaryKey)
  // (validateMessage); it needs box-signature-version 1 and box-signature-algorithm HmacSHA256.
  box: {
    package: 'box-node-sdk',
    async verify(c) {
      const BoxSDK = require('box-node-sdk');
      return verdict(() => BoxSDK.validateWebhookMessage(c.body, lower(c.headers), c.secret));
    },
  },
  // @line/bot-sdk/dist/cjs/validate-signature.js: validateSignature(body, channelSecret, signature)
  line: {
    package: '@line/bot-sdk',
    async verify(c) {
      const { validateSignature } = require('@line/bot-sdk');
      return verdict(() => validateSignature(c.body, c.secret, lower(c.headers)['x-line-signature'] || ''));
    },
  },
  // square/dist/cjs/utilities/webhooksHelper.js: WebhooksHelper.isValidWebhookEventSignature(body, signature, key, url)
  square: {
    package: 'square',
    async verify(c) {
      const { WebhooksHelper } = require('square');
      return verdict(() => WebhooksHelper.isValidWebhookEventSignature(c.body, lower(c.headers)['x-square-hmacsha256-signature'] || '', c.secret, must(c.url, 'url')));
    },
  },
  // @paddle/paddle-node-sdk (notifications/helpers/webhooks-validator.js): webhooks.isSignatureValid(body, secret, header)
  paddle: {
    package: '@paddle/paddle-node-sdk',
    async verify(c) {
      const { Paddle } = require('@paddle/paddle-node-sdk');
      return verdict(() => new Paddle('pdl_sdbx_apikey_prove').webhooks.isSignatureValid(c.body, c.secret, lower(c.headers)['paddle-signature'] || ''));
    },
  },
  // @shopify/shopify-api (lib/webhooks/validate.js): shopify.webhooks.validate({rawBody, rawRequest, rawResponse});
  // valid also requires the topic, shop domain, API version and webhook id headers.
  shopify: {
    package: '@shopify/shopify-api',
    async verify(c) {
      await import('@shopify/shopify-api/adapters/node');
      const { shopifyApi, ApiVersion } = await import('@shopify/shopify-api');
      const shopify = shopifyApi({ apiKey: 'prove', apiSecretKey: c.secret, scopes: [], hostName: 'localhost', apiVersion: Object.values(ApiVersion).pop(), isEmbeddedApp: false, logger: { level: 0, log: () => {} } });
      const r = await shopify.webhooks.validate({ rawBody: c.body, rawRequest: { headers: c.headers || {}, method: 'POST', url: '/' }, rawResponse: {} });
      return r.valid ? { valid: true } : { valid: false, error: r.reason + (r.missingHeaders ? ': ' + r.missingHeaders.join(',') : '') };
    },
  },
  // @slack/bolt/dist/receivers/verify-request.js: isValidSlackRequest({signingSecret, body, headers})
  slack: {
    package: '@slack/bolt',
    async verify(c) {
      const { isValidSlackRequest } = require('@slack/bolt/dist/receivers/verify-request.js');
      const h = lower(c.headers);
      return { valid: isValidSlackRequest({ signingSecret: c.secret, body: c.body, headers: { 'x-slack-signature': h['x-slack-signature'] || '', 'x-slack-request-timestamp': Number(h['x-slack-request-timestamp']) } }) };
    },
  },
  // razorpay/dist/utils/razorpay-utils.js: Razorpay.validateWebhookSignature(body, signature, secret)
  razorpay: {
    package: 'razorpay',
    async verify(c) {
      const Razorpay = require('razorpay');
      return verdict(() => Razorpay.validateWebhookSignature(c.body, lower(c.headers)['x-razorpay-signature'] || '', c.secret));
    },
  },
  // gocardless-nodejs/cjs/webhooks.js: verifySignature(body, secret, header) (throws when invalid)
  gocardless: {
    package: 'gocardless-nodejs',
    async verify(c) {
      const { verifySignature } = require('gocardless-nodejs/webhooks');
      return verdict(() => { verifySignature(c.body, c.secret, lower(c.headers)['webhook-signature'] || ''); });
    },
  },
  // @linear/sdk (dist/webhooks-*.mjs): new LinearWebhookClient(secret).verify(body, signature);
  // freshness from the body's webhookTimestamp (ms), ±60 s.
  linear: {
    package: '@linear/sdk',
    async verify(c) {
      const { LinearWebhookClient } = await import('@linear/sdk/webhooks');
      return verdict(() => new LinearWebhookClient(c.secret).verify(Buffer.from(c.body), lower(c.headers)['linear-signature'] || ''));
    },
  },
  // @zoom/rivet/users/users.cjs: AwsLambdaReceiver's handler answers 200 to a verified event
  // (it signs JSON.stringify(JSON.parse(body)): compact JSON is the same bytes).
  zoom: {
    package: '@zoom/rivet',
    async verify(c) {
      const { AwsLambdaReceiver } = require('@zoom/rivet/users');
      const r = await new AwsLambdaReceiver({ webhooksSecretToken: c.secret }).start()({ body: c.body, headers: c.headers || {}, isBase64Encoded: false }, {});
      return r.statusCode === 200 ? { valid: true } : { valid: false, error: String(r.body) };
    },
  },
  // replicate/lib/util.js: validateWebhook({id, timestamp, body, secret, signature})
  replicate: {
    package: 'replicate',
    async verify(c) {
      const { validateWebhook } = require('replicate');
      const h = lower(c.headers);
      return verdict(() => validateWebhook({ id: h['webhook-id'], timestamp: h['webhook-timestamp'], signature: h['webhook-signature'], body: c.body, secret: c.secret }));
    },
  },
  // resend/dist/index.cjs: resend.webhooks.verify({payload, headers: {id, timestamp, signature}, webhookSecret})
  resend: {
    package: 'resend',
    async verify(c) {
      const { Resend } = require('resend');
      const h = lower(c.headers);
      return verdict(() => { new Resend('re_prove').webhooks.verify({ payload: c.body, headers: { id: h['svix-id'], timestamp: h['svix-timestamp'], signature: h['svix-signature'] }, webhookSecret: c.secret }); });
    },
  },
  // @clerk/backend/dist/webhooks.js: verifyWebhook(request, {signingSecret})
  clerk: {
    package: '@clerk/backend',
    async verify(c) {
      const { verifyWebhook } = require('@clerk/backend/webhooks');
      const request = new Request(must(c.url, 'url'), { method: 'POST', headers: c.headers || {}, body: c.body });
      return verdict(() => verifyWebhook(request, { signingSecret: c.secret }));
    },
  },
  // @polar-sh/sdk/dist/commonjs/webhooks.js: validateEvent(body, headers, secret); it keys the
  // HMAC with the secret's UTF-8 bytes. After the signature it parses the event: an error other
  // than WebhookVerificationError means the signature passed.
  polar: {
    package: '@polar-sh/sdk',
    async verify(c) {
      const { validateEvent, WebhookVerificationError } = require('@polar-sh/sdk/webhooks.js');
      try { validateEvent(c.body, c.headers || {}, c.secret); return { valid: true }; } catch (e) {
        if (e instanceof WebhookVerificationError) return { valid: false, error: String(e.message) };
        return { valid: true, note: 'signature verified; the event did not parse: ' + String(e.message).slice(0, 200) };
      }
    },
  },
  // cloudinary/lib/utils/index.js: utils.verifyNotificationSignature(body, timestamp, signature, validFor),
  // with the API secret from config() (SHA-1 of body + timestamp + secret).
  cloudinary: {
    package: 'cloudinary',
    async verify(c) {
      const { v2 } = require('cloudinary');
      v2.config({ cloud_name: 'prove', api_key: 'prove', api_secret: c.secret });
      const h = lower(c.headers);
      return verdict(() => v2.utils.verifyNotificationSignature(c.body, Number(h['x-cld-timestamp']), h['x-cld-signature'] || '', 7200));
    },
  },
};

// Not a provider: a request the forwarder sent, verified as a destination would with
// standardwebhooks/dist/index.js: Webhook#verify(body, headers) (e2e/tests/e2e/forwarding.rs).
async function verifyForwarded(c) {
  const { Webhook } = require('standardwebhooks');
  return verdict(() => new Webhook(must(c.secret, 'secret')).verify(c.body, lower(c.headers)));
}

async function runCase(c) {
  try {
    if (c?.mode === 'verify-forwarded') {
      return { package: 'standardwebhooks', ...(await withClock(c.now, () => verifyForwarded(c))) };
    }
    const p = PROVIDERS[c?.provider];
    if (!p) throw new Error(`no library for provider ${c?.provider}; known: ${Object.keys(PROVIDERS).join(', ')}`);
    if (c.mode === 'sign') {
      if (!p.sign) throw new Error(`${p.package} only verifies`);
      must(c.timestamp, 'timestamp');
      const out = await p.sign(c);
      return out.headers ? { package: p.package, ...out } : { package: p.package, headers: out, body: c.body };
    }
    if (c.mode === 'verify') {
      if (!p.verify) throw new Error(`${p.package} signs; its deliveries are checked by the service`);
      return { package: p.package, ...(await withClock(c.now, () => p.verify(c))) };
    }
    throw new Error(`unknown mode ${c.mode}`);
  } catch (e) {
    return { error: String(e?.message || e) };
  }
}

if (process.argv.includes('--list')) {
  const list = Object.fromEntries(Object.entries(PROVIDERS).map(([slug, p]) => [slug, { package: p.package, kind: p.sign ? 'signs' : 'verifies' }]));
  process.stdout.write(JSON.stringify(list) + '\n');
} else {
  let input = '';
  for await (const chunk of process.stdin) input += chunk;
  const parsed = JSON.parse(input);
  const out = [];
  // One after another: a verify swaps the global Date.
  for (const c of [].concat(parsed)) out.push(await runCase(c));
  process.stdout.write(JSON.stringify(Array.isArray(parsed) ? out : out[0]) + '\n');
}
