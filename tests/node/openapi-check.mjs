#!/usr/bin/env node
// openapi-check.mjs — holds api/openapi.json to the truth, both ways:
//   1. the document itself is validated with @apidevtools/swagger-parser
//      (the OpenAPI 3.1 meta-schema plus its semantic checks: unique
//      operation ids, path parameters declared, $refs that resolve …);
//   2. every recorded response (one JSON line per response, written by the
//      API tests' client when PSW_API_RECORD is set:
//      {"method","path","status","content_type","body"}) must belong to an
//      operation of the document — path template, method and status — and
//      its body must validate (ajv, JSON Schema 2020-12 as OpenAPI 3.1 uses)
//      against that response's schema for its content type.
// An unknown path, method or status is a failure, as is a record file with
// no records (a check that saw nothing must not pass).
//
// usage: node openapi-check.mjs [--coverage] DOC [RECORDFILE...]
//   --coverage  also fail when an operation of DOC got no recorded response
// Exit status: 0 all good, 1 something does not match (each failure is
// printed on stderr), 2 usage or unreadable input.
import { readFileSync } from "node:fs";
import SwaggerParser from "@apidevtools/swagger-parser";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];
const MAX_SHOWN = 50;

function usage(msg) {
  if (msg) console.error(`openapi-check: ${msg}`);
  console.error("usage: node openapi-check.mjs [--coverage] DOC [RECORDFILE...]");
  process.exit(2);
}

const args = process.argv.slice(2);
let coverage = false;
while (args.length && args[0].startsWith("--")) {
  const a = args.shift();
  if (a === "--coverage") coverage = true;
  else usage(`unknown option ${a}`);
}
if (args.length < 1) usage();
const [docPath, ...recordFiles] = args;

let docText;
try {
  docText = readFileSync(docPath, "utf8");
} catch (e) {
  usage(`cannot read ${docPath}: ${e.message}`);
}
let doc;
try {
  doc = JSON.parse(docText);
} catch (e) {
  console.error(`openapi-check: ${docPath} is not JSON: ${e.message}`);
  process.exit(1);
}

// 1. The document. validate() and dereference() change what they are
// given, so each gets its own copy.
try {
  await SwaggerParser.validate(structuredClone(doc));
} catch (e) {
  console.error(`openapi-check: ${docPath} is not a valid OpenAPI document:\n  ${e.message}`);
  process.exit(1);
}
if (!String(doc.openapi).startsWith("3.1")) {
  console.error(`openapi-check: ${docPath} says openapi "${doc.openapi}", expected 3.1.x`);
  process.exit(1);
}
const api = await SwaggerParser.dereference(structuredClone(doc));

// What swagger-parser checks only for Swagger 2.0: every template parameter
// is declared as a required path parameter, nothing else is declared "in:
// path", operation ids are unique.
{
  const problems = [];
  const ids = new Map();
  for (const [t, item] of Object.entries(api.paths)) {
    const names = (t.match(/\{[^}]+\}/g) || []).map((s) => s.slice(1, -1));
    for (const m of METHODS) {
      const op = item[m];
      if (!op) continue;
      const where = `${m.toUpperCase()} ${t}`;
      const declared = [...(item.parameters || []), ...(op.parameters || [])].filter((p) => p.in === "path");
      for (const n of names) {
        const p = declared.find((d) => d.name === n);
        if (!p) problems.push(`${where}: path parameter {${n}} is not declared`);
        else if (p.required !== true) problems.push(`${where}: path parameter {${n}} is not required: true`);
      }
      for (const p of declared)
        if (!names.includes(p.name)) problems.push(`${where}: parameter "${p.name}" is "in: path" but not in the path`);
      if (!op.operationId) problems.push(`${where}: no operationId`);
      else if (ids.has(op.operationId)) problems.push(`${where}: operationId ${op.operationId} is also used by ${ids.get(op.operationId)}`);
      else ids.set(op.operationId, where);
    }
  }
  if (problems.length) {
    console.error(`openapi-check: ${docPath} is not a valid OpenAPI document:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
}

// Path templates, literal ones before templated ones, fewer parameters first,
// so /v1/session never matches as some /v1/{x}.
const templates = Object.keys(api.paths).map((t) => {
  const params = (t.match(/\{[^}]+\}/g) || []).length;
  const re = new RegExp("^" + t.split(/\{[^}]+\}/).map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("[^/]+") + "$");
  return { template: t, re, params };
}).sort((a, b) => a.params - b.params);

const operations = [];
for (const { template } of templates)
  for (const m of METHODS)
    if (api.paths[template][m]) operations.push(`${m.toUpperCase()} ${template}`);

const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
const compiled = new Map(); // schema object -> validate function

function validator(schema) {
  let v = compiled.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    compiled.set(schema, v);
  }
  return v;
}

function findTemplate(path) {
  for (const t of templates) if (t.re.test(path)) return t.template;
  return null;
}

// "application/problem+json; charset=utf-8" -> "application/problem+json"
function bareType(ct) {
  return String(ct || "").split(";")[0].trim().toLowerCase();
}

function mediaFor(content, ct) {
  if (content[ct]) return ct;
  const [type] = ct.split("/");
  if (content[`${type}/*`]) return `${type}/*`;
  if (content["*/*"]) return "*/*";
  return null;
}

function isJsonType(ct) {
  return ct === "application/json" || ct.endsWith("+json");
}

const failures = [];
const used = new Set();
let checked = 0;

function fail(where, msg) {
  failures.push(`${where}: ${msg}`);
}

// A 404/405 for a route the document does not list: must be a Problem.
function routeProblem(where, what, r) {
  if (bareType(r.content_type) !== "application/problem+json") return false;
  const v = validator(api.components.schemas.Problem);
  if (!v(r.body)) {
    fail(where, `${what}: not a problem+json body: ${v.errors.map((e) => `${e.instancePath || "(body)"} ${e.message}`).join("; ")}`);
  }
  checked404405++;
  return true;
}

let checked404405 = 0;

function checkRecord(where, r) {
  for (const k of ["method", "path", "status"])
    if (r[k] === undefined || r[k] === null) return fail(where, `the record has no "${k}"`);
  const method = String(r.method).toLowerCase();
  const path = String(r.path).split("?")[0];
  const status = String(r.status);
  const what = `${String(r.method).toUpperCase()} ${r.path} -> ${status}`;
  const template = findTemplate(path);
  // The document (info.description) says what an unlisted route answers:
  // 404, or 405 for a listed path, as problem details. Anything else there
  // is an undocumented route.
  if (!template) {
    if (status === "404" && routeProblem(where, what, r)) return;
    return fail(where, `${what}: no path of the document matches ${path}`);
  }
  const op = api.paths[template][method];
  if (!op) {
    if (status === "405" && routeProblem(where, what, r)) return;
    return fail(where, `${what}: ${template} has no ${method.toUpperCase()} operation`);
  }
  used.add(`${method.toUpperCase()} ${template}`);
  const responses = op.responses || {};
  const resp = responses[status] || responses[`${status[0]}XX`] || responses.default;
  if (!resp) {
    return fail(where, `${what}: status ${status} is not documented for ${method.toUpperCase()} ${template} ` +
                       `(documented: ${Object.keys(responses).join(", ")})`);
  }
  const content = resp.content || {};
  const ct = bareType(r.content_type);
  if (Object.keys(content).length === 0) {
    if (r.body !== null && r.body !== undefined)
      fail(where, `${what}: the document says no body, the response has one (${ct || "no content type"})`);
    return;
  }
  const media = mediaFor(content, ct);
  if (!media) {
    return fail(where, `${what}: content type "${r.content_type}" is not documented ` +
                       `(documented: ${Object.keys(content).join(", ")})`);
  }
  if (!isJsonType(ct)) return; // text (metrics, dashboard assets): the type is all there is to check
  if (r.body === null || r.body === undefined)
    return fail(where, `${what}: a ${ct} response whose body is not JSON`);
  const schema = content[media].schema;
  if (!schema) return;
  const v = validator(schema);
  if (!v(r.body)) {
    const errs = v.errors.slice(0, 16).map((e) =>
      `${e.instancePath || "(body)"} ${e.message}${e.params && e.params.additionalProperty ? ` (${e.params.additionalProperty})` : ""}`);
    fail(where, `${what}: the body does not match ${method.toUpperCase()} ${template} ${status}:\n    ` +
                `${errs.join("\n    ")}\n    body: ${JSON.stringify(r.body).slice(0, 400)}`);
  }
}

for (const file of recordFiles) {
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    usage(`cannot read ${file}: ${e.message}`);
  }
  let n = 0;
  text.split("\n").forEach((line, i) => {
    if (!line.trim()) return;
    const where = `${file}:${i + 1}`;
    let r;
    try {
      r = JSON.parse(line);
    } catch (e) {
      return fail(where, `not a JSON line: ${e.message}`);
    }
    n++;
    checked++;
    checkRecord(where, r);
  });
  if (n === 0) fail(file, "no responses recorded");
}

if (coverage) {
  const missing = operations.filter((o) => !used.has(o));
  if (missing.length) fail(docPath, `operations no recorded response exercised:\n    ${missing.join("\n    ")}`);
}

for (const f of failures.slice(0, MAX_SHOWN)) console.error(`openapi-check: ${f}`);
if (failures.length > MAX_SHOWN) console.error(`openapi-check: … and ${failures.length - MAX_SHOWN} more`);
console.log(`openapi-check: ${docPath} is a valid OpenAPI ${doc.openapi} document (${operations.length} operations); ` +
            `${checked} responses checked against ${used.size} operations` +
            (checked404405 ? ` (${checked404405} of them answers to unlisted routes)` : ""));
if (failures.length) {
  console.error(`openapi-check: ${failures.length} failure${failures.length === 1 ? "" : "s"}`);
  process.exit(1);
}
