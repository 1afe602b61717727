// A Clickstream collector on Node.js' own http module, the way a Node engineer would
// write it: no framework, Node's defaults (its HTTP parser answers 400 and closes the
// connection for a method it does not know, such as BREW; 431 for oversized headers;
// keep-alive for 5 s). It checks appId and the auth cookie, answers CORS for the
// allowed origin, refuses bodies past 1,048,576 bytes with 413, appends what it
// accepts to a JSON-lines file and answers 200 with an empty body.
// Usage: node collect.js PORT CONFIG.json
"use strict";
const fs = require("fs");
const http = require("http");

const LIMIT = 1048576;
const port = Number(process.argv[2]);
const config = JSON.parse(fs.readFileSync(process.argv[3], "utf8"));

function cookies(header) {
  const jar = {};
  for (const part of (header || "").split(";")) {
    const at = part.indexOf("=");
    if (at > 0) jar[part.slice(0, at).trim()] = part.slice(at + 1).trim();
  }
  return jar;
}

function corsHeaders(req) {
  const origin = req.headers.origin;
  if (!config.origins.includes(origin)) return {};
  return {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Credentials": "true", "Vary": "Origin"};
}

function refuse(res, status, text, extra = {}) {
  res.writeHead(status, {"Content-Type": "text/plain", ...extra});
  res.end(text + "\n");
}

function collect(req, res, url) {
  if (!config.app_ids.includes(url.searchParams.get("appId"))) return refuse(res, 403, "unknown appId");
  const cookie = config.cookie;
  if (cookie && cookies(req.headers.cookie)[cookie.name] !== cookie.value) {
    return refuse(res, 403, "authentication required");
  }
  if (Number(req.headers["content-length"] || 0) > LIMIT) {
    return refuse(res, 413, "body too large", {"Connection": "close"});
  }
  const chunks = [];
  req.on("data", (chunk) => chunks.push(chunk));
  req.on("end", () => {
    const record = {query: url.search.slice(1), body_base64: Buffer.concat(chunks).toString("base64")};
    fs.appendFileSync(config.store, JSON.stringify(record) + "\n");
    res.writeHead(200, corsHeaders(req));
    res.end();
  });
}

http.createServer((req, res) => {
  const url = new URL(req.url, "http://collector");
  if (req.method === "OPTIONS") {
    res.writeHead(204, {...corsHeaders(req), "Access-Control-Allow-Methods": "POST, OPTIONS",
                        "Access-Control-Allow-Headers": "Content-Type"});
    return res.end();
  }
  if (url.pathname !== "/collect") return refuse(res, 404, "not found");
  if (req.method !== "POST") return refuse(res, 405, "method not allowed", {"Allow": "POST, OPTIONS"});
  collect(req, res, url);
}).listen(port, "127.0.0.1");
