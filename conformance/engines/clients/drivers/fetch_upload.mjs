// The document's JavaScript example in Node's own global fetch (Node 20 or later):
// POST the body with the given headers, redirect "follow", and print the contract's one
// JSON result line (conformance/engines/clients/__init__.py). Trust comes from the
// environment, as Node reads it at start: NODE_EXTRA_CA_CERTS for --ca-cert, and
// NODE_TLS_REJECT_UNAUTHORIZED=0 for --insecure (the suite's fetch.py sets both).
import { readFileSync } from "node:fs";

const BODY_KEPT = 4096;

function usage(message) {
  console.error(`fetch_upload: ${message}`);
  process.exit(2);
}

function parse(argv) {
  const args = { headers: [], timeout: 10 };
  const takes = new Set(["--url", "--body-file", "--header", "--ca-cert", "--client-cert", "--client-key",
                         "--connect-timeout", "--timeout", "--mode", "--user-agent"]);
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    if (flag === "--insecure") { args.insecure = true; continue; }
    if (!takes.has(flag)) usage(`unknown argument ${flag}`);
    const value = argv[++i];
    if (value === undefined) usage(`${flag} needs a value`);
    if (flag === "--header") {
      const at = value.indexOf(":");
      if (at < 1) usage(`--header must be 'Name: value', got ${JSON.stringify(value)}`);
      args.headers.push([value.slice(0, at).trim(), value.slice(at + 1).trim()]);
    } else {
      args[flag.slice(2).replace(/-([a-z])/g, (_, c) => c.toUpperCase())] = value;
    }
  }
  if (!args.url || !args.bodyFile) usage("--url and --body-file are required");
  if (args.clientCert) usage("Node's global fetch cannot present a client certificate (mutual TLS)");
  args.timeout = Number(args.timeout);
  if (!(args.timeout > 0)) usage("--timeout must be a positive number of seconds");
  return args;
}

function describe(error) {
  // fetch says "fetch failed"; the cause holds the socket's or TLS's own words.
  const parts = [`${error.name}: ${error.message}`];
  for (let cause = error.cause; cause; cause = cause.cause) {
    parts.push([cause.code, cause.message].filter(Boolean).join(" "));
  }
  return parts.join(": ");
}

const args = parse(process.argv.slice(2));
const body = readFileSync(args.bodyFile);
const myHeaders = new Headers();
for (const [name, value] of args.headers) myHeaders.append(name, value);
const started = performance.now();
const result = { client: `node ${process.version} fetch`, status: null, protocol: "http/1.1",
                 elapsed_ms: 0, error: null, response_headers: [], response_body: "" };
let code = 0;
try {
  const response = await fetch(args.url, { method: "POST", headers: myHeaders, body, redirect: "follow",
                                           signal: AbortSignal.timeout(args.timeout * 1000) });
  const text = await response.text();
  result.status = response.status;
  result.response_headers = [...response.headers.entries()];
  result.response_body = text.slice(0, BODY_KEPT);
  console.log(`${response.status} ${response.statusText} (${text.length} characters)`);
} catch (error) {
  result.error = describe(error);
  console.error(result.error);
  code = 1;
}
// Node's fetch (undici) speaks HTTP/1.1 only unless told otherwise: no ALPN h2 offer.
result.elapsed_ms = Math.round((performance.now() - started) * 10) / 10;
console.log(JSON.stringify(result));
process.exitCode = code;
