#!/usr/bin/env node
// End-to-end relying party for tests/test_openid_client.py.
//
// Plays two roles against a running identity provider:
//   * the relying party, through openid-client's public API (discovery,
//     PKCE, state, nonce, authorization code grant, userinfo), and
//   * a minimal browser: fetch with manual redirects, a cookie jar, and
//     regex-based HTML form handling for the sign-in and terms pages.
//
// Configuration (command-line option, else environment variable):
//   --issuer         RP_ISSUER          e.g. http://127.0.0.1:8123
//   --client-id      RP_CLIENT_ID
//   --client-secret  RP_CLIENT_SECRET
//   --redirect-uri   RP_REDIRECT_URI
//   --email          RP_EMAIL
//   --password       RP_PASSWORD
//   --scope          RP_SCOPE           default "openid profile email"
//   --language       RP_LANGUAGE        default "en" (ui_locales + Accept-Language)
//
// On success prints one JSON line on stdout:
//   {"sub", "id_token_claims", "userinfo", "scope", "has_refresh_token"}
// and exits 0. On failure prints the error to stderr and exits 1.

import { parseArgs } from 'node:util';
import * as client from 'openid-client';

const MAX_BROWSER_STEPS = 20;
const HTTP_TIMEOUT_MS = 15_000;

// ---------------------------------------------------------------- config

function readConfig() {
  const { values } = parseArgs({
    options: {
      issuer: { type: 'string' },
      'client-id': { type: 'string' },
      'client-secret': { type: 'string' },
      'redirect-uri': { type: 'string' },
      email: { type: 'string' },
      password: { type: 'string' },
      scope: { type: 'string' },
      language: { type: 'string' },
    },
    strict: true,
    allowPositionals: false,
  });
  const pick = (name, envName, fallback) => {
    const value = values[name] ?? process.env[envName] ?? fallback;
    if (value === undefined || value === '') {
      throw new Error(`missing configuration: --${name} or ${envName}`);
    }
    return value;
  };
  return {
    issuer: pick('issuer', 'RP_ISSUER'),
    clientId: pick('client-id', 'RP_CLIENT_ID'),
    clientSecret: pick('client-secret', 'RP_CLIENT_SECRET'),
    redirectUri: pick('redirect-uri', 'RP_REDIRECT_URI'),
    email: pick('email', 'RP_EMAIL'),
    password: pick('password', 'RP_PASSWORD'),
    scope: pick('scope', 'RP_SCOPE', 'openid profile email'),
    language: pick('language', 'RP_LANGUAGE', 'en'),
  };
}

// ---------------------------------------------------------------- HTML

const NAMED_ENTITIES = { amp: '&', quot: '"', apos: "'", lt: '<', gt: '>', nbsp: '\u00a0' };

function unescapeHtml(text) {
  return text.replace(/&(#[xX][0-9a-fA-F]+|#[0-9]+|[a-zA-Z]+);/g, (whole, body) => {
    if (body[0] === '#') {
      const code = body[1] === 'x' || body[1] === 'X'
        ? Number.parseInt(body.slice(2), 16)
        : Number.parseInt(body.slice(1), 10);
      return Number.isFinite(code) ? String.fromCodePoint(code) : whole;
    }
    const named = NAMED_ENTITIES[body.toLowerCase()];
    return named ?? whole;
  });
}

// Attributes of one start tag, e.g. '<input type="hidden" name=x value=\'y\' checked>'.
function parseAttributes(tag) {
  const attrs = {};
  const inner = tag.replace(/^<\s*[a-zA-Z0-9-]+/, '').replace(/\/?\s*>$/, '');
  const re = /([^\s"'=<>\/`]+)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  let m;
  while ((m = re.exec(inner)) !== null) {
    const name = m[1].toLowerCase();
    if (name in attrs) continue; // first occurrence wins, as in browsers
    const raw = m[2] ?? m[3] ?? m[4];
    attrs[name] = raw === undefined ? '' : unescapeHtml(raw);
  }
  return attrs;
}

function stripComments(html) {
  return html.replace(/<!--[\s\S]*?-->/g, '');
}

function parseForms(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form\s*>/gi;
  let m;
  while ((m = formRe.exec(stripComments(html))) !== null) {
    const startTag = m[0].match(/^<form\b[^>]*>/i)[0];
    const attrs = parseAttributes(startTag);
    const body = m[1];
    const inputs = [...body.matchAll(/<input\b[^>]*>/gi)].map((x) => parseAttributes(x[0]));
    const buttons = [...body.matchAll(/<button\b[^>]*>/gi)].map((x) => parseAttributes(x[0]));
    forms.push({
      method: (attrs.method || 'get').toLowerCase(),
      action: attrs.action,
      inputs,
      buttons,
    });
  }
  return forms;
}

// What a browser would submit before the user touches anything, minus buttons.
function defaultFields(form) {
  const fields = new URLSearchParams();
  for (const input of form.inputs) {
    const type = (input.type || 'text').toLowerCase();
    if (!input.name || 'disabled' in input) continue;
    if (['submit', 'button', 'image', 'reset', 'file'].includes(type)) continue;
    if ((type === 'checkbox' || type === 'radio') && !('checked' in input)) continue;
    const fallback = type === 'checkbox' || type === 'radio' ? 'on' : '';
    fields.append(input.name, input.value ?? fallback);
  }
  return fields;
}

function submitButtons(form) {
  const fromButtons = form.buttons.filter((b) => (b.type || 'submit').toLowerCase() === 'submit');
  const fromInputs = form.inputs.filter((i) => (i.type || '').toLowerCase() === 'submit');
  return [...fromButtons, ...fromInputs];
}

function hasInput(form, name) {
  return form.inputs.some((i) => i.name === name);
}

function textSnippet(html, max = 600) {
  const text = unescapeHtml(
    stripComments(html)
      .replace(/<(script|style)\b[\s\S]*?<\/\1\s*>/gi, ' ')
      .replace(/<[^>]+>/g, ' '),
  ).replace(/\s+/g, ' ').trim();
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

// ---------------------------------------------------------------- browser

class Browser {
  constructor(language) {
    this.language = language;
    this.cookies = new Map(); // name -> value (single host: the issuer)
    this.trace = [];
  }

  cookieHeader() {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  storeCookies(response) {
    const headers = typeof response.headers.getSetCookie === 'function'
      ? response.headers.getSetCookie()
      : (response.headers.get('set-cookie') ? [response.headers.get('set-cookie')] : []);
    for (const header of headers) {
      const [pair, ...attributeParts] = header.split(';');
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq).trim();
      const value = pair.slice(eq + 1).trim();
      let expired = false;
      for (const part of attributeParts) {
        const [rawKey, ...rest] = part.split('=');
        const key = rawKey.trim().toLowerCase();
        const attrValue = rest.join('=').trim();
        if (key === 'max-age' && Number.parseInt(attrValue, 10) <= 0) expired = true;
        if (key === 'expires') {
          const when = Date.parse(attrValue);
          if (Number.isFinite(when) && when <= Date.now()) expired = true;
        }
      }
      if (expired) this.cookies.delete(name);
      else this.cookies.set(name, value);
    }
  }

  async request(url, { method = 'GET', form, referer } = {}) {
    const headers = {
      accept: 'text/html,application/xhtml+xml;q=0.9,*/*;q=0.8',
      'accept-language': this.language,
      'user-agent': 'idp-e2e-rp (openid-client; node)',
    };
    if (this.cookies.size > 0) headers.cookie = this.cookieHeader();
    let body;
    if (form !== undefined) {
      headers['content-type'] = 'application/x-www-form-urlencoded';
      headers.origin = url.origin;
      body = form.toString();
    }
    if (referer !== undefined) headers.referer = referer.href;
    const response = await fetch(url, {
      method,
      headers,
      body,
      redirect: 'manual',
      signal: AbortSignal.timeout(HTTP_TIMEOUT_MS),
    });
    this.storeCookies(response);
    this.trace.push(`${method} ${url.pathname} -> ${response.status}`);
    return response;
  }

  // Walk from the authorization URL to the redirect back to the client.
  async signInAndConsent(authorizationUrl, { redirectUri, email, password }) {
    let url = authorizationUrl;
    let method = 'GET';
    let form;
    let referer;
    let loginSubmissions = 0;
    let termsSubmissions = 0;

    for (let step = 0; step < MAX_BROWSER_STEPS; step += 1) {
      const response = await this.request(url, { method, form, referer });
      const status = response.status;

      if (status >= 300 && status < 400) {
        const location = response.headers.get('location');
        await response.body?.cancel();
        if (!location) throw new Error(`${method} ${url.href} -> ${status} without Location`);
        const next = new URL(location, url);
        if (next.href.startsWith(redirectUri)) return next;
        referer = url;
        url = next;
        method = status === 307 || status === 308 ? method : 'GET';
        if (method === 'GET') form = undefined;
        continue;
      }

      const html = await response.text();
      if (status !== 200) {
        throw new Error(`${method} ${url.href} -> ${status}: ${textSnippet(html, 2000)}`);
      }

      const forms = parseForms(html).filter((f) => f.method === 'post');
      const loginForm = forms.find((f) => hasInput(f, 'password'));
      const termsForm = forms.find((f) => hasInput(f, 'accept_terms'));

      if (loginForm) {
        if (loginSubmissions > 0) {
          throw new Error(`sign-in form shown again after submitting it (${url.href}): ${textSnippet(html)}`);
        }
        loginSubmissions += 1;
        form = defaultFields(loginForm);
        form.set('email', email);
        form.set('password', password);
        const button = submitButtons(loginForm).find((b) => b.name);
        if (button) form.set(button.name, button.value ?? '');
      } else if (termsForm) {
        if (termsSubmissions > 0) {
          throw new Error(`terms form shown again after accepting (${url.href}): ${textSnippet(html)}`);
        }
        termsSubmissions += 1;
        form = defaultFields(termsForm);
        const checkbox = termsForm.inputs.find((i) => i.name === 'accept_terms');
        form.set('accept_terms', checkbox.value || 'yes');
        const accept = submitButtons(termsForm).find((b) => b.name === 'action' && b.value === 'accept');
        if (!accept) throw new Error(`terms form at ${url.href} has no action=accept button`);
        form.set('action', 'accept');
      } else {
        throw new Error(`unexpected page at ${url.href} (no sign-in or terms form): ${textSnippet(html)}`);
      }

      const chosen = loginForm ?? termsForm;
      referer = url;
      url = chosen.action ? new URL(chosen.action, url) : new URL(url);
      method = 'POST';
    }
    throw new Error(`no redirect to ${redirectUri} after ${MAX_BROWSER_STEPS} steps`);
  }
}

// ---------------------------------------------------------------- main

function describeError(err) {
  const lines = [err?.stack ?? String(err)];
  const extra = {};
  for (const key of ['code', 'error', 'error_description', 'status']) {
    if (err?.[key] !== undefined) extra[key] = err[key];
  }
  const cause = err?.cause;
  if (cause instanceof Error) {
    extra.cause = `${cause.name}: ${cause.message}${cause.code ? ` (${cause.code})` : ''}`;
  } else if (cause instanceof Response) {
    extra.cause = `HTTP ${cause.status} ${cause.url}`;
  } else if (cause !== undefined) {
    extra.cause = cause;
  }
  if (Object.keys(extra).length > 0) {
    try {
      lines.push(JSON.stringify(extra, null, 2));
    } catch {
      lines.push(String(extra));
    }
  }
  return lines.join('\n');
}

let browser;

function writeOut(stream, text) {
  return new Promise((resolve) => {
    stream.write(text, () => resolve());
  });
}

async function main() {
  const cfg = readConfig();
  const redirectUri = new URL(cfg.redirectUri).href;

  const config = await client.discovery(
    new URL(cfg.issuer),
    cfg.clientId,
    undefined,
    client.ClientSecretBasic(cfg.clientSecret),
    { execute: [client.allowInsecureRequests] },
  );

  const codeVerifier = client.randomPKCECodeVerifier();
  const codeChallenge = await client.calculatePKCECodeChallenge(codeVerifier);
  const state = client.randomState();
  const nonce = client.randomNonce();

  const authorizationUrl = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope: cfg.scope,
    response_type: 'code',
    code_challenge: codeChallenge,
    code_challenge_method: 'S256',
    state,
    nonce,
    ui_locales: cfg.language,
  });

  browser = new Browser(cfg.language);
  const callbackUrl = await browser.signInAndConsent(authorizationUrl, {
    redirectUri,
    email: cfg.email,
    password: cfg.password,
  });
  if (process.env.RP_TRACE) process.stderr.write(`${browser.trace.join('\n')}\n`);

  const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
    pkceCodeVerifier: codeVerifier,
    expectedState: state,
    expectedNonce: nonce,
    idTokenExpected: true,
  });

  const claims = tokens.claims();
  if (!claims) throw new Error('token response carried no ID token');

  const userinfo = await client.fetchUserInfo(config, tokens.access_token, claims.sub);

  await writeOut(process.stdout, `${JSON.stringify({
    sub: claims.sub,
    id_token_claims: claims,
    userinfo,
    scope: tokens.scope ?? null,
    has_refresh_token: typeof tokens.refresh_token === 'string' && tokens.refresh_token.length > 0,
  })}\n`);
}

main().then(
  () => process.exit(0),
  async (err) => {
    const trace = browser?.trace.length ? `\nbrowser trace:\n  ${browser.trace.join('\n  ')}` : '';
    await writeOut(process.stderr, `rp.mjs: ${describeError(err)}${trace}\n`);
    process.exit(1);
  },
);
